"""The one module of `explorer/` that imports Streamlit: shared state, the sidebar picker, and output helpers.

Pages stay thin by calling these: `current_config()` for what the user picked, `model_job()` for the model
(pretrained, cached or training), `chart_with_downloads()` for a figure with its PNG/SVG/CSV downloads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from explorer.architectures import ARCHITECTURES, ModelBundle
from explorer.config import CELL_TYPES, SERIES_MODES, RunConfig
from explorer.jobs import DONE, FAILED, JobManager
from explorer.presets import DEFAULT_ARCH, compatible_archs, default_config
from explorer.tasks import TASKS
from explorer.urlstate import config_from_params, params_from_config

SCHEDULE_CHOICES = ("none", "linear", "inverse-sigmoid", "exponential")
UNIT_CHOICES = (4, 8, 16, 32, 64, 128, 256)
RATE_CHOICES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
BATCH_CHOICES = (8, 16, 32, 64, 128, 256, 512)
# Altair's schema validation of every chart, on in the test suite (tests/conftest.py) and off when serving: see
# `chart_spec`.
VALIDATE_CHARTS = os.environ.get("SEQ2SEQ_VALIDATE_CHARTS") == "1"


def _options(choices: tuple, current) -> list:
    """A slider's stops, plus the current value when it came from a preset or a link and is not among them."""
    return sorted({*choices, current})


LUONG_SCORES = ("dot", "general", "concat")


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


@st.cache_resource(show_spinner=False)
def get_manager() -> JobManager:
    """One job manager per server process, shared by every browser session."""
    _spare_training_threads()
    return JobManager()


def _to_url(config: RunConfig) -> None:
    for key, value in params_from_config(config).items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def picker() -> RunConfig:
    """The sidebar picker shared by every page. Its state lives in the URL, so a link reproduces the view."""
    state = st.session_state
    if "picker_ready" not in state:
        config, problems = config_from_params(st.query_params.to_dict())
        state["picker_problems"] = problems
        _load_widgets(config)
        state["picker_ready"] = True

    _ensure_keys()
    sidebar = st.sidebar
    sidebar.header("Model")
    task = sidebar.selectbox(
        "Task", list(TASKS), key="pick_task", on_change=_task_changed, format_func=lambda n: f"{n} · {TASKS[n].kind}"
    )
    archs = compatible_archs(task)
    if state.get("pick_arch") not in archs:
        state["pick_arch"] = DEFAULT_ARCH.get(task, archs[0])
    arch = sidebar.selectbox("Architecture", archs, key="pick_arch", on_change=_arch_changed)
    with sidebar.expander("Parameters", expanded=False):
        task_info = TASKS[task]
        st.number_input("Input length", 1, 60, key="pick_input_length")
        if task not in ("echo", "series"):
            st.number_input("Output length (k)", 1, 60, key="pick_output_length")
        if task_info.values == "tokens":
            st.number_input("Cardinality (symbols 1..n)", 2, 500, key="pick_cardinality")
        else:
            st.selectbox("Series mode", SERIES_MODES, key="pick_series_mode")
        st.selectbox("Cell", CELL_TYPES, key="pick_cell")
        st.select_slider("Units", _options(UNIT_CHOICES, state["pick_units"]), key="pick_units")
        if arch == "luong":
            st.selectbox("Score function", LUONG_SCORES, key="pick_score")
    with sidebar.expander("Training", expanded=False):
        st.number_input("Epochs (at most)", 1, 200, key="pick_epochs")
        st.select_slider("Learning rate", _options(RATE_CHOICES, state["pick_lr"]), key="pick_lr")
        st.select_slider("Batch size", _options(BATCH_CHOICES, state["pick_batch"]), key="pick_batch")
        if ARCHITECTURES[arch].pattern == "recursive":
            st.selectbox(
                "Scheduled sampling",
                SCHEDULE_CHOICES,
                key="pick_schedule",
                help="How the chance of feeding the true previous token falls over the epochs.",
            )
    config, problem = _config_from_widgets(task, arch)
    for message in state.get("picker_problems", []):
        sidebar.warning(message)
    if problem:
        sidebar.error(problem)
    _to_url(config)
    state["config"] = config
    return config


def _load_widgets(config: RunConfig) -> None:
    state = st.session_state
    state["pick_task"] = config.task.name
    state["pick_arch"] = config.model.arch
    state["pick_input_length"] = config.task.input_length
    state["pick_output_length"] = config.task.output_length
    state["pick_cardinality"] = config.task.cardinality
    state["pick_series_mode"] = config.task.series_mode
    state["pick_cell"] = config.model.cell
    state["pick_units"] = config.model.units
    state["pick_score"] = config.model.score if config.model.score in LUONG_SCORES else "general"
    state["pick_epochs"] = config.train.epochs
    state["pick_lr"] = config.train.learning_rate
    state["pick_batch"] = config.train.batch_size
    state["pick_schedule"] = config.train.teacher_forcing


