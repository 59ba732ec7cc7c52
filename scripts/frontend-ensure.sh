#!/usr/bin/env bash
# Install the frontend's packages (from package-lock.json) and build it when sources changed.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
[ -f package.json ] || exit 0
if ! command -v npm >/dev/null 2>&1; then
  # A machine without Node.js: Debian's own (Node 18+ builds this frontend).
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
lock_sum=$(sha256sum package-lock.json 2>/dev/null | cut -c1-16 || echo none)
if [ ! -f "node_modules/.topolab-$lock_sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "node_modules/.topolab-$lock_sum"
fi
src_sum=$(find src index.html package.json vite.config.* tsconfig*.json -type f 2>/dev/null | sort | xargs cat | sha256sum | cut -c1-16)
if [ ! -f "dist/.topolab-$src_sum" ]; then
  npm run build --silent
  touch "dist/.topolab-$src_sum"
fi
