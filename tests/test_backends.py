"""The same weights give the same numbers under JAX as under TensorFlow.

These tests run in the JAX lane (`KERAS_BACKEND=jax`, scripts/test-jax.sh): the pytest process computes the JAX
side and `tests/backend_worker.py` computes the TensorFlow side in a subprocess, because Keras fixes its backend
when it is first imported. Under TensorFlow they skip: the comparison would be the same one, run a second time.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from backend_worker import decode_pretrained
from conftest import tiny_config

from explorer.cache import PRETRAINED_DIR

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="JAX-lane test: compares this JAX process with a TensorFlow subprocess "
    "(run it with KERAS_BACKEND=jax, as scripts/test-jax.sh does)",
)

WORKER = Path(__file__).with_name("backend_worker.py")
# float32 arithmetic in a different order (XLA vs TensorFlow's kernels) moves the last few bits, no more. Outputs
# get a relative tolerance as well: the gradients page's exploding-SimpleRNN model outputs values near 1e12.
GRADIENT_RTOL, GRADIENT_ATOL = 1e-4, 1e-6
OUTPUT_RTOL, OUTPUT_ATOL = 1e-5, 5e-5


def tensorflow_side(jobs: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the worker's `jobs` under the TensorFlow backend, in one process, and return its answers."""
    source, target = workdir / "jobs.pkl", workdir / "answers.pkl"
    with open(source, "wb") as handle:
        pickle.dump(jobs, handle)
    done = subprocess.run(
        [sys.executable, str(WORKER), str(source), str(target)],
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    with open(target, "rb") as handle:
        answers = pickle.load(handle)
    assert answers["backend"] == "tensorflow"
    return answers


# Each case trains 2 epochs of 4 steps with a norm measured before every step, so 6 of the 8 measurements fall in
# the middle of an epoch, where Keras' JAX trainer holds the weights. Scheduled sampling fits a different model
# (one that shares the training model's layers); the composite autoencoder has two heads and a real-valued loss.
FIT = {"epochs": 2, "samples_per_epoch": 512, "batch_size": 128, "record_gradients": True}
GRADIENT_CASES = {
    "luong": tiny_config("reverse", "luong", **FIT),
    "scheduled-sampling": tiny_config("reverse", "teacher-forcing", teacher_forcing="linear", **FIT),
    "composite-autoencoder": tiny_config("series", "lstm-autoencoder", series_mode="composite", **FIT),
}


def fit_with_snapshots(config) -> tuple[Any, list[dict[str, Any]]]:
    """`train(config)`, keeping beside every gradient-norm measurement the weights it was measured on."""
    from explorer import training

    measure = training.gradient_norms
    measured: list[dict[str, Any]] = []

    def measure_and_snapshot(bundle, batch, trainer=None):
        # Whether this measurement reads the trainer's state: a step has run since the variables were last written.
        mid_epoch = getattr(trainer, "_jax_state", None) is not None and not trainer._jax_state_synced
        norms = measure(bundle, batch, trainer=trainer)
        # The weights those norms belong to, fetched through Keras' own route for callbacks (what a callback's
        # `self.model` does under JAX), independent of the code under test.
        trainer.jax_state_sync()
        weights = bundle.training_model.get_weights()
        measured.append({"norms": norms, "weights": weights, "batch": batch, "mid_epoch": mid_epoch})
        return norms

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "gradient_norms", measure_and_snapshot)
        result = training.train(config)
    return result, measured


@pytest.fixture(scope="module")
def jax_fits() -> dict[str, tuple[Any, list[dict[str, Any]]]]:
    return {case: fit_with_snapshots(config) for case, config in GRADIENT_CASES.items()}


@pytest.fixture(scope="module")
def tensorflow_norms(jax_fits, tmp_path_factory) -> dict[str, list[dict[str, float]]]:
    """The TensorFlow backend's norms for every case's snapshots, from one subprocess."""
    jobs = {
        case: {
            "config": GRADIENT_CASES[case].to_dict(),
            "batch": measured[0]["batch"],
            "snapshots": [m["weights"] for m in measured],
        }
        for case, (_, measured) in jax_fits.items()
    }
    return tensorflow_side({"norms": jobs}, tmp_path_factory.mktemp("norms"))["norms"]


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_gradient_norms_during_jax_fit_equal_tensorflows_for_the_same_weights(case, jax_fits, tensorflow_norms):
    result, measured = jax_fits[case]
    assert len(measured) == 8 and sum(m["mid_epoch"] for m in measured) == 6
    assert all(m["batch"] is measured[0]["batch"] for m in measured)  # one fixed probe batch
    recorded = [{k: v for k, v in n.items() if k not in ("step", "epoch")} for n in result.gradient_norms]
    assert recorded == [m["norms"] for m in measured]
    for step, (ours, theirs) in enumerate(zip(recorded, tensorflow_norms[case], strict=True)):
        assert ours.keys() == theirs.keys()
        layers = sorted(ours)
        np.testing.assert_allclose(
            [ours[name] for name in layers],
            [theirs[name] for name in layers],
            rtol=GRADIENT_RTOL,
            atol=GRADIENT_ATOL,
            err_msg=f"{case}, step {step}, layers {layers}",
        )
    # The weights moved between measurements, so each comparison checked the weights of its own step.
    assert not np.allclose(measured[0]["weights"][0], measured[-1]["weights"][0])


# Whatever is in pretrained/ and its subfolders when the tests are collected (models are added over time); file
# names are config keys, which also leaves out a writer's temporary files.
PRETRAINED_FILES = sorted(
    path.relative_to(PRETRAINED_DIR).as_posix()
    for path in PRETRAINED_DIR.rglob("*.keras")
    if re.fullmatch(r"[0-9a-f]{16}", path.stem)
)


def test_there_are_pretrained_models_to_compare():
    assert PRETRAINED_FILES, f"no .keras files in {PRETRAINED_DIR}"


@pytest.fixture(scope="module")
def tensorflow_decodes(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """Every pretrained model's decode under TensorFlow, from one subprocess (one TensorFlow start-up in all)."""
    jobs = {"decode": {"paths": [str(PRETRAINED_DIR / name) for name in PRETRAINED_FILES]}}
    return tensorflow_side(jobs, tmp_path_factory.mktemp("decode"))["decode"]


@pytest.mark.parametrize("name", PRETRAINED_FILES)
def test_pretrained_model_decodes_identically_under_jax_and_tensorflow(name, tensorflow_decodes):
    path = str(PRETRAINED_DIR / name)
    ours, theirs = decode_pretrained([path])[path], tensorflow_decodes[path]
    assert ours.keys() == theirs.keys()
    for output in ours:
        assert ours[output].shape == theirs[output].shape, output
        if output == "tokens":
            np.testing.assert_array_equal(ours[output], theirs[output], err_msg=name)
        else:
            np.testing.assert_allclose(
                ours[output], theirs[output], rtol=OUTPUT_RTOL, atol=OUTPUT_ATOL, err_msg=f"{name} {output}"
            )
