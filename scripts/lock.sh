#!/usr/bin/env bash
# Writes every lock from its inputs, with uv at scripts/uv-version:
#   uv.lock                            the project and its extras, from pyproject.toml (`uv sync --locked`)
#   scan/requirements.lock             checkov's venv, .venv-scan, from scan/requirements.txt
#   images/platform/requirements.lock  the platform image, from images/platform/requirements.txt
#   images/notebook/requirements.lock  what the notebook image adds, from images/notebook/requirements.txt,
#                                      constrained by the platform lock: no platform pin moves
# A lock keeps the versions it has unless its input rules them out; `scripts/lock.sh --upgrade` moves
# everything to the newest versions the inputs allow (`--upgrade-package NAME` one package).
# The requirements locks pin every package with its hashes, for CPython 3.11 on Linux (the
# image's Python and CI's). setuptools stays out of the image's lock: the base image has it, and pip
# kept the base image's before the lock too.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/uv lock --quiet "$@"
compile() {
  ./scripts/uv pip compile --quiet --generate-hashes --python-version 3.11.14 --python-platform x86_64-unknown-linux-gnu \
    --custom-compile-command scripts/lock.sh "$@"
}
compile scan/requirements.txt --output-file scan/requirements.lock "$@"
compile images/platform/requirements.txt --output-file images/platform/requirements.lock --no-emit-package setuptools "$@"
# After the platform lock, so it constrains the notebook's as written (with --upgrade too).
compile images/notebook/requirements.txt --constraint images/platform/requirements.lock \
  --output-file images/notebook/requirements.lock --no-emit-package setuptools "$@"
