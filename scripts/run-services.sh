#!/usr/bin/env bash
# Sourced by scripts/run.sh (make run): start this box's lab host (Celery worker on
# queue host.$TOPOLAB_HOST_NAME plus the telemetry agent, as root, Redis only), the
# control-plane consumer and Celery beat (as the web's user, with the database),
# from the commands in the Procfile (docker-compose.yml runs the same ones).
# Appends their PIDs to run.sh's `pids` so its trap ends them.
export TOPOLAB_HOST_NAME=${TOPOLAB_HOST_NAME:-$(hostname -s)}
export TOPOLAB_VAR_DIR=${TOPOLAB_VAR_DIR:-$PWD/var}
mkdir -p "$TOPOLAB_VAR_DIR"
if [ "$(id -u)" != 0 ]; then
  echo "topolab: the lab host worker needs root (network namespaces); run make run as root" >&2
fi
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  name=${line%%:*}
  cmd=${line#*: }
  read -r -a argv <<< "$cmd"
  [ "${argv[0]}" = python ] && argv[0]=$PY
  case "$name" in
    # The lab host knows only Redis: no database settings reach it.
    worker) argv=(env -u DATABASE_URL -u DJANGO_SETTINGS_MODULE "${argv[@]}") ;;
    # The control plane's own processes hold the database: never root.
    *) argv=("${as_web[@]}" "${argv[@]}") ;;
  esac
  echo "topolab: starting $name: ${argv[*]}"
  "${argv[@]}" >>"$TOPOLAB_VAR_DIR/$name.log" 2>&1 &
  pids+=($!)
done < Procfile
echo "topolab: lab host '$TOPOLAB_HOST_NAME', control and beat started (logs in $TOPOLAB_VAR_DIR/*.log)"
