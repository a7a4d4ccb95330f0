"""Page controls whose values live in the URL: choices, the typed sequence, the time-step cursor, a picked point.

- `url_choice(...)` / `url_number(...)`: a page's own control, kept in the URL by Streamlit itself
  (`bind="query-params"`, the widget's key is the parameter's name). Streamlit drops a bad value from a link
  without a word, so the first read of each parameter in a session is checked here, and a link that asked for
  something the page cannot show says so beside the control until the user picks a value.
- `sequence_input()` and `step_cursor()`: the typed sequence (`seq`) and the cursors (`OUTPUT_STEP` as `step`,
  `LAYER_STEP` as `layer_step`) are shared by every page, so they are kept in session state and written to the
  URL here: Streamlit scopes a bound parameter to the page whose widget owns it and removes it from the URL on a
  page switch. `set_sequence()` changes the typed sequence from a button's callback.
- `pick_point_on_select(...)`: an `on_select` callback that turns a click on a chart into a control's value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from explorer import tasks
from explorer.config import RunConfig
from explorer.tasks import SAMPLE_SEED, TASKS
from explorer.ui.locks import control_frame, locked
from explorer.ui.picker import current_config

# Session-state key of the link problems found on first reads: {parameter: message}, shown until the user
# picks a value for that control.
_LINK_PROBLEMS = "_link_problems"
_LINKS_READ = "_links_read"
# Session-state key of the keys (= URL parameter names) of the page controls this session has drawn.
_BOUND_KEYS = "_bound_keys"
# Session-state key of the values of the page controls drawn in this run, as their URL parameters write them.
_DRAWN_VALUES = "_drawn_controls"

# The argument through which each choice widget takes its default value.
_DEFAULT_ARGUMENT = {"radio": "index", "selectbox": "index", "select_slider": "value", "multiselect": "default"}


def int_param(name: str, default: int, low: int, high: int) -> int:
    """The URL parameter `name` as an int clamped to [low, high]; `default` when missing or not a number."""
    try:
        return min(max(low, int(st.query_params.get(name, default))), high)
    except (TypeError, ValueError):
        return default


def _as_code(key: str, value: str) -> str:
    """`key=value` from a link, shortened and set as code, so that nothing in it renders as Markdown (a link)."""
    shown = value[:30] + ("…" if len(value) > 30 else "")
    return "`" + f"{key}={shown}".replace("`", "'") + "`"


def _first_read(key: str, problem: Callable[[], str | None]) -> None:
    """Once per session and parameter: record what is wrong with the link's value, if anything."""
    state = st.session_state
    read = state.setdefault(_LINKS_READ, set())
    if key in read:
        return
    read.add(key)
    message = problem()
    if message:
        state.setdefault(_LINK_PROBLEMS, {})[key] = message


def _show_link_problem(key: str) -> None:
    message = st.session_state.get(_LINK_PROBLEMS, {}).get(key)
    if message:
        st.warning(message)


def _forget_link_problem(key: str) -> None:
    st.session_state.get(_LINK_PROBLEMS, {}).pop(key, None)


def url_choice(
    widget: Callable[..., Any],
    label: str,
    options: Iterable,
    *,
    key: str,
    default,
    format_func: Callable[[Any], str] = str,
    **kwargs,
):
    """A choice widget (`st.radio`, `st.selectbox`, `st.select_slider`, `st.multiselect`) kept in the URL as `key`.

    Streamlit reads the link's value on the first run, writes the user's choices back, keeps the value while the
    user visits other pages, and leaves the parameter out of the URL while it equals `default` (a list for
    `st.multiselect`). In the URL a choice is written as `format_func(option)`, the label the user sees.
    """
    options = list(options)
    labels = [format_func(option) for option in options]
    many = widget.__name__ == "multiselect"
    default_argument = _DEFAULT_ARGUMENT[widget.__name__]

    def problem() -> str | None:
        wanted = [v for v in st.query_params.get_all(key) if v != ""] if many else [st.query_params.get(key)]
        bad = [value for value in wanted if value is not None and value not in labels]
        if not bad:
            return None
        shown = "; ".join(labels) if len(labels) <= 10 else "; ".join([*labels[:10], "…"])
        fallback = ", ".join(format_func(v) for v in default) if many else format_func(default)
        asked = ", ".join(_as_code(key, value) for value in bad)
        return f"The link's {asked} is not a choice here ({shown}); showing {fallback}."

    _first_read(key, problem)
    _show_link_problem(key)
    st.session_state.setdefault(_BOUND_KEYS, set()).add(key)
    default_value = options.index(default) if default_argument == "index" else default
    kwargs.setdefault("disabled", locked("controls"))
    with control_frame(key):
        value = widget(
            label,
            options,
            key=key,
            format_func=format_func,
            bind="query-params",
            on_change=_forget_link_problem,
            args=(key,),
            **{default_argument: default_value},
            **kwargs,
        )
    _drawn(key, ",".join(format_func(v) for v in value) if many else format_func(value))
    return value


