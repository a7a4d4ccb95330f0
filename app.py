"""Seq2Seq Explorer: `streamlit run app.py`.

The entry point only sets up the page, draws the shared sidebar picker and hands over to the chosen page.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import streamlit as st

from explorer.streamlit_adapter import picker, presenter_controls, presenter_mode, timed_run

st.set_page_config(page_title="Seq2Seq Explorer", page_icon="🔁", layout="wide")

PAGES = {
    "Start": [
        st.Page("app_pages/home.py", title="Welcome", icon="🏠", default=True),
    ],
    "Train": [
        st.Page("app_pages/train.py", title="Train & Compare", icon="🏋️", url_path="train"),
    ],
    "Look inside": [
        st.Page("app_pages/graph.py", title="Unrolled graph", icon="🕸️", url_path="graph"),
        st.Page("app_pages/states.py", title="States & gates", icon="🧠", url_path="states"),
        st.Page("app_pages/attention.py", title="Attention", icon="🎯", url_path="attention"),
        st.Page("app_pages/decoding.py", title="Decoding", icon="🔀", url_path="decoding"),
        st.Page("app_pages/embeddings.py", title="Autoencoder embeddings", icon="🗺️", url_path="embeddings"),
        st.Page("app_pages/gradients.py", title="Gradients", icon="💥", url_path="gradients"),
    ],
}

navigation = st.navigation(PAGES, position="top" if st.query_params.get("present") == "1" else "sidebar")
with timed_run(navigation.url_path or "home"):
    picker()
    presenter_mode()
    navigation.run()
    presenter_controls()
