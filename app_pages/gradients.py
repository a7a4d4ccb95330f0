"""Gradients: per-layer gradient norms over training, exploding gradients, and what clipping does."""

import pandas as pd
import streamlit as st

from explorer.jobs import DONE, FAILED
from explorer.presets import gradient_configs
from explorer.ui.figures import chart_with_downloads, code_expander
from explorer.ui.locks import locked
from explorer.ui.models import lookup_job
from explorer.ui.runtime import get_manager
from explorer.viz import gradient_norms_chart, gradient_norms_frame, undrawable_gradient_count

st.title("Exploding gradients and clipping")
st.write(
    "Backpropagation through time multiplies one Jacobian per step. Over 30 steps, factors a little above 1 "
    "grow into enormous gradients, and one huge update throws the weights to infinity: the loss becomes NaN. "
    "**Clipping** caps the gradient before the update, by its norm (clipnorm) or each value (clipvalue). An "
    "**LSTM**'s additive cell path keeps gradients from *vanishing*, but it does not stop them exploding."
)
st.caption(
    "All four runs: the series autoencoder on 30-step series, 32 units, plain SGD at learning rate 1.0 "
    "(Adam would rescale the steps and hide the effect), the same seed and data."
)

manager = get_manager()
configs = gradient_configs()
jobs = {name: lookup_job(config) for name, config in configs.items()}
if any(job.state not in (DONE, FAILED) for job in jobs.values()):
    waiting = [name for name, job in jobs.items() if job.state not in (DONE, FAILED)]
    st.info(f"Not trained yet: {', '.join(waiting)}.")
    if st.button("Train them in the background", key="train_gradients", disabled=locked("training")):
        for name in waiting:
            manager.request(configs[name])
        st.rerun()

norms = {}
for name, job in jobs.items():
    if job.state not in (DONE, FAILED):
        continue
    norms[name] = job.sidecar.get("gradient_norms", [])
    status = job.sidecar.get("status", job.state)
    with st.container(border=True):
        st.markdown(f"**{name}**")
        if status == "diverged" or job.state == FAILED:
            st.error(f"Stopped: {job.reason or job.sidecar.get('reason', 'the loss became NaN')}")
        elif job.history:
            st.success(f"Trained all {len(job.history)} epochs; final loss {job.history[-1]['loss']:.4f}.")

frame = gradient_norms_frame(norms)
if not frame.empty:
    st.subheader("Gradient norm per layer, measured before every update")
    left_out = undrawable_gradient_count(frame)
    chart_with_downloads(
        gradient_norms_chart(frame),
        frame,
        "gradient-norms",
        key="norms",
        caption=f"{left_out} measurement(s) of exactly 0 (a layer that got no gradient at that step) or infinity "
        "are not drawn on the log axis; they are in the CSV."
        if left_out
        else None,
    )
    peaks = frame.groupby("run")["norm"].max()
    st.dataframe(
        pd.DataFrame({"run": peaks.index, "largest gradient norm": peaks.map("{:.3g}".format)}), hide_index=True
    )
code_expander("gradients")
