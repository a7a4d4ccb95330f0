"""A tiny app for `tests/test_loadclient.py`: what the load client must follow, in a few small pages.

It uses `explorer.ui.runtime` as `app.py` does (`timed_run` around the whole script, `fragment` for fragments),
so with `SEQ2SEQ_RUN_LOG` set the server logs every script run and the test can compare that log with what a
simulated student saw. Pages:

- Home (the default page): a colour picker bound to the URL (`?colour=`), a metric showing the colour, a
  click counter (a full rerun), and a clock fragment rerun by a timer every 0.3 s. On its fourth rerun of a
  session the clock reruns the whole app, once (`st.rerun(scope="app")`), then keeps ticking; from then on the
  page says so, for a test to wait on.
- Big (/big): a text of about 20 kB, over Streamlit's 10 kB threshold for caching a message in the browser,
  so a second visit is sent as a reference to the tab's copy; and a button inside a fragment, with a note
  that the fragment's own rerun stops drawing.
- Plain (/plain): no fragment; it raises `RuntimeError("asked to fail")` when the link says `?fail=yes`.
- Nested (/nested): a timer fragment inside another fragment; the outer one's button stops drawing the inner
  one, so the server evicts it and tells the tab to stop its timer (`stop_auto_rerun`).
"""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.ui.runtime import fragment, get_manager, timed_run

COLOURS = ["red", "green", "blue"]
TIMER_INTERVAL_S = 0.3
# The clock's own reruns before it reruns the whole app: a few, so that a test sees fragment runs either side.
TICKS_BEFORE_APP_RERUN = 4
BIG_TEXT = "Big: " + " ".join(f"word{number}" for number in range(2500))
FAILURE = "asked to fail"
APP_RERUN_NOTE = "The clock has rerun the app."
NOT_TAPPED_NOTE = "Not tapped yet."


def own_rerun() -> bool:
    """Whether this run reruns fragments on their own, rather than drawing the whole page."""
    return bool(get_script_run_ctx().fragment_ids_this_run)


@fragment(run_every=TIMER_INTERVAL_S)
def clock() -> None:
    """Counts its own reruns, and reruns the app once per session: asking on every tick from then on would
    rerun the app for ever, each full run drawing the clock that asks again."""
    st.session_state.setdefault("ticks", 0)
    if own_rerun():
        st.session_state.ticks += 1
    st.metric("Ticks", st.session_state.ticks)
    if st.session_state.ticks >= TICKS_BEFORE_APP_RERUN and not st.session_state.get("app_rerun_asked"):
        st.session_state.app_rerun_asked = True
        st.rerun(scope="app")


@fragment
def tapper() -> None:
    """A button inside a fragment: pressing it reruns this fragment only, which then stops drawing its note."""
    st.session_state.setdefault("taps", 0)
    if st.button("Tap"):
        st.session_state.taps += 1
    st.metric("Taps", st.session_state.taps)
    if not st.session_state.taps:
        st.caption(NOT_TAPPED_NOTE)


@fragment(run_every=TIMER_INTERVAL_S)
def pulse() -> None:
    st.session_state.setdefault("pulses", 0)
    if own_rerun():
        st.session_state.pulses += 1
    st.metric("Pulses", st.session_state.pulses)


@fragment
def panel() -> None:
    """Draws `pulse` until its button is pressed; from then on the server drops the pulse and its timer."""
    if st.button("Hide the pulse"):
        st.session_state.pulse_hidden = True
    if not st.session_state.get("pulse_hidden"):
        pulse()


def home() -> None:
    st.header("Home")
    colour = st.selectbox("Colour", COLOURS, key="colour", bind="query-params")
    st.metric("Chosen colour", colour)
    st.session_state.setdefault("clicks", 0)
    if st.button("Count"):
        st.session_state.clicks += 1
    st.metric("Clicks", st.session_state.clicks)
    clock()
    if st.session_state.get("app_rerun_asked"):
        st.caption(APP_RERUN_NOTE)


def big() -> None:
    st.header("Big")
    st.text(BIG_TEXT)
    tapper()


def plain() -> None:
    st.header("Plain")
    if st.query_params.get("fail") == "yes":
        raise RuntimeError(FAILURE)
    st.write("Nothing moves here.")


def nested() -> None:
    st.header("Nested")
    panel()


# As on the real app's pages: making the job manager also turns off Streamlit's Keras reset after every run
# (see `explorer.ui.runtime`), whose full garbage collection would otherwise hold up every run and message.
get_manager()

with timed_run() as run:
    navigation = st.navigation(
        [
            st.Page(home, title="Home", default=True),
            st.Page(big, title="Big", url_path="big"),
            st.Page(plain, title="Plain", url_path="plain"),
            st.Page(nested, title="Nested", url_path="nested"),
        ]
    )
    run["page"] = navigation.title
    navigation.run()