def _ensure_keys() -> None:
    """Streamlit forgets the value of a widget that was not drawn in the last run; refill from defaults."""
    state = st.session_state
    wanted = (
        "pick_task",
        "pick_arch",
        "pick_input_length",
        "pick_output_length",
        "pick_cardinality",
        "pick_series_mode",
        "pick_cell",
        "pick_units",
        "pick_score",
        "pick_epochs",
        "pick_lr",
        "pick_batch",
        "pick_schedule",
    )
    if all(key in state for key in wanted):
        return
    saved = {key: state[key] for key in wanted if key in state}
    task = saved.get("pick_task", "reverse")
    arch = saved.get("pick_arch")
    _load_widgets(default_config(task, arch if arch in compatible_archs(task) else None))
    for key, value in saved.items():
        state[key] = value


def _task_changed() -> None:
    """A new task starts from its own defaults (and its default architecture when the old one does not fit)."""
    task = st.session_state["pick_task"]
    arch = st.session_state.get("pick_arch")
    _load_widgets(default_config(task, arch if arch in compatible_archs(task) else None))


def _arch_changed() -> None:
    state = st.session_state
    try:
        config = default_config(state["pick_task"], state["pick_arch"], **_widget_values(state["pick_task"]))
    except ValueError:
        config = default_config(state["pick_task"], state["pick_arch"])
    _load_widgets(config)


def _widget_values(task: str) -> dict[str, Any]:
    state = st.session_state
    values: dict[str, Any] = {"input_length": int(state["pick_input_length"])}
    if task in ("echo", "series"):
        values["output_length"] = values["input_length"]
    else:
        values["output_length"] = int(state["pick_output_length"])
    if TASKS[task].values == "tokens":
        values["cardinality"] = int(state["pick_cardinality"])
    else:
        values["series_mode"] = state["pick_series_mode"]
    return values


def _config_from_widgets(task: str, arch: str) -> tuple[RunConfig, str | None]:
    state = st.session_state
    values = _widget_values(task)
    values.update(
        cell=state["pick_cell"],
        units=int(state["pick_units"]),
        epochs=int(state["pick_epochs"]),
        learning_rate=float(state["pick_lr"]),
        batch_size=int(state["pick_batch"]),
    )
    if ARCHITECTURES[arch].pattern == "recursive":
        values["teacher_forcing"] = state["pick_schedule"]
    if arch == "luong":
        values["score"] = state["pick_score"]
    try:
        return default_config(task, arch, **values), None
    except ValueError as error:
        return default_config(task, arch), f"{error}. Showing the default {task} model instead."


def use_config(config: RunConfig) -> None:
    """Make `config` the picked one (e.g. from a link on the landing page); call from a button's on_click."""
    _load_widgets(config)


def current_config() -> RunConfig:
    return st.session_state.get("config") or default_config()


# -- models ---------------------------------------------------------------------------------------------------


def model_job(config: RunConfig | None = None, train: bool = False):
    """The job for a config: found (pretrained/cache) jobs come back done; `train=True` queues training."""
    config = config or current_config()
    manager = get_manager()
    job = manager.get(config)
    if job is not None and (job.state != "cancelled" or not train) and not (job.state == FAILED and train):
        return job
    return manager.request(config, train_if_missing=train)


def lookup_job(config: RunConfig):
    """The job for `config` without starting any training: done when a stored model exists."""
    manager = get_manager()
    return manager.get(config) or manager.request(config, train_if_missing=False)


def describe_source(job) -> str:
    if job.state != DONE:
        return "not trained yet"
    where = {"pretrained": "shipped pretrained model", "cache": "model cache", "trained": "trained in this session"}
    sidecar = job.sidecar
    device = sidecar.get("device", "cpu")
    backend = sidecar.get("backend", "tensorflow")
    return f"{where.get(job.source, job.source)} · trained on {device} with {backend}"


def require_model(config: RunConfig | None = None):
    """Return the finished bundle for the picked config, or explain how to get one and stop the page."""
    job = model_job(config)
    if job.state == DONE:
        st.caption(f"Model: {describe_source(job)}")
        return job.bundle
    st.info(
        "This configuration has no trained model yet. Train it on the **Train & Compare** page (it takes seconds "
        "for the default sizes), or pick a default configuration, which ships pretrained."
    )
    st.page_link("app_pages/train.py", label="Go to Train & Compare", icon="🏋️")
    st.stop()


