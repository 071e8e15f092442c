#!/usr/bin/env bash
# Installs everything from a fresh clone and runs every test: the README's test command, and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
# Wall time of each phase, so a slow CI run says where the time went.
phase=$(date +%s)
phase_done() { echo "phase $1: $(( $(date +%s) - phase )) s"; phase=$(date +%s); }

# Real servers for the integration tests. As root (CI) they are installed; otherwise the tests
# skip with a hint, except under CI=true, where a missing server is a failure.
if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
  else
    echo "note: install postgresql and redis-server (e.g. sudo apt-get install postgresql redis-server) to run the integration tests" >&2
  fi
fi

phase_done servers
# uv, at the version in scripts/uv-version, installs every Python environment from its lock
# (scripts/lock.sh writes the locks). On PATH for the tests too: Pulumi.yaml's toolchain is uv.
uv_bin="$(./scripts/uv --bin-dir)"
case ":$PATH:" in *":$uv_bin:"*) ;; *) export PATH="$uv_bin:$PATH" ;; esac
phase_done uv
# The project with its test extra, editable, in .venv, exactly as uv.lock has it: --locked fails when
# pyproject.toml changed and uv.lock was not written again. python3 is the interpreter, as before.
UV_PROJECT_ENVIRONMENT=.venv uv sync --quiet --locked --extra test --python python3

phase_done venv
# checkov, for the manifest scan, in its own venv: its dependencies conflict with the project's.
scan_pins="$(cat scripts/uv-version scan/requirements.lock | sha256sum | cut -c1-16)"
if [ "$(cat .venv-scan/.pins 2>/dev/null)" != "$scan_pins" ]; then
  rm -rf .venv-scan
  uv venv --quiet --python python3 .venv-scan
  uv pip sync --quiet --python .venv-scan/bin/python --require-hashes scan/requirements.lock
  echo "$scan_pins" > .venv-scan/.pins
fi

phase_done venv-scan
# From npm: the Gateway API's own validators, for the rendered Gateway, GatewayClass and HTTPRoute
# objects; and Azurite, Azure Storage's emulator, for the Azure stack's post-deploy check.
if command -v npm >/dev/null; then
  npm ci --silent --no-audit --no-fund --prefix tests/render/gateway_api
  npm ci --silent --no-audit --no-fund --prefix tests/integration/azurite
else
  echo "note: install Node.js and npm to validate the rendered Gateway API objects and run Azurite" >&2
fi

phase_done npm
# The Docker engine, for the container tests: the platform and example images are built here and
# every workload runs from them under its rendered pod spec. As root, Debian's engine is installed and
# started if none answers: no bridge, no iptables, host networking only; the daemon started here is
# stopped at the end. Its data root stays on the machine, so a later run reuses the built layers.
build_dir="${MLOPS_BUILD_DIR:-/var/lib/mlops-stack}"
started_dockerd=""
stop_dockerd() {
  if [ -n "$started_dockerd" ]; then
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
  fi
}
trap stop_dockerd EXIT
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && { ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; }; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$build_dir/docker" /run/mlops-stack
    export DOCKER_HOST=unix:///run/mlops-stack/docker.sock
    if ! docker info >/dev/null 2>&1; then
      dockerd --data-root "$build_dir/docker" --exec-root /run/mlops-stack/exec --pidfile /run/mlops-stack/docker.pid \
        --host "$DOCKER_HOST" --bridge=none --iptables=false --ip6tables=false >"$build_dir/dockerd.log" 2>&1 &
      started_dockerd=$!
      for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    fi
  fi
fi
phase_done docker-engine
if docker info >/dev/null 2>&1; then
  # Containers a killed run left behind hold their host ports.
  docker ps --all --quiet --filter label=mlops-stack.test | xargs -r docker rm --force >/dev/null
  mkdir -p "$build_dir"
  MLOPS_BUILD_DIR="$build_dir" ./scripts/images.sh
  phase_done images
else
  echo "note: no Docker engine; the container tests need one (as root this script installs and starts it)" >&2
fi

status=0
.venv/bin/python -m pytest "$@" || status=$?
phase_done tests
exit "$status"
