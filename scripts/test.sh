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

# The platform image's Python environment (images/platform), in which the integration tests run
# MLflow, Feast, Evidently and Airflow exactly as the image would. Rebuilt when its pins change.
platform_pins="$(cat images/platform/requirements.txt images/platform/constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat .venv-platform/.pins 2>/dev/null)" != "$platform_pins" ]; then
  rm -rf .venv-platform
  python3 -m venv .venv-platform
  .venv-platform/bin/python -m pip install --quiet --upgrade pip
  .venv-platform/bin/python -m pip install --quiet \
    --requirement images/platform/requirements.txt --constraint images/platform/constraints.txt
  echo "$platform_pins" > .venv-platform/.pins
fi

# checkov, for the manifest scan, in its own venv: its dependencies conflict with the project's.
scan_pins="$(cat scan/requirements.txt scan/constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat .venv-scan/.pins 2>/dev/null)" != "$scan_pins" ]; then
  rm -rf .venv-scan
  python3 -m venv .venv-scan
  .venv-scan/bin/python -m pip install --quiet --upgrade pip
  .venv-scan/bin/python -m pip install --quiet --requirement scan/requirements.txt --constraint scan/constraints.txt
  echo "$scan_pins" > .venv-scan/.pins
fi

# From npm: the Gateway API's own validators, for the rendered Gateway, GatewayClass and HTTPRoute
# objects; and Azurite, Azure Storage's emulator, for the Azure stack's post-deploy check.
if command -v npm >/dev/null; then
  npm ci --silent --no-audit --no-fund --prefix tests/render/gateway_api
  npm ci --silent --no-audit --no-fund --prefix tests/integration/azurite
else
  echo "note: install Node.js and npm to validate the rendered Gateway API objects and run Azurite" >&2
fi

exec .venv/bin/python -m pytest "$@"
