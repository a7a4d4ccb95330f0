"""Presenter mode for a projector: `?present=1` (or the sidebar toggle) shows large type and one figure at a time.

`presenter_mode()` runs before the page and `presenter_controls()` after it (both from `app.py`); in between,
every figure helper asks `figure_shown(key)` whether to draw its figure, and draws it (with its caption) inside
`figure_frame()`.

- Figures are numbered by their keys, in the order a full run of the page meets them. A fragment that reruns on
  its own (the Train page's comparison redraws itself every 2 s) looks its figures up in that numbering rather
  than counting again: counting again numbered them past the end of the page, so they vanished on the first
  redraw.
- The shown figure comes first: the presenter styles move the figure bar and the frame of the shown figure to
  the top of the page, wherever the page draws them, so a 1024x768 projector shows the figure without scrolling.
  Captions are drawn in the frame, so a hidden figure's caption is hidden with it.
- The figure bar steps through the figures (← →), changes the model (task and architecture) and leaves presenter
  mode. The last two are drawn before the page runs, so a page that stops early (`st.stop()`, nothing to show
  for this model) still has them. The figure number is kept in the URL as `fig`, so a teacher can prepare a
  link to the exact figure.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.presets import compatible_archs, default_config
from explorer.tasks import TASKS
from explorer.ui.inputs import int_param
from explorer.ui.locks import locked
from explorer.ui.picker import current_config, use_config

# Keys of the two containers the presenter styles move to the top (Streamlit gives a keyed container the CSS
# class `st-key-<key>`).
BAR_KEY = "presenter_bar"
SHOWN_KEY = "presenter_figure"

PRESENTER_CSS = f"""
<style>
  section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {{ display: none; }}
  .stApp, .stMarkdown p, .stMarkdown li, .stCaption, label {{ font-size: 1.35rem !important; }}
  h1 {{ font-size: 3rem !important; }} h2, h3 {{ font-size: 2.1rem !important; }}
  [data-testid="stMetricValue"] {{ font-size: 3rem !important; }}
  /* The top navigation bar is fixed and 60 px tall: start below it, or it covers the figure bar's buttons. */
  .block-container {{ max-width: 100% !important; padding-top: 4.5rem !important; }}
  [data-testid="stDownloadButton"] {{ display: none; }}
  /* The figure bar, then the shown figure, before everything else on the page: each column of the page is a
     flex box, and `order` moves the child that holds them (the figure may sit inside a fragment's block). */
  [data-testid="stVerticalBlock"] > .st-key-{BAR_KEY},
  [data-testid="stVerticalBlock"] > :has(.st-key-{BAR_KEY}) {{ order: -2; }}
  [data-testid="stVerticalBlock"] > .st-key-{SHOWN_KEY},
  [data-testid="stVerticalBlock"] > :has(.st-key-{SHOWN_KEY}) {{ order: -1; }}
  /* A hovered figure shows its toolbar (fullscreen, downloads) just above its top right corner: leave it room
     below the figure bar, or it covers the bar's Leave button. */
  .st-key-{SHOWN_KEY} {{ padding-top: 2.5rem; }}
