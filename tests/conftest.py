"""Shared fixtures. Tests run from the repository root: `pytest`."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The app skips Altair's schema validation when serving (explorer/ui/figures.py, configure_charts); under test
# every chart the pages make is validated, here and in the `streamlit run` servers the browser tests start.
os.environ.setdefault("SEQ2SEQ_VALIDATE_CHARTS", "1")

import pytest

from explorer.presets import default_config, pairs

ALL_PAIRS = pairs()


def tiny_config(task: str, arch: str, **overrides):
    """A small, fast configuration of a real model (8 units) for structural tests."""
    return default_config(task, arch, **{"units": 8, "samples_per_epoch": 256, "eval_examples": 64, **overrides})


@pytest.fixture(scope="session")
def trained_reversal():
    """The default reversal model trained to >= 99% exact-sequence accuracy (about 5 s on 2 cores)."""
    from explorer.training import train

    result = train(default_config("reverse", "teacher-forcing"))
    assert result.status == "target reached", result.reason
    return result
