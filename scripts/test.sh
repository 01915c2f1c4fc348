#!/usr/bin/env bash
# The one test command: set up from the project's own files, lint, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-dev.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
