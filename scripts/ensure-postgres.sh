#!/usr/bin/env bash
# Make sure the machine's PostgreSQL answers on 127.0.0.1:${HANDOFF_TEST_PG_PORT:-5432}, starting the local cluster
# if it is installed but down. Exits 1 when none answers (test.sh then starts an embedded one instead).
set -uo pipefail
if [ "${HANDOFF_TEST_SKIP_PG:-}" = "1" ]; then exit 0; fi
port=${HANDOFF_TEST_PG_PORT:-5432}
ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null
  else
    (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null
  fi
}
ready && exit 0
started=0
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for conf in /etc/postgresql/*/main; do
    [ -d "$conf" ] || continue
    version=$(basename "$(dirname "$conf")")
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 && started=1
  done
fi
if [ "$started" = 1 ]; then
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "no PostgreSQL answers on 127.0.0.1:$port" >&2
exit 1
