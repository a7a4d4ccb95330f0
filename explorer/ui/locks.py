"""Lesson links for teachers: lock or hide chosen groups of controls, and copy the link.

A link's `lock=picker,training` shows those controls disabled; `hide=params,controls` leaves them off the page (the
values they hold, from the link, still apply). The groups are the picker's task and architecture, its parameters,
its training settings (with the buttons that start training), and a page's own controls (the typed input, the
cursors and every choice a page offers). The widgets ask `locked(group)` for their `disabled=`, and `hidden_css()`
hides the hidden groups' widgets by their keys (Streamlit gives a keyed widget or container the CSS class
`st-key-<key>`; a page control draws itself in a container keyed `hidden_control_<key>` while hidden), so a hidden
control keeps its value and its place in the session while the learner never sees it.

The settings are read from the session's first link and kept for the session (a page switch in the navigation
empties the URL; they are written back on every run), and a lesson's step change carries them to the next step.
A disabled widget cannot be changed from the page; this is a teaching aid, not access control: a learner who
edits the URL gets an unlocked page, as they could by opening the app without the link.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

import streamlit as st

# Group -> what it covers, in the teacher's words.
GROUPS: dict[str, str] = {
    "picker": "task and architecture (the sidebar's and presenter mode's pickers, and the pages' model buttons)",
    "params": "the model's parameters",
    "training": "training settings and the buttons that start or cancel training",
    "controls": "each page's own controls: the typed input, the cursors and the page's choices",
}
# Widget keys (and key prefixes, ending in "_") of the controls in each group, for hiding them.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "picker": ("pick_task", "pick_arch", "use_", "try_", "switch_score", "attention_score"),
    "params": (
        "pick_input_length",
        "pick_output_length",
        "pick_cardinality",
        "pick_series_mode",
        "pick_cell",
        "pick_units",
        "pick_score",
        "pick_reverse",
        "picker_parameters",
    ),
    "training": (
        "pick_epochs",
        "pick_lr",
        "pick_batch",
        "pick_schedule",
        "pick_l1",
        "pick_l2",
        "pick_clip",
        "pick_clip_value",
        "picker_training",
        "train",
        "train_",
        "cancel",
        "join",
    ),
    # The page controls draw themselves in a container keyed with this prefix while they are hidden.
    "controls": ("hidden_control_",),
}
LOCK_PARAM = "lock"
HIDE_PARAM = "hide"
_STATE = "_locks"
_PROBLEM = "_lock_problem"


def _parse(text: str | None) -> tuple[frozenset[str], list[str]]:
    """The groups a link's `lock` or `hide` names, and the names it gives that are no group."""
    parts = [part for part in (text or "").replace(" ", "").split(",") if part]
    return frozenset(part for part in parts if part in GROUPS), [part for part in parts if part not in GROUPS]


def read_locks() -> None:
    """Once per session, from its first link: which groups are locked and hidden (a name that is no group is
    left out, with a message); then written back into the URL on every run (the app's entry point calls it before
    drawing anything)."""
    state = st.session_state
    if _STATE not in state:
        hidden_groups, unknown = _parse(st.query_params.get(HIDE_PARAM))
        locked_groups, more_unknown = _parse(st.query_params.get(LOCK_PARAM))
        state[_STATE] = {LOCK_PARAM: locked_groups - hidden_groups, HIDE_PARAM: hidden_groups}
        if unknown or more_unknown:
            names = ", ".join(repr(name[:20]) for name in [*more_unknown, *unknown][:5])
            state[_PROBLEM] = f"The link locks or hides {names}, which this app does not have; groups: " + (
                ", ".join(GROUPS) + "."
            )
    if _PROBLEM in state:
        st.sidebar.warning(state[_PROBLEM])
    for param, groups in state[_STATE].items():
        text = ",".join(sorted(groups))
        if not text:
            st.query_params.pop(param, None)
        elif st.query_params.get(param) != text:
            st.query_params[param] = text


def control_frame(key: str):
    """Where a page control is drawn: a container that `hidden_css` hides while the page controls are hidden."""
    if hidden("controls"):
        return st.container(key=f"hidden_control_{key}")
    return contextlib.nullcontext()


def locked(group: str) -> bool:
    """Whether the group's controls may not be changed (locked or hidden)."""
    settings = st.session_state.get(_STATE, {})
    return group in settings.get(LOCK_PARAM, ()) or group in settings.get(HIDE_PARAM, ())


def hidden(group: str) -> bool:
    return group in st.session_state.get(_STATE, {}).get(HIDE_PARAM, ())


def any_locks() -> bool:
    settings = st.session_state.get(_STATE, {})
    return bool(settings.get(LOCK_PARAM) or settings.get(HIDE_PARAM))


def hidden_css() -> str:
    """CSS that hides the hidden groups' widgets (drawn once per run, before the page)."""
    selectors = []
    for group in sorted(st.session_state.get(_STATE, {}).get(HIDE_PARAM, ())):
        for key in GROUP_KEYS[group]:
            selectors.append(f'[class*="st-key-{key}"]' if key.endswith("_") else f".st-key-{key}")
    if not selectors:
        return ""
    return "<style>" + ", ".join(selectors) + " { display: none !important; }</style>"


def link_with_locks(params: dict[str, str], lock: set[str], hide: set[str]) -> str:
    """The app's link (from the browser's address, without its query) with `params` and the chosen locks."""
    query = {key: value for key, value in params.items() if key not in (LOCK_PARAM, HIDE_PARAM, "present", "fig")}
    if lock - hide:
        query[LOCK_PARAM] = ",".join(sorted(lock - hide))
    if hide:
        query[HIDE_PARAM] = ",".join(sorted(hide))
    base = st.context.url or ""
    return f"{base}?{urlencode(query)}"


def link_builder() -> None:
    """The sidebar's "Link for your class": choose what to lock and hide, and copy the link to this view."""
    with st.sidebar.expander("🔒 Link for your class", expanded=False):
        st.caption(
            "Students who open it get this exact view (model, input, page controls, and the lesson step, if one "
            "runs), with the chosen controls locked or hidden."
        )
        lock = st.multiselect(
            "Lock (shown, cannot be changed)", list(GROUPS), format_func=_group_label, key="link_lock"
        )
        hide = st.multiselect("Hide", list(GROUPS), format_func=_group_label, key="link_hide")
        st.code(link_with_locks(st.query_params.to_dict(), set(lock), set(hide)), language=None, wrap_lines=True)


def _group_label(group: str) -> str:
    return f"{group}: {GROUPS[group]}"
