#!/usr/bin/env bash
# Start the local PostgreSQL cluster if it is not accepting connections (tests need it).
set -uo pipefail
if [ "${HANDOFF_TEST_SKIP_PG:-}" = "1" ]; then exit 0; fi
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
fi
for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
echo "PostgreSQL is not running on 127.0.0.1:5432 (install it, or set HANDOFF_TEST_SKIP_PG=1)" >&2
exit 1