def url_number(label: str, low: int, high: int, *, key: str, default: int = 0, **kwargs) -> int:
    """A whole-number input from `low` to `high` kept in the URL as `key` (see `url_choice`)."""

    def problem() -> str | None:
        raw = st.query_params.get(key)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            return f"The link's {_as_code(key, raw)} is not a whole number; showing {default}."
        if not low <= value <= high:
            return f"The link's {_as_code(key, raw)} is outside {low}..{high}; showing {default}."
        return None

    _first_read(key, problem)
    _show_link_problem(key)
    st.session_state.setdefault(_BOUND_KEYS, set()).add(key)
    kwargs.setdefault("disabled", locked("controls"))
    with control_frame(key):
        value = st.number_input(
            label,
            low,
            high,
            value=default,
            step=1,
            key=key,
            bind="query-params",
            on_change=_forget_link_problem,
            args=(key,),
            **kwargs,
        )
    _drawn(key, str(int(value)))
    return int(value)


def _drawn(key: str, text: str) -> None:
    st.session_state.setdefault(_DRAWN_VALUES, {})[key] = text


def start_drawn_controls() -> None:
    """Forget the controls the last run drew; `app.py` calls it before the page runs."""
    st.session_state[_DRAWN_VALUES] = {}


def drawn_controls() -> dict[str, str]:
    """The page controls this run drew (the URL-bound choices and numbers, the typed input and the cursors), each as
    its URL parameter writes it: what the learner has in front of them. (Streamlit writes a bound control's value to
    the URL in the browser, so the server's `st.query_params` may not have it yet within the run.)"""
    return dict(st.session_state.get(_DRAWN_VALUES, {}))


def forget_page_controls() -> None:
    """Forget what this session read from its link and what its page controls hold (the typed sequence, the
    cursors, every URL-bound control), so that the next run reads them all from the URL again, as a fresh session
    opening that link would. Called before switching to a link's page (a lesson's step)."""
    state = st.session_state
    for key in (*state.get(_BOUND_KEYS, ()), _TYPED_FOR, _TYPED, "sequence_valid", _LINKS_READ, _LINK_PROBLEMS):
        state.pop(key, None)
    for cursor in (OUTPUT_STEP, LAYER_STEP):
        state.pop(cursor.key, None)


def pick_point_on_select(chart_key: str, selection: str, field: str, target_key: str) -> Callable[[], None]:
    """An `on_select` callback: the `field` of the point just clicked in `selection` becomes the value of the
    control `target_key`, before the rerun the click causes (one click, one rerun; reading the selection in the
    page and calling `st.rerun()` took two)."""
    return pick_fields_on_select(chart_key, selection, {field: target_key})


def pick_fields_on_select(chart_key: str, selection: str, targets: dict[str, str]) -> Callable[[], None]:
    """`pick_point_on_select` for several fields at once: each `field` of the clicked point becomes the value of
    the control `targets[field]` (a heatmap cell's step and unit, say)."""

    def on_select() -> None:
        picked = st.session_state[chart_key]["selection"].get(selection) or []
        if picked and all(field in picked[0] for field in targets):
            for field, target_key in targets.items():
                st.session_state[target_key] = int(picked[0][field])

    return on_select


def format_sequence(config: RunConfig, sequence: np.ndarray) -> str:
    """A sequence as the student would type it (see `explorer.tasks.format_sequence`)."""
    return tasks.format_sequence(config.task, sequence)


def _sample_text(config: RunConfig, seed: int | None = SAMPLE_SEED) -> str:
    """A valid input for `config`'s task: the same one every time (the one lessons open with), or a fresh one
    when `seed` is None."""
    from explorer.tasks import make_batch

    seed = int(np.random.default_rng().integers(2**31)) if seed is None else seed
    return format_sequence(config, make_batch(config.task, 1, seed=seed).encoder_inputs[0])