</style>
"""


def presenting() -> bool:
    """Whether the link asks for presenter mode; `app.py` reads it before the navigation is drawn."""
    return st.query_params.get("present") == "1"


def presenter_mode() -> bool:
    """`?present=1`: large type, no sidebar, no download clutter, one figure at a time, for a projector.

    Figures are stepped through with the Previous/Next buttons or the arrow keys (← →); the figure number is kept
    in the URL as `fig`, so a teacher can prepare a link to the exact figure. Shown as a sidebar toggle too.
    Starts this run's numbering of the page's figures.
    """
    on = presenting()
    if (
        st.sidebar.toggle(
            "Presenter mode",
            value=on,
            key="presenter",
            help="Large type, no sidebar and one figure at a time for a projector; the figure bar's Leave button "
            "ends it.",
        )
        != on
    ):
        st.query_params["present"] = "0" if on else "1"
        st.rerun()
    state = st.session_state
    state["_figure_order"] = []  # figure keys in the order this full run meets them
    state["_figures_numbered"] = False  # until the page has run to its end
    state["_presenting"] = on
    if on:
        st.html(PRESENTER_CSS)
        if "figure" not in state:
            state["figure"] = int_param("fig", 1, 1, 10_000)
        with st.container(key=BAR_KEY):
            previous, counter, following, model, leave = st.columns([1.2, 2.2, 1.2, 1, 1], vertical_alignment="center")
        _model_menu(model)
        leave.button(
            "Leave",
            key="presenter_leave",
            on_click=_leave,
            icon=":material/close:",
            help="Leave presenter mode",
            width="stretch",
        )
        state["_figure_bar"] = (previous, counter, following)  # filled once the page's figures are numbered
    return on


def figure_shown(key: str) -> bool:
    """Number the figure called `key` (once per full run of the page); whether to draw it.

    Outside presenter mode every figure is drawn; in it, only the chosen one. A fragment's rerun finds its figure
    under the number the page's last full run gave it. A figure that first appears in a fragment's rerun (a model
    finished meanwhile) has no number yet: the whole page reruns to number every figure in page order.
    """
    state = st.session_state
    order = state.setdefault("_figure_order", [])
    if key not in order:
        order.append(key)
        if state.get("_figures_numbered") and state.get("_presenting"):
            st.rerun(scope="app")
    return not state.get("_presenting") or order.index(key) + 1 == state.get("figure", 1)


def figure_frame() -> DeltaGenerator:
    """The container a shown figure and its caption are drawn in; in presenter mode, the one moved to the top."""
    return st.container(key=SHOWN_KEY) if st.session_state.get("_presenting") else st.container()


def presenter_controls(page_shown: bool = True) -> None:
    """After the page ran: the figure bar of presenter mode (the page's figures are numbered by now). A page held
    back (a lesson's question waiting for the class's answers) has no figures yet, and the bar says so."""
    state = st.session_state
    state["_figures_numbered"] = page_shown
    if not state.get("_presenting"):
        return
    total = len(state.get("_figure_order", []))
    previous, counter, following = state.pop("_figure_bar")
    if not page_shown:
        counter.caption("The page's figures appear after the answer is revealed.")
        return
    if total == 0:
        counter.caption("This page has no figures.")
        return
    shown = min(max(1, state["figure"]), total)
    if shown != state["figure"]:  # a link or an earlier page asked for a figure this page does not have
        state["figure"] = shown
        st.rerun()
    previous.button(
        "◀ Previous",
        key="figure_previous",
        on_click=_step_figure,
        args=(-1, total),
        disabled=shown == 1,
        shortcut="Left",
        width="stretch",
    )
    counter.markdown(f"**Figure {shown} of {total}** · ← →")
    following.button(
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


def _model_menu(column: DeltaGenerator) -> None:
    """Task and architecture pickers in a menu on the figure bar (the sidebar's picker is hidden while presenting):
    a pick loads that pair's default configuration, the one that ships pretrained."""
    config = current_config()
    state = st.session_state
    state["present_task"], state["present_arch"] = config.task.name, config.model.arch
    with column.popover("Model", icon=":material/tune:", width="stretch", disabled=locked("picker")):
        st.selectbox(
            "Task",
            list(TASKS),
            key="present_task",
            on_change=_pick_model,
            format_func=lambda name: f"{name} · {TASKS[name].kind}",
        )
        st.selectbox("Architecture", compatible_archs(config.task.name), key="present_arch", on_change=_pick_model)


def _pick_model() -> None:
    state = st.session_state
    task, arch = state["present_task"], state["present_arch"]
    use_config(default_config(task, arch if arch in compatible_archs(task) else None))


def _leave() -> None:
    st.session_state["presenter"] = False  # the sidebar toggle, so that it does not turn presenter mode back on
    st.query_params["present"] = "0"
    st.query_params.pop("fig", None)


def _step_figure(delta: int, total: int) -> None:
    state = st.session_state
    state["figure"] = min(max(1, min(state["figure"], total) + delta), total)
