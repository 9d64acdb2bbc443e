#!/usr/bin/env bash
# Runs every test. Starts the real services the selected tests need (through pytest fixtures),
# and treats "no tests collected" (pytest exit code 5) as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check . || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "test: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit $rc
