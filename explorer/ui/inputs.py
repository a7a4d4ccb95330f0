"""Page controls whose values live in the URL: choices, the typed sequence, the time-step cursor, a picked point.

- `url_choice(...)` / `url_number(...)`: a page's own control, kept in the URL by Streamlit itself
  (`bind="query-params"`, the widget's key is the parameter's name). Streamlit drops a bad value from a link
  without a word, so the first read of each parameter in a session is checked here, and a link that asked for
  something the page cannot show says so beside the control until the user picks a value.
- `sequence_input()` and `step_cursor()`: the typed sequence (`seq`) and the output step (`step`) are shared by
  every page, so they are kept in session state and written to the URL here: Streamlit scopes a bound
  parameter to the page whose widget owns it and removes it from the URL on a page switch.
- `pick_point_on_select(...)`: an `on_select` callback that turns a click on a chart into a control's value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import streamlit as st

from explorer.config import RunConfig
from explorer.tasks import TASKS
from explorer.ui.picker import current_config

# Session-state key of the link problems found on first reads: {parameter: message}, shown until the user
# picks a value for that control.
_LINK_PROBLEMS = "_link_problems"
_LINKS_READ = "_links_read"

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
    default_value = options.index(default) if default_argument == "index" else default
    return widget(
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
    return int(
        st.number_input(
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
    )


def pick_point_on_select(chart_key: str, selection: str, field: str, target_key: str) -> Callable[[], None]:
    """An `on_select` callback: the `field` of the point just clicked in `selection` becomes the value of the
    control `target_key`, before the rerun the click causes (one click, one rerun; reading the selection in the
    page and calling `st.rerun()` took two)."""

    def on_select() -> None:
        picked = st.session_state[chart_key]["selection"].get(selection) or []
        if picked and field in picked[0]:
            st.session_state[target_key] = int(picked[0][field])

    return on_select


def _sample_text(config: RunConfig) -> str:
    from explorer.tasks import make_batch

    sample = make_batch(config.task, 1, seed=2024).encoder_inputs[0]
    if sample.ndim == 2:  # series: (time, 1)
        return ", ".join(f"{v:.2f}" for v in sample[:, 0])
    return ", ".join(str(int(v)) for v in sample)


def sequence_input(config: RunConfig | None = None) -> np.ndarray:
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
        state["cursor"] = int_param("step", 1, 1, max(1, length))
    state["cursor"] = min(max(1, int(state["cursor"])), max(1, length))
    if length <= 1:
        st.caption(f"{label}: 1 (the only one)")
        return 1
    step = st.slider(f"{label} (highlighted on the graph, the states and the attention)", 1, length, key="cursor")
    if st.query_params.get("step") != str(step):
        st.query_params["step"] = str(step)
    return step
