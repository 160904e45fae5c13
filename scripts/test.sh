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
ruff check checks tests bench playbooks
mypy
yamllint --strict .
ansible-lint

if [ $# -gt 0 ]; then
  phase "tests chosen on the command line"
  pytest "$@"
else
  # The unit tests need no lab: they run beside the lab tests, whose time is mostly spent
  # waiting on the hosts, and their report follows the lab tests'.
  phase "unit tests (in the background) and lab tests"
  unit_log=$(mktemp)
  pytest tests/unit >"$unit_log" 2>&1 &
  unit_pid=$!
  lab_status=0
  pytest tests/lab || lab_status=$?
  unit_status=0
  wait "$unit_pid" || unit_status=$?
  phase "unit test report"
  cat "$unit_log"
  rm -f "$unit_log"
  [ "$lab_status" -eq 0 ] && [ "$unit_status" -eq 0 ] || exit 1
fi

phase "molecule: converge, idempotence, check mode, verify on the lab hosts mx1 and mx2"
molecule test
phase done
