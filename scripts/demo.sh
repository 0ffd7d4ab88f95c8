#!/usr/bin/env bash
# Install handoff into .venv and run the whole flow on bundled sample data (SQLite, no server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/handoff demo "$@"
