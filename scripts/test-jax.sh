#!/usr/bin/env bash
# The JAX lane: the library tests and the AppTest page tests under KERAS_BACKEND=jax (JAX for CPU), in the same
# .venv as scripts/test.sh. `bash scripts/test-jax.sh [pytest args]`; .ci/run calls it after scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Both files, so this lane also works on its own; what scripts/test.sh installed is already satisfied.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r requirements-jax.txt
export TF_CPP_MIN_LOG_LEVEL=3
export KERAS_BACKEND=jax
# These tests build hundreds of small models and run each a few times, so XLA's compile time, not run time, is
# what the lane waits for; without LLVM's optimisation passes it compiles about 30% faster on our 2 cores.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
# The same small models compile to the same programs on every run, so keep compiled programs on disk between runs
# (outside the clone, which CI makes afresh): with a warm cache the lane took half as long here.
# JAX keys each entry by the program, the flags and its own version, so an entry never outlives what it compiled;
# at most 256 MiB, least recently used out first.
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/seq2seq-explorer-tests/jax}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export JAX_COMPILATION_CACHE_MAX_SIZE=$((256 * 1024 * 1024))
# A lane that ran on TensorFlow by mistake (the variable lost on the way) would pass without testing JAX at all:
# check the backend before running anything.
.venv/bin/python -c "import jax, keras; assert keras.backend.backend() == 'jax', keras.backend.backend(); \
print(f'Keras {keras.__version__} on JAX {jax.__version__} ({jax.devices()[0].platform})')"
# Every test file but three, which are left out to keep the lane to a few minutes: test_jobs (threads, queues and
# file races around training: the same code on either backend), test_cli (argument handling and the bench's
# timings) and test_pretrained (the sidecars, and the shipped models' accuracy, which test_backends implies by
# decoding every shipped model as TensorFlow does). New test files join the lane. `JAX_TESTS=all` keeps the three.
SKIP_FILES=(--ignore=tests/test_jobs.py --ignore=tests/test_cli.py --ignore=tests/test_pretrained.py)
if [ "${JAX_TESTS:-}" = "all" ]; then
  SKIP_FILES=()
fi
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" tests --ignore=tests/browser "${SKIP_FILES[@]}" -m "not slow and not browser" "$@"
