"""The sidebar picker shared by every page: task, architecture, their parameters and the training settings.

`picker()` draws it and returns the picked `RunConfig`; pages read it back with `current_config()`, and a button
can make another configuration the picked one with `use_config` (as its `on_click`). Which fields show comes
from the registries (a task's `output_length_is_free` and `values`, an architecture's `scores` and
`uses_schedule`); this module names no task and no architecture.

The picked configuration lives in the URL as the full set of `explorer.urlstate` parameters, written back after
every run, so a link reproduces the exact configuration even after a release changes the defaults. The link is
read once per session through `config_from_params`, which says in plain words what it could not use. (The
picker does not use Streamlit's `bind="query-params"`: a bound widget drops its value from the URL when it
equals the widget's default and silently ignores a bad value, and a picker field's default depends on the task.)
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.architectures import ARCHITECTURES
from explorer.config import CELL_TYPES, SCHEDULES, SERIES_MODES, RunConfig
from explorer.presets import compatible_archs, default_config
from explorer.tasks import DEFAULT_TASK, TASKS
from explorer.ui.locks import locked
from explorer.urlstate import GRADIENT_CLIPS, config_from_params, params_from_config

UNIT_CHOICES = (4, 8, 16, 32, 64, 128, 256)
RATE_CHOICES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
BATCH_CHOICES = (8, 16, 32, 64, 128, 256, 512)
PENALTY_CHOICES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
CLIP_LABELS = {
    "none": "none",
    "clipnorm": "clipnorm: each weight's gradient norm",
    "clipvalue": "clipvalue: each gradient entry",
    "global_clipnorm": "global_clipnorm: all gradients' norm together",
}

# Session-state keys of the picker's widgets, by config field. Streamlit forgets a widget's value when the widget
# is not drawn in a run (e.g. the output length for a task that ties it to the input), so `_ensure_keys` refills
# whichever are missing before the picker draws.
FIELD_KEYS = {
    "task": "pick_task",
    "arch": "pick_arch",
    "input_length": "pick_input_length",
    "output_length": "pick_output_length",
    "cardinality": "pick_cardinality",
    "series_mode": "pick_series_mode",
    "cell": "pick_cell",
    "units": "pick_units",
    "score": "pick_score",
    "epochs": "pick_epochs",
    "learning_rate": "pick_lr",
    "batch_size": "pick_batch",
    "teacher_forcing": "pick_schedule",
    "reverse_source": "pick_reverse",
    "l1": "pick_l1",
    "l2": "pick_l2",
}
# Gradient clipping is three config fields but one choice in the picker (which kind, at what value).
CLIP_KEYS = ("pick_clip", "pick_clip_value")


def _options(choices: tuple, current) -> list:
    """A slider's stops, plus the current value when it came from a preset or a link and is not among them."""
    return sorted({*choices, current})