def _model_token(bundle: ModelBundle) -> str:
    """How Streamlit's caches tell loaded models apart: the config key plus a tag of this very object, so that a
    model retrained under the same key (its file deleted while the app runs) never gets the old one's results."""
    return bundle.__dict__.setdefault("_cache_token", f"{bundle.config.key()}:{uuid.uuid4().hex}")


def per_model(show_spinner: bool | str = False, max_entries: int = 64):
    """`st.cache_data` for a page's computation on loaded models, shared by every session.

    Arguments that are `ModelBundle`s (also inside lists and dicts) are hashed by `_model_token`, everything
    else by value: `per_model("Decoding…")(position_accuracy)(bundle)`.
    """
    return st.cache_data(show_spinner=show_spinner, max_entries=max_entries, hash_funcs={ModelBundle: _model_token})


# -- server-side timing -----------------------------------------------------------------------------------------

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
    """Warm script time of every page in ms (median of `repeats` switches to it), through AppTest, no browser.

    The server's cost of one page switch for the configuration in `query`; `python -m explorer bench` runs it
    with and without chart validation (see `chart_spec`).
    """
    import statistics
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[1]
    pages = sorted(f"app_pages/{path.name}" for path in (root / "app_pages").glob("*.py"))
    app = AppTest.from_file(str(root / "app.py"), default_timeout=600)
    for name, value in query.items():
        app.query_params[name] = value
    app.run()
    for page in pages:  # first visits: models loaded, caches filled
        app.switch_page(page).run()
    times: dict[str, list[float]] = {page: [] for page in pages}
    for _ in range(repeats):
        for page in pages:
            started = time.perf_counter()
            app.switch_page(page).run()
            times[page].append((time.perf_counter() - started) * 1000)
            if app.exception:
                raise RuntimeError(f"{page}: {app.exception[0].value}")
    return {Path(page).stem: statistics.median(values) for page, values in times.items()}


# -- output ---------------------------------------------------------------------------------------------------


PRESENTER_CSS = """
<style>
  section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none; }
  .stApp, .stMarkdown p, .stMarkdown li, .stCaption, label { font-size: 1.35rem !important; }
  h1 { font-size: 3rem !important; } h2, h3 { font-size: 2.1rem !important; }
  [data-testid="stMetricValue"] { font-size: 3rem !important; }
  /* The top navigation bar is fixed and 60 px tall: start below it, or it covers the figure bar's buttons. */
  .block-container { max-width: 100% !important; padding-top: 5rem !important; }
  [data-testid="stDownloadButton"] { display: none; }
</style>
"""


def presenter_mode() -> bool:
    """`?present=1`: large type, no sidebar, no download clutter, one figure at a time, for a projector.

    Figures are stepped through with the Previous/Next buttons or the arrow keys (← →); the figure number is kept
    in the URL as `fig`, so a teacher can prepare a link to the exact figure. Shown as a sidebar toggle too.
    """
    on = st.query_params.get("present") == "1"
    if (
        st.sidebar.toggle(
            "Presenter mode",
            value=on,
            key="presenter",
            help="Large type, no sidebar and one figure at a time for a projector; leave with ?present=0.",
        )
        != on
    ):
        st.query_params["present"] = "0" if on else "1"
        st.rerun()
    state = st.session_state
    state["_figures_seen"] = 0
    state["_presenting"] = on
    if on:
        st.html(PRESENTER_CSS)
        if "figure" not in state:
            state["figure"] = _int_param("fig", 1, 1, 10_000)
        state["_figure_bar"] = st.container()
    return on


def presenter_controls() -> None:
    """After the page ran: the figure stepper of presenter mode (the page's figures are counted by now)."""
    state = st.session_state
    if not state.get("_presenting"):
        return
    total = state.get("_figures_seen", 0)
    with state.pop("_figure_bar"):
        if total == 0:
            st.caption("Presenter mode: this page has no figures. Remove `present=1` from the address to leave.")
            return
        shown = min(max(1, state["figure"]), total)
        if shown != state["figure"]:  # a link or an earlier page asked for a figure this page does not have
            state["figure"] = shown
            st.rerun()
        left, middle, right = st.columns([1, 2, 1], vertical_alignment="center")
        left.button(
            "◀ Previous",
            key="figure_previous",
            on_click=_step_figure,
            args=(-1, total),
            disabled=shown == 1,
            shortcut="Left",
            width="stretch",
        )
        middle.markdown(f"**Figure {shown} of {total}** · ← → to step · `present=0` in the address to leave")
        right.button(
            "Next ▶",
            key="figure_next",
            on_click=_step_figure,
            args=(1, total),
            disabled=shown == total,
            shortcut="Right",
            width="stretch",
        )
    if st.query_params.get("fig") != str(shown):
        st.query_params["fig"] = str(shown)


