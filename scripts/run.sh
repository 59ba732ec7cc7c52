#!/usr/bin/env bash
# Start the whole product on this box: Redis (if none answers), the database, the web,
# one lab host (Celery worker + telemetry agent, as root) and Celery beat, with a demo lab.
#
# Production settings (TOPOLAB_ENV=production) with a random secret key made once in
# var/secret_key (0600). As root, the web and the management commands run as the
# unprivileged system user $TOPOLAB_WEB_USER (topolab), made here if missing; it owns
# var/ (0700) and the SQLite file (0600). The root lab host shares the file: SQLite
# gives the journal and WAL files a root process makes the database file's owner.
set -euo pipefail
cd "$(dirname "$0")/.."
export TOPOLAB_REDIS_URL=${TOPOLAB_REDIS_URL:-redis://127.0.0.1:6379/0}
export TOPOLAB_VAR_DIR=${TOPOLAB_VAR_DIR:-$PWD/var}
export TOPOLAB_ENV=production
PY=.venv/bin/python
scripts/redis-ensure.sh "$TOPOLAB_REDIS_URL"
as_web=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=${TOPOLAB_WEB_USER:-topolab}
  scripts/web-user-ensure.sh "$owner" "$PWD" "$(realpath "$PY")" \
    "$($PY -c 'import sys; print(sys.base_prefix)')"
  as_web=(setpriv --reuid="$owner" --regid="$owner" --init-groups --no-new-privs
    env HOME="$TOPOLAB_VAR_DIR" PYTHONDONTWRITEBYTECODE=1)
fi
install -d -m 0700 -o "$owner" -g "$(id -gn "$owner")" "$TOPOLAB_VAR_DIR"
for f in "$TOPOLAB_VAR_DIR"/topolab.sqlite3{,-journal,-wal,-shm}; do
  if [ -e "$f" ]; then chown "$owner:$(id -gn "$owner")" "$f"; chmod 0600 "$f"; fi
done
key=$TOPOLAB_VAR_DIR/secret_key
if [ ! -s "$key" ]; then
  (umask 077 && $PY -c 'import secrets; print(secrets.token_urlsafe(50))' > "$key.new")
  mv "$key.new" "$key"
  echo "topolab: made a secret key in $key"
fi
chown "$owner:$(id -gn "$owner")" "$key"
chmod 0600 "$key"
export TOPOLAB_SECRET_KEY_FILE=$key
"${as_web[@]}" $PY manage.py migrate --noinput -v 0
"${as_web[@]}" $PY manage.py topolab_demo_user
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap stop EXIT INT TERM
if [ -x scripts/run-services.sh ]; then
  # Lab host worker, telemetry agent and beat (orchestration).
  source scripts/run-services.sh
fi
echo "topolab: serving on http://127.0.0.1:8000 (API docs at /api/docs) as user $owner"
"${as_web[@]}" $PY -m uvicorn lab.asgi:application --host 127.0.0.1 --port 8000 \
  --log-level warning &
pids+=($!)
# The demo user's demo lab, deployed once this box's lab host is up (idempotent).
"${as_web[@]}" $PY manage.py topolab_demo_lab &
wait -n "${pids[@]}"
