"""Seq2Seq Explorer: `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="Seq2Seq Explorer", page_icon="🔁", layout="wide")

navigation = st.navigation(
    {
        "Start": [st.Page("pages/home.py", title="Welcome", icon="🏠", default=True)],
    }
)
navigation.run()
