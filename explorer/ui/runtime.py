"""How the app lives inside Streamlit's server: the one job manager, the per-run Keras reset, and run timing.

- `get_manager()`: the process-wide `JobManager`, held in `st.cache_resource` and shut down (its worker threads
  told to exit) when Streamlit releases it, e.g. on "Clear cache". It refuses runs estimated over the training
  budget (`SEQ2SEQ_TRAIN_BUDGET_S`, see `explorer.budget`), since one server trains for everyone.
- `timed_run(page)`: one JSON line per script run when `SEQ2SEQ_RUN_LOG` is set (the load test reads them).
- `time_pages(query)`: the server's warm script time per page through AppTest, for `python -m explorer bench`.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator

import streamlit as st

from explorer.budget import budget_seconds
from explorer.jobs import JobManager
from explorer.ui.pages import PAGES, ROOT


def _spare_training_threads() -> bool:
    """Stop Streamlit from resetting Keras after every script run; True when its hook was found and replaced.

    After each run (a fragment's rerun while a student watches training included) Streamlit calls
    `keras.backend.clear_session()`, which clears TensorFlow's kernel cache and runs a full garbage collection
    while our trainer threads are mid-epoch: measured, a training run took 3.0x as long with that happening
    every 0.5 s. This app never builds Keras models in the script thread (the job manager owns them), so
    there is no per-run Keras state to clear. `.streamlit/config.toml` turns off the other per-run full
    collection (`runner.postScriptGC`).
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # a Streamlit without the module: nothing to undo
        return False
    if not callable(getattr(script_runner, "_clean_problem_modules", None)):
        return False
    script_runner._clean_problem_modules = _no_keras_reset
    return True


def _no_keras_reset() -> None:
    """Stands in for Streamlit's per-run clean-up, whose only other target (matplotlib) this app does not use."""


def _release_manager(manager: JobManager) -> None:
    """Called by Streamlit when the cached manager is dropped ("Clear cache", `get_manager.clear()`): the next
    script run makes a new manager, so this one's queued jobs are cancelled and its worker threads exit instead
    of training beside the new one's."""
    manager.shutdown()


@st.cache_resource(show_spinner=False, on_release=_release_manager)
def get_manager() -> JobManager:
    """One job manager per server process, shared by every browser session, with the training budget."""
    _spare_training_threads()
    return JobManager(budget_s=budget_seconds())


_RUN_LOG_LOCK = threading.Lock()


@contextlib.contextmanager
def timed_run(page: str) -> Iterator[None]:
    """With `SEQ2SEQ_RUN_LOG=<file>` set, append one JSON line per script run: the page, its wall and CPU seconds.

    The load test sets it, to tell the server's share of a page switch from the browsers'. A stopped or
    rerun script (`st.stop`, `st.rerun`) is recorded too. Off by default, and a failed write is ignored.
    """
    path = os.environ.get("SEQ2SEQ_RUN_LOG")
    if not path:
        yield
        return
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        record = {
            "page": page,
            "seconds": round(time.perf_counter() - started, 5),
            "cpu_seconds": round(time.thread_time() - cpu, 5),
            "at": round(time.time(), 3),
        }
        with contextlib.suppress(OSError), _RUN_LOG_LOCK, open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def time_pages(query: dict[str, str], repeats: int = 5) -> dict[str, float]:
    """Warm script time of every registered page in ms (median of `repeats` switches to it), through AppTest.

    The server's cost of one page switch for the configuration in `query`, with no browser; keyed by page name.
    `python -m explorer bench` runs it with and without chart validation (see `explorer.ui.figures`).
    """
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    for name, value in query.items():
        app.query_params[name] = value
    app.run()
    for page in PAGES:  # first visits: models loaded, caches filled
        app.switch_page(page.file).run()
    times: dict[str, list[float]] = {page.name: [] for page in PAGES}
    for _ in range(repeats):
        for page in PAGES:
            started = time.perf_counter()
            app.switch_page(page.file).run()
            times[page.name].append((time.perf_counter() - started) * 1000)
            if app.exception:
                raise RuntimeError(f"{page.file}: {app.exception[0].value}")
    return {name: statistics.median(values) for name, values in times.items()}
