"""Issue 14, "make it hold": what one server does for a class of 30 to 150 students.

- fragments poll only while something they show can change;
- a second visit to any page, by another session, runs no model and reads no model file;
- loaded models stay under a memory budget, least recently used out first, and come back when asked for;
- the landing page is drawn without Keras, so a fresh server answers quickly.
"""

import gc
import math
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import hold_training, open_app

from explorer import architectures
from explorer.cache import PRETRAINED_DIR, ModelStore
from explorer.decoding import greedy_decode
from explorer.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job, JobManager
from explorer.memory import (
    DEFAULT_MEMORY_MB,
    MB,
    MEMORY_ENV,
    PER_MODEL_BYTES,
    ModelMemory,
    estimated_bytes,
    memory_budget_bytes,
)
from explorer.presets import default_config, pretrain_configs, real_valued_task
from explorer.tasks import get_task, make_batch
from explorer.training import TrainResult
from explorer.ui.pages import PAGES

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture
def fresh_manager(tmp_path, monkeypatch):
    """The app's job manager made anew over an empty model cache, and replaced again afterwards."""
    from explorer.ui.runtime import get_manager

    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(tmp_path / "cache"))
    get_manager.clear()
    yield get_manager()
    get_manager().shutdown(wait_s=120)
    get_manager.clear()


# -- fragments poll only while something they show is changing -----------------------------------------------------


def _job(state: str) -> Job:
    config = default_config()
    return Job(config=config, key=config.key(), state=state)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((), None),
        ((DONE,), None),
        ((DONE, FAILED, CANCELLED), None),
        ((DONE, QUEUED), 2.0),
        ((RUNNING,), 2.0),
        (("loading", DONE), 2.0),
    ],
)
def test_a_view_of_jobs_polls_only_while_one_of_them_has_not_ended(states, expected):
    from explorer.ui.models import poll_interval

    assert poll_interval([_job(state) for state in states], every=2.0) == expected


def test_a_polling_fragment_reruns_the_whole_page_once_a_job_it_watches_has_ended(monkeypatch):
    """The timed rerun that finds a job ended hands over to a full run: it shows the outcome, and clears the timer
    in the browser (AppTest cannot fire a fragment's timer, so the fragment's own rerun is called here)."""
    import streamlit as st

    import explorer.ui.models as models

    intervals, reruns, drawn = [], [], []

    def fragment(draw, run_every=None):
        intervals.append(run_every)
        return draw

    monkeypatch.setattr(models, "fragment", fragment)
    monkeypatch.setattr(models, "fragment_rerun", lambda: True)
    monkeypatch.setattr(st, "rerun", lambda scope="app": reruns.append(scope))
    training, done = _job(RUNNING), _job(DONE)
    redraw = models.polled(lambda: drawn.append("drawn"), [training, done], every=1.0)
    assert intervals == [1.0]
    redraw()
    assert drawn == ["drawn"] and reruns == []
    training.state = DONE
    redraw()
    assert reruns == ["app"]
    models.polled(lambda: None, [training, done], every=1.0)
    assert intervals == [1.0, None]  # that full run draws the fragment without a timer


