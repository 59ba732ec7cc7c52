#!/usr/bin/env bash
# The whole suite: lint, types, frontend unit tests, then pytest (unit, kernel, web, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
export TOPOLAB_NETNS_GUARD=1
export TOPOLAB_VAR_DIR=${TOPOLAB_VAR_DIR:-$PWD/var/test}
mkdir -p "$TOPOLAB_VAR_DIR" test-artifacts
echo "== ruff"; .venv/bin/python -m ruff check .
echo "== mypy"; .venv/bin/python -m mypy lab worker
echo "== import-linter (the rules of the rooms)"; .venv/bin/lint-imports
if [ -f frontend/package.json ] && grep -q '"test"' frontend/package.json; then
  echo "== vitest"; (cd frontend && npm test --silent)
fi
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