def _step_figure(delta: int, total: int) -> None:
    state = st.session_state
    state["figure"] = min(max(1, min(state["figure"], total) + delta), total)


def figure_shown() -> bool:
    """Count a figure of the page; in presenter mode only the chosen one is drawn (the others return False)."""
    state = st.session_state
    state["_figures_seen"] = state.get("_figures_seen", 0) + 1
    return not state.get("_presenting") or state["_figures_seen"] == state.get("figure", 1)


def _int_param(name: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(low, int(st.query_params.get(name, default))), high)
    except (TypeError, ValueError):
        return default


# -- page controls kept in the URL ----------------------------------------------------------------------------


def remembered_point(key: str, param: str, count: int) -> int | None:
    """An index into `count` items picked on a chart: this session's pick, else the link's, else None."""
    state = st.session_state
    if key not in state and st.query_params.get(param) is not None:
        state[key] = _int_param(param, 0, 0, count - 1)
    value = state.get(key)
    return value if isinstance(value, int) and 0 <= value < count else None


def remember_point(key: str, param: str, value: int | None) -> None:
    if value is None:
        return
    st.session_state[key] = int(value)
    if st.query_params.get(param) != str(value):
        st.query_params[param] = str(value)


def url_control(widget, label: str, options, *, key: str, param: str, default, many: bool = False, **kwargs):
    """A choice widget (radio, selectbox, select_slider, multiselect) whose value is kept in the URL as `param`.

    The first run of a session takes the value from the link when it is one of `options` (else `default`); later
    runs keep the user's choice and write it back, so a shared link or a reload shows the same view. A remembered
    value that is no longer among the options (another model, fewer units) falls back to `default`.
    """
    state = st.session_state
    options = list(options)
    names = {str(option): option for option in options}

    def valid(value) -> bool:
        if many:
            return isinstance(value, list) and all(str(v) in names for v in value)
        return str(value) in names

    if key not in state:
        raw = st.query_params.get(param)
        if raw is not None:
            state[key] = [names[p] for p in raw.split(",") if p in names] if many else names.get(raw, default)
        else:
            state[key] = default
    if not valid(state[key]):
        state[key] = default
    value = widget(label, options, key=key, **kwargs)
    text = ",".join(str(v) for v in value) if many else str(value)
    if st.query_params.get(param) != text:
        st.query_params[param] = text
    return value


def chart_with_downloads(chart: alt.TopLevelMixin, data: pd.DataFrame, name: str, key: str | None = None):
    """Show an Altair chart with PNG, SVG and CSV downloads of it (vl-convert renders without a browser)."""
    if not figure_shown():
        return
    spec = chart_spec(chart)
    st.vega_lite_chart(spec, width="stretch")
    key = key or name
    columns = st.columns(3)
    columns[0].download_button(
        "PNG",
        data=lambda: _render(chart, "png"),
        file_name=f"{name}.png",
        mime="image/png",
        key=f"{key}_png",
        on_click="ignore",
    )
    columns[1].download_button(
        "SVG",
        data=lambda: _render(chart, "svg"),
        file_name=f"{name}.svg",
        mime="image/svg+xml",
        key=f"{key}_svg",
        on_click="ignore",
    )
    columns[2].download_button(
        "CSV",
        data=data.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
    )


def _altair_lock():
    """Altair's data transformer and theme are process-wide; Streamlit switches them for every chart it sends,
    under this lock. Serialising a chart ourselves while another session's chart is being sent must take it too,
    or ours runs with Streamlit's transformer half switched in (seen in the 30-user load test)."""
    try:
        from streamlit.elements.vega_charts import _altair_globals_lock

        return _altair_globals_lock
    except ImportError:  # a Streamlit without it: serialise among our own calls at least
        return _FALLBACK_ALTAIR_LOCK


_FALLBACK_ALTAIR_LOCK = threading.Lock()