def picker() -> RunConfig:
    """Draw the sidebar picker and return the picked configuration (also kept as `st.session_state["config"]`)."""
    state = st.session_state
    if "picker_ready" not in state:
        config, problems = config_from_params(st.query_params.to_dict())
        state["picker_problems"] = problems
        _load_widgets(config)
        state["picker_ready"] = True

    _ensure_keys()
    sidebar = st.sidebar
    sidebar.header("Model")
    fixed, fixed_params, fixed_training = locked("picker"), locked("params"), locked("training")
    task = sidebar.selectbox(
        "Task",
        list(TASKS),
        key="pick_task",
        on_change=_task_changed,
        format_func=lambda n: f"{n} · {TASKS[n].kind}",
        disabled=fixed,
    )
    task_entry = TASKS[task]
    archs = compatible_archs(task)
    if state.get("pick_arch") not in archs:
        state["pick_arch"] = task_entry.default_arch if task_entry.default_arch in archs else archs[0]
    arch = sidebar.selectbox("Architecture", archs, key="pick_arch", on_change=_arch_changed, disabled=fixed)
    arch_entry = ARCHITECTURES[arch]
    with sidebar.expander("Parameters", expanded=False, key="picker_parameters"):
        offered = set(FIELD_KEYS) - set(task_entry.fixed_params)  # a task may fix some of its own parameters
        if "input_length" in offered:
            st.number_input("Input length", 1, 60, key="pick_input_length", disabled=fixed_params)
        if task_entry.output_length_is_free and "output_length" in offered:
            st.number_input("Output length (k)", 1, 60, key="pick_output_length", disabled=fixed_params)
        if task_entry.values == "tokens" and "cardinality" in offered:
            st.number_input("Cardinality (symbols 1..n)", 2, 500, key="pick_cardinality", disabled=fixed_params)
        else:
            st.selectbox("Series mode", SERIES_MODES, key="pick_series_mode", disabled=fixed_params)
        st.selectbox("Cell", CELL_TYPES, key="pick_cell", disabled=fixed_params)
        st.select_slider("Units", _options(UNIT_CHOICES, state["pick_units"]), key="pick_units", disabled=fixed_params)
        if len(arch_entry.scores) > 1:
            if state["pick_score"] not in arch_entry.scores:
                state["pick_score"] = default_config(task, arch).model.score
            st.selectbox("Score function", arch_entry.scores, key="pick_score", disabled=fixed_params)
        st.toggle(
            "Reverse the source sequence",
            key="pick_reverse",
            disabled=fixed_params,
            help="The encoder reads the input last symbol first. The first symbols, which the first outputs "
            "need, are then the last ones read, right before the decoder starts: a trick from Sutskever et al.",
        )
    with sidebar.expander("Training", expanded=False, key="picker_training"):
        st.number_input("Epochs (at most)", 1, 200, key="pick_epochs", disabled=fixed_training)
        st.select_slider(
            "Learning rate", _options(RATE_CHOICES, state["pick_lr"]), key="pick_lr", disabled=fixed_training
        )
        st.select_slider(
            "Batch size", _options(BATCH_CHOICES, state["pick_batch"]), key="pick_batch", disabled=fixed_training
        )
        if arch_entry.uses_schedule:
            st.selectbox(
                "Scheduled sampling",
                SCHEDULES,
                key="pick_schedule",
                disabled=fixed_training,
                help="How the chance of feeding the true previous token falls over the epochs.",
            )
        for penalty, label in (("pick_l1", "L1 weight penalty"), ("pick_l2", "L2 weight penalty")):
            st.select_slider(
                label,
                _options(PENALTY_CHOICES, state[penalty]),
                key=penalty,
                disabled=fixed_training,
                format_func=lambda v: "off" if v == 0 else f"{v:g}",
                help="A penalty on the recurrent layers' weights, added to the loss: L1 pushes weights to exactly "
                "zero, L2 keeps them all small.",
            )
        clip = st.selectbox(
            "Gradient clipping",
            list(CLIP_LABELS),
            key="pick_clip",
            disabled=fixed_training,
            format_func=CLIP_LABELS.get,
            help="Caps each update's gradient before the optimizer step, so one steep step cannot throw the "
            "weights far away (see the Gradients page).",
        )
        if clip != "none":
            st.number_input(
                "Clip at",
                min_value=0.0,
                max_value=1e6,
                step=0.1,
                format="%g",
                key="pick_clip_value",
                help="0 is off.",
                disabled=fixed_training,
            )
    config, problem = _config_from_widgets(task, arch)
    for message in state.get("picker_problems", []):
        sidebar.warning(message)
    if problem:
        sidebar.error(problem)
    _to_url(config)
    state["config"] = config
    return config


def reread_link() -> None:
    """Read the picked configuration from the URL again on the next run, as a fresh session opening the link
    would (before switching to a link's page: a lesson's step)."""
    st.session_state.pop("picker_ready", None)
    st.session_state.pop("picker_problems", None)


def use_config(config: RunConfig) -> None:
    """Make `config` the picked one (e.g. from a link on the landing page); call from a button's on_click."""
    _load_widgets(config)


