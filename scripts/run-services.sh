#!/usr/bin/env bash
# Sourced by scripts/run.sh (make run): start this box's lab host (Celery worker on
# queue host.$TOPOLAB_HOST_NAME plus the telemetry agent, as root) and Celery beat,
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
  echo "topolab: starting $name: ${argv[*]}"
  "${argv[@]}" >>"$TOPOLAB_VAR_DIR/$name.log" 2>&1 &
  pids+=($!)
done < Procfile
echo "topolab: lab host '$TOPOLAB_HOST_NAME' and beat started (logs in $TOPOLAB_VAR_DIR/*.log)"
