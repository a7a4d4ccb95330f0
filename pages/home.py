"""Landing page: what the app is and which tasks and architectures the library offers."""

import pandas as pd
import streamlit as st

from explorer.architectures import ARCHITECTURES
from explorer.tasks import TASKS

st.title("Seq2Seq Explorer")
st.write(
    "Pick a sequence task and a recurrent architecture, train it (or load it ready-made) and look inside: "
    "the unrolled graph, hidden and cell states, gates, attention, and how decoding goes right or wrong."
)
st.subheader("Tasks")
st.dataframe(
    pd.DataFrame([{"task": n, "kind": t.kind, "what it asks": t.description} for n, t in TASKS.items()]),
    hide_index=True,
)
st.subheader("Architectures")
st.dataframe(
    pd.DataFrame([{"architecture": n, "pattern": a.pattern, "how it works": a.description}
                  for n, a in ARCHITECTURES.items()]),
    hide_index=True,
)
