"""Presenter mode for a projector: `?present=1` (or the sidebar toggle) shows large type and one figure at a time.

`presenter_mode()` runs before the page and `presenter_controls()` after it (both from `app.py`); in between,
every figure helper asks `figure_shown()`, which counts the page's figures and says whether to draw this one.
The figure number is kept in the URL as `fig`, so a teacher can prepare a link to the exact figure.
"""

from __future__ import annotations

import streamlit as st

from explorer.ui.inputs import int_param

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


def presenting() -> bool:
    """Whether the link asks for presenter mode; `app.py` reads it before the navigation is drawn."""
    return st.query_params.get("present") == "1"


def presenter_mode() -> bool:
    """`?present=1`: large type, no sidebar, no download clutter, one figure at a time, for a projector.

    Figures are stepped through with the Previous/Next buttons or the arrow keys (← →); the figure number is kept
    in the URL as `fig`, so a teacher can prepare a link to the exact figure. Shown as a sidebar toggle too.
    """
    on = presenting()
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
            state["figure"] = int_param("fig", 1, 1, 10_000)
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