@pytest.fixture
def auto_reruns(monkeypatch):
    """The intervals of the `auto_rerun` messages the server sends (a fragment drawn with `run_every`): Streamlit
    keeps the timer in the browser, so these messages are the whole of a fragment's polling."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    sent: list[float] = []
    enqueue = ScriptRunContext.enqueue

    def recording(self, msg):
        if msg.WhichOneof("type") == "auto_rerun":
            sent.append(round(msg.auto_rerun.interval, 3))
        return enqueue(self, msg)

    monkeypatch.setattr(ScriptRunContext, "enqueue", recording)
    return sent


def test_the_train_page_with_nothing_training_sets_no_timer(fresh_manager, auto_reruns):
    app = open_app("app_pages/train.py")
    assert auto_reruns == []
    assert any("ours (default budget)" in chart.proto.spec for chart in app.get("vega_lite_chart"))  # the comparison
    app.run()
    assert auto_reruns == []


@pytest.fixture
def held_training(fresh_manager, monkeypatch):
    """Every training run held before its first step until the returned event is set, then trained small."""
    gate = hold_training(fresh_manager, monkeypatch)
    yield gate
    gate.set()


def test_the_train_page_polls_while_its_model_trains_and_stops_when_it_is_done(held_training, auto_reruns):
    from explorer.ui.runtime import get_manager

    app = open_app("app_pages/train.py", task="reverse", arch="teacher-forcing", **{"in": "7"})  # not shipped
    assert auto_reruns == []
    app.button(key="train").click().run()
    job = get_manager().get(app.session_state["config"])
    assert job.state in (QUEUED, RUNNING)
    # Its progress (every second) and the comparison, of which it is one (every two seconds).
    assert sorted(set(auto_reruns)) == [1.0, 2.0]
    assert app.progress

    held_training.set()
    assert job.wait(120) and job.state == DONE
    auto_reruns.clear()
    app.run()
    assert not app.exception
    assert auto_reruns == []  # this full run clears the browser's timers
    assert {metric.label for metric in app.metric} >= {"Exact-sequence accuracy", "Epochs"}


# -- a second visit, by anyone, runs no model and reads no model file ------------------------------------------------


@pytest.fixture
def model_work(monkeypatch):
    """Counts every call of a Keras model (direct, `predict`, `predict_on_batch`; gradients call the model too)
    and every read of a stored model (its weights, its sidecar)."""
    import explorer.cache
    import explorer.storage

    counts = {"model calls": 0, "file reads": 0}

    def counting(kind, function):
        def counted(*args, **kwargs):
            counts[kind] += 1
            return function(*args, **kwargs)

        return counted

    for name in ("__call__", "predict", "predict_on_batch"):
        monkeypatch.setattr(keras.Model, name, counting("model calls", getattr(keras.Model, name)))
    monkeypatch.setattr(keras.saving, "load_model", counting("file reads", keras.saving.load_model))
    for module in (explorer.storage, explorer.cache):
        monkeypatch.setattr(module, "read_sidecar", counting("file reads", module.read_sidecar))
    monkeypatch.setattr(explorer.storage, "_digest", counting("file reads", explorer.storage._digest))
    return counts


def _visit_every_page(links: list[dict[str, str]]) -> None:
    """One new session opens every page with each configuration in `links`."""
    for link in links:
        app = open_app(**link)
        for entry in PAGES:
            app.switch_page(entry.file).run()
            assert not app.exception, (entry.name, [e.value for e in app.exception])


def test_a_second_visit_to_every_page_by_another_session_runs_no_model_and_reads_no_file(fresh_manager, model_work):
    """The class scenario: one student opens every page on a shipped model, then the next student does the same.
    An attention model gives every token page its figures; the series autoencoder, the Embeddings page's."""
    from explorer.bench import page_query

    series = default_config(real_valued_task())
    links = [page_query(), {"task": series.task.name, "arch": series.model.arch}]

    _visit_every_page(links)
    assert model_work["model calls"] > 0 and model_work["file reads"] > 0  # the counters see the first visit

    model_work.update({"model calls": 0, "file reads": 0})
    _visit_every_page(links)
    assert model_work == {"model calls": 0, "file reads": 0}


