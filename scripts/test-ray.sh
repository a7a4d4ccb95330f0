#!/usr/bin/env bash
# The Ray lane: the tests marked `ray`, which start a local Ray cluster (two CPUs, no GPU) and two app servers
# against it, in the same .venv as scripts/test.sh with requirements-ray.txt added. `bash scripts/test-ray.sh
# [pytest args]`; .ci/run calls it after the other lanes. The default install never needs Ray.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r requirements-ray.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
export TF_CPP_MIN_LOG_LEVEL=3
export RAY_USAGE_STATS_ENABLED=0
# One at a time: each test's cluster, servers and training share the machine's two cores.
exec .venv/bin/python -m pytest -p no:xdist tests/test_ray.py -m ray "$@"
