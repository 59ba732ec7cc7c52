#!/usr/bin/env bash
# Make the unprivileged system user the web runs as under `make run` (idempotent), and
# let it reach the paths it must read: scripts/web-user-ensure.sh USER [PATH...].
#
# The user has no home, no shell and no password. A PATH (the project, the Python
# interpreter) that USER cannot reach because a directory above it is closed to others
# (a pyenv under /root, say) gets a traverse-only ACL entry for USER on that directory:
# USER may pass through, not list it, and nobody else gains anything. Needs root.
set -euo pipefail
user=${1:?usage: web-user-ensure.sh USER [PATH...]}
shift
if [ "$(id -u)" != 0 ]; then
  echo "topolab: creating the web user '$user' needs root" >&2
  exit 1
fi
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "Topolab web (unprivileged)" "$user"
  echo "topolab: created system user '$user'"
fi
can() { setpriv --reuid="$user" --regid="$user" --init-groups test "$1" "$2"; }
for target in "$@"; do
  path=$(realpath -- "$target")
  dir=$path
  [ -d "$dir" ] || dir=$(dirname -- "$dir")
  # From / down: each directory above is already passable when this one is tested.
  prefix=""
  IFS=/ read -r -a parts <<< "${dir#/}"
  for part in "" "${parts[@]}"; do
    [ -n "$part" ] && prefix="$prefix/$part"
    here=${prefix:-/}
    if ! can -x "$here"; then
      command -v setfacl >/dev/null 2>&1 || {
        echo "topolab: '$user' cannot reach $here and setfacl is missing (apt-get install acl)" >&2
        exit 1
      }
      setfacl -m "u:$user:--x" "$here"
      echo "topolab: let '$user' traverse $here (ACL u:$user:--x)"
    fi
  done
  if ! can -r "$path"; then
    echo "topolab: '$user' still cannot read $path" >&2
    exit 1
  fi
done
