#!/usr/bin/env bash
# The test command: installs what is missing, lints everything, then runs every test tier
# (unit tests, and lab tests that boot real hosts). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate

echo "== lint"
ruff check checks tests
mypy
yamllint --strict .
ansible-lint
echo "== tests"
pytest "$@"