def chart_spec(chart: alt.TopLevelMixin, theme: str = "none") -> dict[str, Any]:
    """The chart as a Vega-Lite spec with its data in `datasets`, made without Altair's schema validation.

    `st.altair_chart` validates the whole spec against the Vega-Lite JSON schema on every script run, and
    Altair validates each encoding channel as it is built (see `_fast_altair`): measured with py-spy, that
    validation was most of the States page's server time per rerun, which a class of thirty pays thirty times
    per click. The test suite sets `SEQ2SEQ_VALIDATE_CHARTS=1`, so every chart every page makes in AppTest and in
    the browser tests is still validated; a page view need not do it again. Altair's data transformer and
    theme are process-wide, hence the lock. On the page Altair's theme is off, as Streamlit has it, so that the
    app's own theme applies; the downloads keep Altair's default sizes.
    """
    with _altair_lock(), alt.theme.enable(theme), alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict(validate=VALIDATE_CHARTS)


def _fast_altair() -> None:
    """Stop Altair from validating every schema object when it is made (its "debug mode").

    The checks only improve the messages of a chart built wrongly, which the viz tests would catch; on a page
    they cost tens of milliseconds per chart per run. `chart_spec` skips the final validation as well.
    """
    disable = getattr(getattr(alt.utils, "schemapi", None), "disable_debug_mode", None)
    if callable(disable) and not VALIDATE_CHARTS:
        disable()


_fast_altair()


def _render(chart: alt.TopLevelMixin, kind: str) -> bytes:
    """The chart as PNG or SVG, made only when its download button is clicked."""
    import vl_convert

    spec = chart_spec(chart, theme="default")
    if kind == "png":
        return vl_convert.vegalite_to_png(spec, scale=2)
    return vl_convert.vegalite_to_svg(spec).encode("utf-8")


def dot_with_download(dot: str, name: str, key: str | None = None) -> None:
    """Show a Graphviz figure with a download of its DOT source."""
    if not figure_shown():
        return
    st.graphviz_chart(dot, width="stretch")
    st.download_button(
        "DOT source",
        data=dot.encode("utf-8"),
        file_name=f"{name}.dot",
        mime="text/vnd.graphviz",
        key=f"{key or name}_dot",
        on_click="ignore",
    )


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


# -- the typed input and the shared time-step cursor ---------------------------------------------------------


def _sample_text(config: RunConfig) -> str:
    from explorer.tasks import make_batch

    sample = make_batch(config.task, 1, seed=2024).encoder_inputs[0]
    if sample.ndim == 2:  # series: (time, 1)
        return ", ".join(f"{v:.2f}" for v in sample[:, 0])
    return ", ".join(str(int(v)) for v in sample)


def sequence_input(config: RunConfig | None = None):
    """The sequence the student typed, validated against the task; shared by every page and kept in the URL.

    Returns the parsed 1-D array. On bad input it shows what is wrong and falls back to the last valid sequence
    (or a sample), so nothing the student typed is lost and no figure breaks.
    """
    from explorer.tasks import parse_sequence

    config = config or current_config()
    state = st.session_state
    signature = json.dumps([config.task.name, config.task.input_length, config.task.cardinality])
    if state.get("sequence_for") != signature:
        url_text = st.query_params.get("seq") if "sequence_for" not in state else None
        state["sequence_text"] = url_text or _sample_text(config)
        state["sequence_for"] = signature
        state.pop("sequence_valid", None)
    text = st.text_input(
        "Input sequence",
        key="sequence_text",
        help=f"{config.task.input_length} values separated by commas or spaces"
        + (f", each from 1 to {config.task.cardinality}" if TASKS[config.task.name].values == "tokens" else ""),
    )
    try:
        sequence = parse_sequence(text, config.task)
    except ValueError as error:
        fallback = state.get("sequence_valid") or _sample_text(config)
        st.error(f"That input cannot be used: {error}. Showing {fallback} instead.")
        sequence = parse_sequence(fallback, config.task)
    else:
        state["sequence_valid"] = text
        if st.query_params.get("seq") != text.strip():
            st.query_params["seq"] = text.strip()
    return sequence


def step_cursor(length: int, label: str = "Output step") -> int:
    """The shared time-step cursor (1-based), kept across pages and in the URL as `step`."""
    state = st.session_state
    if "cursor" not in state:
        try:
            state["cursor"] = int(st.query_params.get("step", 1))
        except ValueError:
            state["cursor"] = 1
    state["cursor"] = min(max(1, int(state["cursor"])), max(1, length))
    if length <= 1:
        st.caption(f"{label}: 1 (the only one)")
        return 1
    step = st.slider(f"{label} (highlighted on the graph, the states and the attention)", 1, length, key="cursor")
    if st.query_params.get("step") != str(step):
        st.query_params["step"] = str(step)
    return step


def code_expander(code: str) -> None:
    with st.expander("The Keras code behind this figure"):
        st.code(code.strip(), language="python")