# The typed sequence, kept outside the text box's own state: Streamlit drops a widget's state in any run that does
# not draw it (a visit to a page without the box) and on a page switch, so the box is refilled from here each run.
_TYPED = "sequence_typed"
_TYPED_FOR = "sequence_for"


def set_sequence(text: str) -> None:
    """Make `text` the typed sequence on every page; call from a callback (before the box is drawn)."""
    st.session_state[_TYPED] = text
    st.session_state["sequence_text"] = text


def _keep_typed() -> None:
    st.session_state[_TYPED] = st.session_state["sequence_text"]


def sequence_input(config: RunConfig | None = None) -> np.ndarray:
    """The sequence the student typed, validated against the task; shared by every page and kept in the URL.

    Beside the box, "Random input" puts a fresh valid input in it. Returns the parsed 1-D array. On bad input it
    shows what is wrong and falls back to the last valid sequence (or a sample), so nothing the student typed is
    lost and no figure breaks.
    """
    from explorer.tasks import parse_sequence

    config = config or current_config()
    state = st.session_state
    signature = json.dumps([config.task.name, config.task.input_length, config.task.cardinality])
    if state.get(_TYPED_FOR) != signature:
        # A new session reads the link's sequence; a new task or length starts from a sample.
        url_text = st.query_params.get("seq") if _TYPED_FOR not in state else None
        state[_TYPED] = url_text or _sample_text(config)
        state[_TYPED_FOR] = signature
        state.pop("sequence_valid", None)
    state["sequence_text"] = state[_TYPED]
    with control_frame("sequence"):
        box, button = st.columns([5, 1], vertical_alignment="bottom")
    text = box.text_input(
        "Input sequence",
        key="sequence_text",
        on_change=_keep_typed,
        disabled=locked("controls"),
        help=TASKS[config.task.name].input_hint(config.task),
    )
    button.button(
        "Random input",
        key="sequence_random",
        on_click=lambda: set_sequence(_sample_text(config, seed=None)),
        help="Put a fresh random input of the right length in the box.",
        width="stretch",
        disabled=locked("controls"),
    )
    try:
        sequence = parse_sequence(text, config.task)
    except ValueError as error:
        fallback = state.get("sequence_valid") or _sample_text(config)
        st.error(f"That input cannot be used: {error}. Showing {fallback} instead.")
        sequence = parse_sequence(fallback, config.task)
        _drawn("seq", fallback.strip())
    else:
        state["sequence_valid"] = text
        if st.query_params.get("seq") != text.strip():
            st.query_params["seq"] = text.strip()
    _drawn("seq", text.strip())
    return sequence


@dataclass(frozen=True)
class Cursor:
    """A time-step slider shared by the pages that draw it, kept in session state and in the URL as `param`.

    Each URL parameter has one meaning on every page: `OUTPUT_STEP` is the decoder's output step wherever it is
    shown; `LAYER_STEP` is a recurrent layer's own time step (the States page), which for an encoder layer is an
    input step and so gets a parameter of its own.
    """

    param: str
    key: str
    label: str
    help: str


OUTPUT_STEP = Cursor(
    "step",
    "cursor",
    "Output step: the decoder's step t, which writes output t",
    "The same output step is marked on the Unrolled graph, Attention and Decoding pages. (The States page has "
    "its own cursor, the chosen layer's time step.)",
)
LAYER_STEP = Cursor(
    "layer_step",
    "layer_cursor",
    "Time step of this layer",
    "The chosen layer's own time step, not the output step: an encoder layer's step t reads input step t.",
)


def step_cursor(length: int, cursor: Cursor = OUTPUT_STEP, label: str | None = None) -> int:
    """The 1-based position of `cursor` (a slider over 1..`length`), kept across pages and in the URL."""
    state = st.session_state
    label = label or cursor.label
    if cursor.key not in state:
        state[cursor.key] = int_param(cursor.param, 1, 1, max(1, length))
    state[cursor.key] = min(max(1, int(state[cursor.key])), max(1, length))
    if length <= 1:
        st.caption(f"{label}: 1 (the only one)")
        return 1
    with control_frame(cursor.key):
        step = st.slider(label, 1, length, key=cursor.key, help=cursor.help, disabled=locked("controls"))
    if st.query_params.get(cursor.param) != str(step):
        st.query_params[cursor.param] = str(step)
    _drawn(cursor.param, str(step))
    return step
