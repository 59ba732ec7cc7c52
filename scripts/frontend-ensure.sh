#!/usr/bin/env bash
# Install the frontend's packages (from package-lock.json) and build it when sources changed.
# The toolchain (Vite 6, Vitest 3) runs on Node.js 18 or later, so Debian 12's own
# nodejs and npm packages build it: nothing comes from outside the registries.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
[ -f package.json ] || exit 0
if ! command -v npm >/dev/null 2>&1; then
  # A machine without Node.js: Debian's own (Node 18 on Debian 12).
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
# Fail here, naming the version, rather than deep inside Vite with a syntax error.
node_version=$(node --version)
node_major=${node_version#v}
node_major=${node_major%%.*}
if [ "$node_major" -lt 18 ]; then
  echo "frontend-ensure: Node.js $node_version is too old; the frontend needs 18 or later" >&2
  exit 1
fi
lock_sum=$(sha256sum package-lock.json 2>/dev/null | cut -c1-16 || echo none)
if [ ! -f "node_modules/.topolab-$lock_sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "node_modules/.topolab-$lock_sum"
fi
# public/ too: Vite copies it into dist/ (the favicon).
src_sum=$(find src public index.html package.json vite.config.* tsconfig*.json -type f 2>/dev/null | sort | xargs cat | sha256sum | cut -c1-16)
if [ ! -f "dist/.topolab-$src_sum" ]; then
  npm run build --silent
  touch "dist/.topolab-$src_sum"
fi