def current_config() -> RunConfig:
    """The configuration the picker settled on in this run (the default one before the picker has run)."""
    return st.session_state.get("config") or default_config()


def _to_url(config: RunConfig) -> None:
    for key, value in params_from_config(config).items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def _load_widgets(config: RunConfig) -> None:
    """Set every picker widget to `config`'s value (before the widgets are drawn, or from a callback)."""
    state = st.session_state
    state[FIELD_KEYS["task"]] = config.task.name
    for field, key in FIELD_KEYS.items():
        section = next((s for s in (config.task, config.model, config.train) if hasattr(s, field)), None)
        if section is not None:
            state[key] = getattr(section, field)
    clip = next((field for field in GRADIENT_CLIPS if getattr(config.train, field)), "none")
    state["pick_clip"] = clip
    state["pick_clip_value"] = float(getattr(config.train, clip)) if clip != "none" else 1.0


def _ensure_keys() -> None:
    """Refill the widgets Streamlit forgot (not drawn in the last run) from the picked task's defaults."""
    state = st.session_state
    keys = [*FIELD_KEYS.values(), *CLIP_KEYS]
    if all(key in state for key in keys):
        return
    saved = {key: state[key] for key in keys if key in state}
    task = saved.get(FIELD_KEYS["task"], DEFAULT_TASK)
    arch = saved.get(FIELD_KEYS["arch"])
    _load_widgets(default_config(task, arch if arch in compatible_archs(task) else None))
    for key, value in saved.items():
        state[key] = value


def _task_changed() -> None:
    """A new task starts from its own defaults (and its default architecture when the old one does not fit)."""
    task = st.session_state["pick_task"]
    arch = st.session_state.get("pick_arch")
    _load_widgets(default_config(task, arch if arch in compatible_archs(task) else None))


def _arch_changed() -> None:
    """A new architecture keeps the task's parameters when it can take them, else starts from its defaults."""
    state = st.session_state
    try:
        config = default_config(state["pick_task"], state["pick_arch"], **_task_values(state["pick_task"]))
    except ValueError:
        config = default_config(state["pick_task"], state["pick_arch"])
    _load_widgets(config)


def _task_values(task: str) -> dict[str, Any]:
    """The task parameters as the widgets hold them; an output length the user does not choose follows the
    task's length rule."""
    state = st.session_state
    entry = TASKS[task]
    values: dict[str, Any] = {"input_length": int(state["pick_input_length"])}
    output_length = int(state["pick_output_length"])
    values["output_length"] = (
        output_length if entry.output_length_is_free else entry.output_length_for(values["input_length"], output_length)
    )
    if entry.values == "tokens":
        values["cardinality"] = int(state["pick_cardinality"])
    else:
        values["series_mode"] = state["pick_series_mode"]
    return values


def _config_from_widgets(task: str, arch: str) -> tuple[RunConfig, str | None]:
    """The widgets' values as a config, or the task's default config and the reason when they do not fit."""
    state = st.session_state
    arch_entry = ARCHITECTURES[arch]
    values = _task_values(task)
    values.update(
        cell=state["pick_cell"],
        units=int(state["pick_units"]),
        epochs=int(state["pick_epochs"]),
        learning_rate=float(state["pick_lr"]),
        batch_size=int(state["pick_batch"]),
        reverse_source=bool(state["pick_reverse"]),
        l1=float(state["pick_l1"]),
        l2=float(state["pick_l2"]),
    )
    for field in GRADIENT_CLIPS:
        values[field] = float(state["pick_clip_value"]) if state["pick_clip"] == field else 0.0
    if arch_entry.uses_schedule:
        values["teacher_forcing"] = state["pick_schedule"]
    if len(arch_entry.scores) > 1:
        values["score"] = state["pick_score"]
    try:
        return default_config(task, arch, **values), None
    except ValueError as error:
        return default_config(task, arch), f"{error}. Showing the default {task} model instead."
