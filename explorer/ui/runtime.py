"""How the app lives inside Streamlit's server: the one job manager, the per-run Keras reset, and run timing.

- `get_manager()`: the process-wide `JobManager`, held in `st.cache_resource` and shut down (its worker threads
  told to exit) when Streamlit releases it, e.g. on "Clear cache". It refuses runs estimated over the training
  budget (`SEQ2SEQ_TRAIN_BUDGET_S`, see `explorer.budget`), since one server trains for everyone, and trains where
  `SEQ2SEQ_JOBS` says; `backend_notice()` shows in the sidebar why it could not, when it fell back.
- `timed_run(page)` and `fragment(...)`: one JSON line per script run, a fragment's rerun on its own included,
  when `SEQ2SEQ_RUN_LOG` is set (the load test reads them, and checks its clients saw exactly those runs);
  `fragment_rerun()` tells a fragment's own rerun from a full run.
- `warm_up()`: imports Keras in the background once the first page is drawn (the landing page needs none).
- `time_pages(query)`: the server's warm script time per page through AppTest, and `first_run(port)`: one
  session's first page from a running server, through its websocket; for `python -m explorer bench`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.budget import budget_seconds
from explorer.jobs import JobManager, backend_from_env
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
    """One job manager per server process, shared by every browser session, with the training budget, training
    where `SEQ2SEQ_JOBS` says (this process, or a Ray cluster; `explorer.jobs.backend_from_env`)."""
    _spare_training_threads()
    backend, notice = backend_from_env()
    return JobManager(budget_s=budget_seconds(), backend=backend, notice=notice)


def backend_notice() -> None:
    """The one visible notice when the training backend asked for could not be used (an unknown `SEQ2SEQ_JOBS`,
    Ray missing, a cluster out of reach) and this server trains in its own process instead."""
    if notice := get_manager().notice:
        st.sidebar.warning(notice, icon="⚠️")


_RUN_LOG_LOCK = threading.Lock()
# Session-state key of the page the session's last full run drew (a fragment's rerun is logged under it).
_PAGE_KEY = "_run_log_page"


def _outcome(error: BaseException | None) -> str:
    """How a run ended, in the log's words: Streamlit ends a run early by raising its own exceptions."""
    if error is None:
        return "finished"
    name = type(error).__name__
    return {"RerunException": "rerun", "StopException": "stopped"}.get(name, "error")


@contextlib.contextmanager
def _logged(kind: str, page: str, fragment: str | None = None) -> Iterator[dict[str, Any]]:
    """Times the block; yields the record to be written, whose "page" the block may still set."""
    record: dict[str, Any] = {"kind": kind, "page": page, "fragment": fragment}
    path = os.environ.get("SEQ2SEQ_RUN_LOG")
    if not path:
        yield record
        return
    ctx = get_script_run_ctx()
    started, cpu, error = time.perf_counter(), time.thread_time(), None
    try:
        yield record
    except BaseException as exc:
        error = exc
        raise
    finally:
        record |= {
            "session": ctx.session_id if ctx else None,
            "outcome": _outcome(error),
            "seconds": round(time.perf_counter() - started, 5),
            "cpu_seconds": round(time.thread_time() - cpu, 5),
            "at": round(time.time(), 3),
        }
        with contextlib.suppress(OSError), _RUN_LOG_LOCK, open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


@contextlib.contextmanager
def timed_run() -> Iterator[dict[str, Any]]:
    """Around the whole app script: with `SEQ2SEQ_RUN_LOG=<file>` set, append one JSON line per full script run:
    its kind ("run"), the page (the script sets `record["page"]` once the navigation knows it; a fragment's
    rerun is logged under it too), the browser session, how it ended (finished, rerun, stopped, error), and its
    wall and CPU seconds.

    The load test sets it, to measure the server's share of every request and to check that its clients saw
    exactly the runs the server made. A stopped or rerun script (`st.stop`, `st.rerun`) is recorded too. Off by
    default, and a failed write is ignored.
    """
    with _logged("run", "") as record:
        try:
            yield record
        finally:
            st.session_state[_PAGE_KEY] = record["page"]


def fragment(func: Callable[..., Any] | None = None, *, run_every: float | None = None):
    """`st.fragment` whose reruns on their own (a timer's, or a widget's inside it) are logged like script runs,
    with kind "fragment" and the function's name; drawn within a full run, it is part of that run's line.

    Used as `@fragment` or `@fragment(run_every=...)`, or called, `fragment(draw, run_every=...)`, where the
    interval is only known at run time (a fragment that polls only while something it shows is changing).
    """

    def decorate(draw: Callable[..., Any]):
        @functools.wraps(draw)
        def logged(*args, **kwargs):
            if not fragment_rerun():
                return draw(*args, **kwargs)
            with _logged("fragment", st.session_state.get(_PAGE_KEY, ""), draw.__name__):
                return draw(*args, **kwargs)

        return st.fragment(logged, run_every=run_every)

    return decorate(func) if func is not None else decorate


def fragment_rerun() -> bool:
    """True while a fragment reruns on its own (its timer, or a widget inside it), False within a full run."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


@functools.cache
def warm_up() -> threading.Thread:
    """Import Keras, and with it TensorFlow, in a background thread, once per process; `app.py` calls it after
    each run, so it starts when the first page has been drawn.

    The landing page shows only what the models' sidecars record, and is drawn without Keras: a fresh server
    answers its first visitor in under 2 s instead of 6.5 s (`explorer.bench.cold_start_seconds`). The import
    (3 s of one core) then runs while the class reads that page, rather than when the first of them opens a
    page with a model. Only `keras` itself is imported here, none of our modules: a thread importing those while
    a page imports them from the other end could meet it halfway (a circular import across threads), and one of
    the two would get a half-initialised module.
    """

    def load() -> None:
        import keras  # noqa: F401 (imported for its side effect: the next import of it is free)

    thread = threading.Thread(target=load, name="keras-warm-up", daemon=True)
    thread.start()
    return thread


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


async def first_run(port: int, query_string: str = "") -> None:
    """Open a session with the server on `port` as a browser does, ask for the page at `query_string` (the
    landing page by default), and return when that run has finished (the `script_finished` message)."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as stream:
        request = BackMsg()
        request.rerun_script.query_string = query_string
        await stream.send(request.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(await stream.recv())
            if message.WhichOneof("type") == "script_finished":
                return
