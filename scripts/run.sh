#!/usr/bin/env bash
# Start the whole product on this box: Redis (if none answers), the database, the web,
# one lab host (Celery worker + telemetry agent, as root) and Celery beat, with a demo lab.
set -euo pipefail
cd "$(dirname "$0")/.."
export TOPOLAB_REDIS_URL=${TOPOLAB_REDIS_URL:-redis://127.0.0.1:6379/0}
PY=.venv/bin/python
scripts/redis-ensure.sh "$TOPOLAB_REDIS_URL"
$PY manage.py migrate --noinput -v 0
$PY manage.py topolab_demo_user
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap stop EXIT INT TERM
if [ -x scripts/run-services.sh ]; then
  # Lab host worker, telemetry agent and beat (orchestration).
  source scripts/run-services.sh
fi
echo "topolab: serving on http://127.0.0.1:8000 (API docs at /api/docs)"
$PY -m uvicorn lab.asgi:application --host 127.0.0.1 --port 8000 --log-level warning &
pids+=($!)
# The demo user's demo lab, deployed once this box's lab host is up (idempotent).
$PY manage.py topolab_demo_lab &
wait -n "${pids[@]}"
