#!/usr/bin/env bash
# The stacks that CI previews and deploys, read from the stack files Pulumi.<stack>.yaml in the current
# directory, so a new stack file is previewed and deployed with no workflow change. Left out: the
# ephemeral staging-pr-<N> (the ephemeral-staging workflow's) and the laptop stacks, `local` or any
# file with `mlops:environment: local` (`mlops-stack up local`; the e2e-kind workflow runs it).
# A stack is production when it is named production or production-*, or its file sets
# `mlops:environment: production`: the deploy workflow deploys those from a release tag only, behind
# the `production` environment's approval.
# Writes three JSON lists, sorted, for a workflow's matrix (fromJSON), to $GITHUB_OUTPUT or stdout:
#   stacks=[...]  every such stack;  production=[...]  the production ones;  nonproduction=[...]  the others
set -euo pipefail
shopt -s nullglob
export LC_ALL=C # sorted bytewise, the same on every runner

sets() { # sets FILE VALUE: the stack file sets mlops:environment to VALUE
  grep -Eq "^[[:space:]]+[\"']?mlops:environment[\"']?:[[:space:]]*[\"']?$2[\"']?[[:space:]]*(#.*)?\$" "$1"
}
json() { # json NAME...: a JSON list of strings (stack names need no escaping: checked below)
  local out="" name
  for name in "$@"; do out+="${out:+,}\"$name\""; done
  printf '[%s]' "$out"
}

names=()
for file in Pulumi.*.yaml; do
  stack="${file#Pulumi.}"
  stack="${stack%.yaml}"
  if [[ ! "$stack" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    echo "::error file=$file::not a Pulumi stack name: $stack" >&2
    exit 1
  fi
  names+=("$stack")
done
all=() production=() nonproduction=()
while IFS= read -r stack; do
  [ -n "$stack" ] || continue
  file="Pulumi.$stack.yaml"
  [[ "$stack" =~ ^staging-pr-[1-9][0-9]*$ ]] && continue # ephemeral: ephemeral-staging.yml
  if [[ "$stack" == production || "$stack" == production-* ]] || sets "$file" production; then
    production+=("$stack")
  elif [[ "$stack" == local ]] || sets "$file" local; then
    continue # a laptop cluster: e2e-kind.yml
  else
    nonproduction+=("$stack")
  fi
  all+=("$stack")
done < <(printf '%s\n' "${names[@]}" | sort)

lists="stacks=$(json "${all[@]}")
production=$(json "${production[@]}")
nonproduction=$(json "${nonproduction[@]}")"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "$lists" >>"$GITHUB_OUTPUT"
fi
echo "$lists"
