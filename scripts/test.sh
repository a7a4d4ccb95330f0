#!/usr/bin/env bash
# Set up a virtual environment (once) and run the whole test suite: `bash scripts/test.sh [pytest args]`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL=3
.venv/bin/python -m ruff check explorer tests app.py pages
exec .venv/bin/python -m pytest "$@"
