"""Landing page: what the app is, the four kinds of sequence problem, and which model is loaded."""

import streamlit as st

from explorer.presets import kind_example_config
from explorer.tasks import PROBLEM_KINDS, TASKS
from explorer.ui.lessons import lesson_list
from explorer.ui.locks import locked
from explorer.ui.models import UNFINISHED, describe_source, model_job, watch_jobs
from explorer.ui.pages import page_link
from explorer.ui.picker import current_config, use_config

st.title("Seq2Seq Explorer")
st.write(
    "Recurrent networks read a sequence one step at a time and carry what they have seen in a hidden state. "
    "Here you pick a sequence **task** and an **architecture** in the sidebar, get a trained model in seconds "
    "(most ship pretrained), and look inside it while it works."
)

st.subheader("Four kinds of sequence problem")
KIND_TEXT = {
    "prediction": "Given the values so far, predict the next ones: a real-valued series one step ahead.",
    "classification": "Read the whole sequence and answer with one label: here, its largest symbol.",
    "generation": "Produce a new sequence that continues from what was read: count up from the last symbol.",
    "sequence-to-sequence": "Read one sequence, write another of possibly different length: echo, reverse, copy.",
}
columns = st.columns(len(PROBLEM_KINDS))
for column, kind in zip(columns, PROBLEM_KINDS, strict=True):
    examples = [name for name, task in TASKS.items() if task.kind == kind]
    with column:
        st.markdown(f"**{kind.capitalize()}**")
        st.caption(KIND_TEXT[kind])
        for name in examples:
            st.button(
                f"Try {name}",
                key=f"try_{name}",
                on_click=use_config,
                args=(kind_example_config(name),),  # e.g. a series task in its prediction mode under Prediction
                width="stretch",
                disabled=locked("picker"),
            )

st.subheader("Lessons")
st.write(
    "Each lesson walks through one idea on the pages themselves: every step opens a page with the right model "
    "and input, asks you to do or predict one thing, and moves on once you have. A step is a link, to share."
)
lesson_list()

config = current_config()
job = model_job(config)
st.subheader("Loaded model")
task_info = TASKS[config.task.name]
st.markdown(
    f"**{config.task.name}** ({task_info.description}) with **{config.model.arch}**, "
    f"{config.model.units} {config.model.cell.upper()} units · key `{config.key()}`"
)
if job.state == "done":
    metrics = job.metrics
    cols = st.columns(3)
    cols[0].metric("Exact-sequence accuracy", f"{metrics.get('sequence_accuracy', float('nan')):.1%}")
    cols[1].metric("Where from", job.source)
    cols[2].metric("Device · backend", f"{job.sidecar.get('device', '?')} · {job.sidecar.get('backend', '?')}")
    st.caption(describe_source(job))
elif job.state in UNFINISHED:
    st.info("This configuration's model is training on the server; this section fills in when it is ready.")
    watch_jobs({"": job})
else:
    st.info("No trained model for this exact configuration yet: train it on the Train & Compare page.")
page_link("train")
