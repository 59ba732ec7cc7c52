#!/usr/bin/env bash
# Start a Redis on the configured URL's port when none answers there (idempotent).
set -euo pipefail
url=${1:-${TOPOLAB_REDIS_URL:-redis://127.0.0.1:6379/0}}
hostport=${url#redis://}; hostport=${hostport%%/*}
host=${hostport%%:*}; port=${hostport##*:}
if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then exit 0; fi
vardir=${TOPOLAB_VAR_DIR:-$(dirname "$0")/../var}
mkdir -p "$vardir"
redis-server --bind "$host" --port "$port" --daemonize yes --save "" --appendonly no \
  --pidfile "$(realpath "$vardir")/redis-$port.pid" --logfile "$(realpath "$vardir")/redis-$port.log"
for _ in $(seq 50); do
  if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
    echo "topolab: started redis-server on $host:$port (it keeps running; pid in $(realpath "$vardir")/redis-$port.pid)"
    exit 0
  fi
  sleep 0.1
done
echo "topolab: redis-server did not answer on $host:$port" >&2
exit 1
