#!/usr/bin/env bash
# Create .venv and install the project with its test extras when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
[ -f "$stamp" ] && exit 0
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || { apt-get install -y -qq python3-venv && "$PYTHON" -m venv .venv; }
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[test]"
rm -f .venv/.installed-*
touch "$stamp"
