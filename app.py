"""Seq2Seq Explorer: `streamlit run app.py`.

The entry point only sets up the page, draws the shared sidebar picker and hands over to the chosen page.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import streamlit as st

from explorer.ui.figures import configure_charts
from explorer.ui.lessons import follow_lesson_link, lesson_panel
from explorer.ui.locks import hidden_css, link_builder, read_locks
from explorer.ui.pages import navigation_pages, page_at
from explorer.ui.picker import picker
from explorer.ui.presenter import presenter_controls, presenter_mode, presenting
from explorer.ui.runtime import backend_notice, timed_run, warm_up

st.set_page_config(page_title="Seq2Seq Explorer", page_icon="🔁", layout="wide")
configure_charts()  # schema-checked under test (SEQ2SEQ_VALIDATE_CHARTS=1), sent unchecked when serving

with timed_run() as run:  # the whole run from here, in the load test's log
    navigation = st.navigation(navigation_pages(), position="top" if presenting() else "sidebar")
    page = run["page"] = page_at(navigation.url_path).name
    follow_lesson_link()  # a lesson's step change switches page here, before the picker reads the link
    read_locks()  # a teacher's link may lock or hide groups of controls
    picker()
    backend_notice()
    presenter_mode()
    link_builder()
    if css := hidden_css():
        st.html(css)
    with lesson_panel(page) as show_page:
        if show_page:  # a step that asks for a prediction holds the page back until it is made
            navigation.run()
    presenter_controls(page_shown=show_page)
warm_up()  # Keras, in the background once the first page is drawn: the landing page does without it
