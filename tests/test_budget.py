"""The training budget: the cost model's estimate, its calibration against measured runs, and the refusal."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.budget import (
    BUDGET_ENV,
    DEFAULT_BUDGET_S,
    budget_seconds,
    epochs_within,
    estimate_seconds,
    over_budget,
)
from explorer.cache import PRETRAINED_DIR
from explorer.config import RunConfig
from explorer.presets import default_config, pretrain_configs

ROOT = Path(__file__).resolve().parents[1]
# The issue's link: a learner asked for this, and everyone else's training queued behind it.
HUGE = {"input_length": 60, "units": 256, "epochs": 200}


@pytest.mark.parametrize(
    "bigger",
    [
        {"epochs": 20},
        {"units": 128},
        {"layers": 2},
        {"bidirectional": True},
        {"input_length": 12},
        {"samples_per_epoch": 16384},
        {"batch_size": 16},  # more optimiser steps for the same examples
        {"record_gradients": True},
    ],
)
def test_the_estimate_grows_with_every_factor_of_the_work(bigger):
    assert estimate_seconds(default_config(**bigger)) > estimate_seconds(default_config())


def test_the_estimate_is_linear_in_the_epochs_beyond_the_setup():
    one, two, ten = (estimate_seconds(default_config(epochs=epochs)) for epochs in (1, 2, 10))
    assert ten - one == pytest.approx(9 * (two - one))
    assert one > two - one  # building the model costs something before the first epoch


def test_the_estimate_matches_the_shipped_runs_measured_training_time():
    """Every shipped model records how long it trained on a CPU and for how many epochs: the estimate for those
    epochs is within a factor of four of it (attention models cost more than the model's terms say), and right on
    the median (the model is fitted to these runs and to the probes of scripts/calibrate_budget.py)."""
    ratios = []
    for path in sorted(PRETRAINED_DIR.glob("*.json")):
        sidecar = json.loads(path.read_text("utf-8"))
        if sidecar.get("device", "cpu") != "cpu":
            continue
        config = RunConfig.from_dict(sidecar["config"])
        ran = config.replace(train={"epochs": len(sidecar["history"])})
        ratios.append(estimate_seconds(ran) / sidecar["train_seconds"])
    assert len(ratios) >= 20
    assert min(ratios) > 1 / 4 and max(ratios) < 4, (min(ratios), max(ratios))
    assert 0.75 < statistics.median(ratios) < 1.33


def test_everything_the_app_ships_or_offers_fits_the_default_budget_many_times_over():
    assert max(estimate_seconds(config) for config in pretrain_configs()) < DEFAULT_BUDGET_S / 5


def test_the_issues_link_is_refused_naming_the_limit_and_the_estimate():
    huge = default_config(**HUGE)
    message = over_budget(huge, DEFAULT_BUDGET_S)
    assert message is not None
    assert f"about {estimate_seconds(huge):,.0f} s" in message
    assert f"budget of {DEFAULT_BUDGET_S:,.0f} s" in message and BUDGET_ENV in message
    fits = epochs_within(huge, DEFAULT_BUDGET_S)
    assert f"At most {fits} epoch(s)" in message
    assert estimate_seconds(huge.replace(train={"epochs": fits})) <= DEFAULT_BUDGET_S
    assert estimate_seconds(huge.replace(train={"epochs": fits + 1})) > DEFAULT_BUDGET_S
    assert over_budget(default_config(), DEFAULT_BUDGET_S) is None
    assert over_budget(huge, None) is None  # no budget: anything trains


def test_a_run_too_big_for_even_one_epoch_says_so():
    message = over_budget(default_config(**HUGE, samples_per_epoch=10_000_000), DEFAULT_BUDGET_S)
    assert "Not even one epoch of it fits" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DEFAULT_BUDGET_S),
        ("120", 120.0),
        (" 90.5 ", 90.5),
        ("0", None),
        ("off", None),
        ("plenty", DEFAULT_BUDGET_S),  # a typo never leaves a shared server without a limit
        ("-5", DEFAULT_BUDGET_S),
        ("nan", DEFAULT_BUDGET_S),
    ],
)
def test_the_budget_comes_from_the_environment(value, expected):
    environ = {} if value is None else {BUDGET_ENV: value}
    assert budget_seconds(environ) == expected


def test_estimating_imports_no_keras():
    """The estimate runs before anything is queued, in the page's script: it must not load a model framework."""
    code = (
        "import json, sys\n"
        "from explorer.budget import estimate_seconds, over_budget\n"
        "from explorer.presets import pretrain_configs\n"
        "[over_budget(config, 1.0) for config in pretrain_configs()]\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
