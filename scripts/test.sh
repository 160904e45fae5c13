#!/usr/bin/env bash
# The test command: installs what is missing, lints everything, then runs every test tier:
# unit tests, lab tests that boot real hosts, and the molecule scenario (converge the roles on
# the two lab hosts, check idempotence, verify with the host suite and real clients). Run as root on
# Debian 12. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
phase() { echo "== $1 (at ${SECONDS} s)"; }
scripts/setup.sh
. .venv/bin/activate

phase lint
ruff check checks tests bench
mypy
yamllint --strict .
ansible-lint

phase "unit and lab tests"
pytest "$@"

phase "molecule: converge, idempotence, check mode, verify on the lab hosts mx1 and mx2"
molecule test
phase done
