#!/usr/bin/env bash
# Installs everything from a fresh clone and runs every test: the README's test command, and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."

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

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
exec .venv/bin/python -m pytest "$@"
