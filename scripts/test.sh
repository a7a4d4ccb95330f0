#!/usr/bin/env bash
# Set up a virtual environment (once) and run the whole test suite: `bash scripts/test.sh [pytest args]`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# The library as an editable package, so tests and their subprocesses import `explorer` from this checkout without
# path edits. Its dependencies are the pinned requirements just installed, hence --no-deps.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
export TF_CPP_MIN_LOG_LEVEL=3
# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright's own browser
# download is not used. Install the system package when it is missing; without it those tests skip.
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  fi
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    echo "Installing Debian's chromium for the browser tests..."
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; } \
      || echo "WARNING: could not install chromium (apt-get failed); the browser tests will be skipped." >&2
  else
    echo "WARNING: /usr/bin/chromium is missing and neither root nor sudo is available;" \
      "the browser tests will be skipped (install it with: apt-get install chromium)." >&2
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "WARNING: /usr/bin/chromium is still missing; the browser tests will be skipped." >&2
    if [ "${CI:-}" = "true" ]; then
      echo "CI must run the browser tests: failing." >&2
      exit 1
    fi
  fi
fi
.venv/bin/python -m ruff check explorer tests app.py app_pages scripts
.venv/bin/python -m ruff format --check explorer tests app.py app_pages scripts
# Two workers (pytest-xdist) for everything but the browser tests, which run one at a time afterwards: each drives
# its own `streamlit run` server and Chromium, and two at once would share the two cores with their timings.
# A run that names its own selection (-m ...) is one run: parallel when it leaves the browser tests out.
WORKERS="${TEST_WORKERS:-2}"
previous=""
for argument in "$@"; do
  if [ "$previous" = "-m" ]; then
    if [[ "$argument" == *"not browser"* ]]; then
      exec .venv/bin/python -m pytest -n "$WORKERS" "$@"
    fi
    exec .venv/bin/python -m pytest -p no:xdist "$@"
  fi
  previous="$argument"
done
.venv/bin/python -m pytest -n "$WORKERS" -m "not browser" "$@"
exec .venv/bin/python -m pytest -p no:xdist -m browser "$@"
