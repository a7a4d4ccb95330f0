"""Shared fixtures. Tests run from the repository root: `pytest`."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The app skips Altair's schema validation when serving (explorer/ui/figures.py, configure_charts); under test
# every chart the pages make is validated, here and in the `streamlit run` servers the browser tests start.
os.environ.setdefault("SEQ2SEQ_VALIDATE_CHARTS", "1")

import pytest

from explorer.presets import default_config, pairs

ALL_PAIRS = pairs()
ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """The `ray` tests start a Ray cluster and need requirements-ray.txt: they run only when a marker expression
    names them (`pytest -m ray`, scripts/test-ray.sh), never in a run that merely does not exclude them."""
    if "ray" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="starts a Ray cluster: run it with -m ray (scripts/test-ray.sh)")
    for item in items:
        if item.get_closest_marker("ray") is not None:
            item.add_marker(skip)


def load_script(name: str):
    """scripts/<name>.py as a module (scripts/ is not a package), loaded once; its folder goes on sys.path so
    that the scripts find each other as they do when run."""
    module_name = f"seq2seq_{name}"
    if module_name not in sys.modules:
        scripts = str(ROOT / "scripts")
        if scripts not in sys.path:
            sys.path.append(scripts)
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def hold_training(manager, monkeypatch):
    """Every training run of `manager` held before its first step until the returned event is set, then
    trained small (1 epoch of 256 examples): a test sees a job queued and running for as long as it needs."""
    import threading

    from explorer.training import train

    gate = threading.Event()

    def held(config, progress=None, should_stop=None):
        while not gate.wait(0.01):
            if should_stop():
                break
        small = config.replace(train={"epochs": 1, "samples_per_epoch": 256, "eval_examples": 64})
        return train(small, progress=progress, should_stop=should_stop)

    monkeypatch.setattr(manager, "trainer", held)
    return gate


def open_app(page: str | None = None, **params):
    """The app through AppTest with `params` in its link, on `page` (a page file) when given; no exception."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in params.items():
        app.query_params[key] = value
    app.run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture
def app_cache(tmp_path_factory, monkeypatch):
    """The app tests' cache folder, with the process-wide job manager looking there: a test that stores a model for
    a page to find needs both, and the manager, made once per process with the folder of its time, may have been
    made by an earlier test under another one (or cleared by it): it is made again when so."""
    from explorer.ui.runtime import get_manager

    folder = tmp_path_factory.getbasetemp() / "app-cache"
    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(folder))
    if get_manager().store.cache_dir != folder:
        get_manager.clear()
    return folder


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
