#!/usr/bin/env bash
# Install handoff with its test tools into .venv, make sure PostgreSQL runs, run lint, type checks and all tests
# (integration tests run on SQLite and on PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
bash scripts/ensure-postgres.sh
.venv/bin/ruff check src tests bench
.venv/bin/lint-imports
.venv/bin/mypy src
exec .venv/bin/python -m pytest "$@"