def test_the_landing_page_is_drawn_without_keras(tmp_path):
    """A fresh server's first page needs no Keras (nor pandas): what it shows of the model is in its sidecar."""
    code = "\n".join(
        [
            "import sys",
            "import explorer.ui.runtime as runtime",
            "runtime.warm_up = lambda: None  # app.py imports Keras in the background after the run",
            "from streamlit.testing.v1 import AppTest",
            f"app = AppTest.from_file({APP!r}, default_timeout=120).run()",
            "assert not app.exception, [e.value for e in app.exception]",
            "print(any(m.label == 'Where from' and m.value == 'pretrained' for m in app.metric))",
            "print(sorted(name for name in ('keras', 'tensorflow', 'pandas') if name in sys.modules))",
        ]
    )
    env = {**os.environ, "SEQ2SEQ_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-3:-1] == ["True", "[]"]


def test_a_stored_model_loads_in_a_process_that_imported_nothing_else():
    """Loading is deferred until a page needs the model, so it must not depend on what happened to be imported
    before: the file names our own layers, which Keras only knows once their module is imported."""
    code = (
        "from explorer.cache import ModelStore; from explorer.presets import default_config; "
        "print(type(ModelStore().lookup(default_config()).load()).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ModelBundle"]


def test_cold_start_is_measured_from_a_real_server():
    from explorer.bench import cold_start_seconds

    seconds = cold_start_seconds()
    assert math.isfinite(seconds) and seconds > 0


# -- loaded models under a memory budget -----------------------------------------------------------------------------

SHIPPED = [c for c in pretrain_configs() if get_task(c.task.name).values == "tokens"][:3]


def _inputs(config):
    return make_batch(config.task, 4, seed=3).encoder_inputs


@pytest.fixture
def loads(monkeypatch):
    """The configurations whose model was built from its file, in order."""
    import explorer.cache

    built = []
    load_verified = explorer.cache.load_verified

    def counted(directory, key, sidecar):
        built.append(key)
        return load_verified(directory, key, sidecar)

    monkeypatch.setattr(explorer.cache, "load_verified", counted)
    return built


def two_model_manager(tmp_path, **kwargs) -> JobManager:
    """A manager over the shipped models whose memory holds two models, whatever their size."""
    store = ModelStore(PRETRAINED_DIR, tmp_path / "cache")
    return JobManager(store, models=ModelMemory(budget_bytes=2, size_of=lambda bundle: 1), **kwargs)


def test_a_lookup_builds_no_model_and_the_least_recently_used_model_goes_first(tmp_path, loads):
    manager = two_model_manager(tmp_path)
    first, second, third = (manager.request(config, train_if_missing=False) for config in SHIPPED)
    assert all(job.state == DONE and job.source == "pretrained" for job in (first, second, third))
    assert loads == [] and manager.models.names() == []  # found, not built: a page may need only the sidecar

    held = first.bundle
    before = greedy_decode(held, _inputs(first.config)).tokens
    second.bundle, third.bundle  # noqa: B018 (used: built into the memory)
    assert manager.models.names() == [second.uid, third.uid]  # the first, least recently used, made room
    np.testing.assert_array_equal(greedy_decode(held, _inputs(first.config)).tokens, before)  # a holder keeps it

    second.bundle  # noqa: B018 (used: now more recent than the third)
    reloaded = first.bundle
    assert manager.models.names() == [second.uid, first.uid]
    assert loads == [job.key for job in (first, second, third, first)]  # loaded again, once
    assert reloaded is not held
    np.testing.assert_array_equal(greedy_decode(reloaded, _inputs(first.config)).tokens, before)


def test_a_model_let_go_is_freed_even_after_pages_cached_results_of_it(tmp_path):
    """Nothing else keeps a model alive: not its job, not `per_model`'s cache of what a page computed with it."""
    from explorer.ui.results import free_running

    manager = JobManager(ModelStore(PRETRAINED_DIR, tmp_path / "cache"), models=ModelMemory(1, lambda bundle: 1))
    first, second = (manager.request(config, train_if_missing=False) for config in SHIPPED[:2])
    bundle = first.bundle
    free_running(bundle, _inputs(first.config))
    alive = weakref.ref(bundle.training_model)
    del bundle
    second.bundle  # noqa: B018 (used: makes the first go)
    gc.collect()
    assert alive() is None
    assert first.bundle is not None and first.state == DONE  # and it comes back when asked for


def test_a_model_that_could_not_be_saved_is_never_let_go(tmp_path):
    """It has no file to come back from."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    tiny = default_config("reverse", "teacher-forcing", input_length=7, units=8)

    def untrained(config, progress=None, should_stop=None):
        return TrainResult(bundle=architectures.build(config), history=[], metrics={}, status="completed")

    store = ModelStore(PRETRAINED_DIR, blocked)
    manager = JobManager(store, trainer=untrained, models=ModelMemory(budget_bytes=1, size_of=lambda bundle: 1))
    trained = manager.request(tiny)
    assert trained.wait(60) and trained.state == DONE and trained.save_error
    kept = trained.bundle
    for config in SHIPPED[:2]:
        assert manager.request(config, train_if_missing=False).bundle is not None
    assert trained.uid in manager.models.names() and trained.bundle is kept


def test_a_model_whose_file_went_away_while_it_was_let_go_fails_with_the_reason_and_is_looked_up_again(tmp_path):
    import shutil

    from explorer.storage import paths_for

    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    for config in SHIPPED[:2]:
        for path in paths_for(PRETRAINED_DIR, config.key()):
            shutil.copy(path, shipped / path.name)
    manager = JobManager(ModelStore(shipped, tmp_path / "cache"), models=ModelMemory(1, lambda bundle: 1))
    first, second = (manager.request(config, train_if_missing=False) for config in SHIPPED[:2])
    assert first.bundle is not None and second.bundle is not None  # the first was let go
    for path in paths_for(shipped, first.key):
        path.unlink()
    assert first.bundle is None
    assert first.state == FAILED and "could not be read again" in first.reason
    again = manager.request(first.config, train_if_missing=False)
    assert again is not first and again.state == CANCELLED and again.reason == "not trained yet"


def test_concurrent_requests_for_a_model_that_is_not_loaded_build_it_once():
    built = []
    gate = threading.Event()

    def load():
        gate.wait(5)
        built.append(object())
        return built[-1]

    memory = ModelMemory(budget_bytes=10, size_of=lambda bundle: 1)
    got = []
    threads = [threading.Thread(target=lambda: got.append(memory.fetch("model", load))) for _ in range(20)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(10)
    assert len(built) == 1 and len(got) == 20 and all(item is built[0] for item in got)


def test_the_most_recent_model_stays_even_when_it_alone_is_over_the_budget():
    memory = ModelMemory(budget_bytes=5, size_of=lambda bundle: bundle)
    memory.keep("small", 2)
    memory.keep("large", 9)
    assert memory.names() == ["large"] and memory.used_bytes == 9


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "123")
    assert memory_budget_bytes() == 123 * MB and ModelMemory().budget_bytes == 123 * MB
    for wrong in ("lots", "0", "-5", "nan"):
        monkeypatch.setenv(MEMORY_ENV, wrong)
        assert memory_budget_bytes() == DEFAULT_MEMORY_MB * MB
    monkeypatch.delenv(MEMORY_ENV)
    assert 100 * MB <= memory_budget_bytes() <= 1000 * MB  # a sensible default for a 1 to 2.7 GB host


def test_a_larger_model_is_estimated_larger():
    small, large = (architectures.build(default_config(units=units)) for units in (8, 256))
    assert PER_MODEL_BYTES < estimated_bytes(small) < estimated_bytes(large)
