"""Train & Compare: load or train the picked model with live progress; compare architectures; test on longer inputs."""

import streamlit as st

from explorer.analysis import accuracy_by_length, length_choices, published_accuracy, stored_length_rows
from explorer.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from explorer.presets import compatible_archs, default_config
from explorer.tasks import get_task
from explorer.ui.figures import chart_spec, chart_with_downloads
from explorer.ui.models import describe_source, lookup_job, model_job, per_model
from explorer.ui.picker import current_config
from explorer.ui.runtime import get_manager
from explorer.viz import (
    accuracy_by_length_chart,
    comparison_chart,
    comparison_frame,
    history_frame,
    length_frame,
    training_curves_chart,
)

st.title("Train & Compare")
st.write(
    "Every epoch trains on freshly generated examples and then decodes 1,000 examples the model has never seen, "
    "**free-running**: each output step reads the model's own previous prediction, as it must at inference. "
    "Exact-sequence accuracy counts a sequence right only if every step is right."
)

config = current_config()
manager = get_manager()
job = model_job(config)


@st.fragment(run_every=1.0)
def live_progress(job) -> None:
    """Redrawn every second while the job runs; hands over to a full rerun when it ends."""
    if job.state in (DONE, FAILED, CANCELLED):
        st.rerun(scope="app")
    if job.state == QUEUED:
        st.info(f"Queued: position {manager.position(job)}. Another model is training; yours starts next in line.")
    progress = job.progress
    if progress is not None:
        eta = progress.eta_seconds
        text = f"epoch {progress.epoch + (0 if progress.sequence_accuracy is not None else 1)}/{progress.epochs} · "
        text += f"loss {progress.loss:.4f}" + (f" · about {eta:.0f} s left" if eta is not None else "")
        st.progress(progress.fraction, text=text)
    else:
        st.progress(0.0, text="starting…")
    if job.history:
        frame = history_frame({"this model": job.history})
        st.vega_lite_chart(chart_spec(training_curves_chart(frame, "Live training")), width="stretch")
    if st.button("Cancel training", key="cancel"):
        manager.cancel(config)


st.subheader(f"{config.task.name} × {config.model.arch}")
if job.state in (QUEUED, RUNNING, "loading"):
    live_progress(job)
elif job.state == DONE:
    metrics = job.metrics
    columns = st.columns(4)
    columns[0].metric("Exact-sequence accuracy", f"{metrics.get('sequence_accuracy', float('nan')):.1%}")
    columns[1].metric("Token accuracy", f"{metrics.get('token_accuracy', float('nan')):.1%}")
    seconds = job.sidecar.get("train_seconds")
    columns[2].metric("Training time", f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "–")
    columns[3].metric("Epochs", len(job.history))
    st.caption(describe_source(job))
    if job.save_error:
        st.warning(f"The model works, but it was not saved for next time: {job.save_error}")
    if job.history:
        frame = history_frame({f"{config.model.arch}": job.history})
        chart_with_downloads(training_curves_chart(frame), frame, f"training-{config.key()}", key="curves")
else:
    if job.state == FAILED:
        st.error(f"Training stopped: {job.reason}")
    elif job.state == CANCELLED and job.reason and job.reason != "not trained yet":
        st.warning(job.reason.capitalize())
    st.write(
        "This exact configuration has not been trained yet. Training runs in the background on the server; "
        "you can keep exploring other pages meanwhile."
    )
    if st.button("Train this configuration", type="primary", key="train"):
        model_job(config, train=True)
        st.rerun()

st.divider()
st.subheader("Compare architectures on this task")
st.write(
    "The same task, every architecture that fits it, default sizes. The attention tutorial's point shows on "
    "copy-first-k: a RepeatVector decoder must squeeze the whole input into one vector, an attention decoder "
    "can look back at each input step."
)
runs = {
    arch: default_config(
        config.task.name,
        arch,
        **{
            "input_length": config.task.input_length,
            "output_length": config.task.output_length,
            "cardinality": config.task.cardinality,
            "series_mode": config.task.series_mode,
        },
    )
    for arch in compatible_archs(config.task.name)
}
compare_jobs = {arch: lookup_job(run) for arch, run in runs.items()}
missing = [arch for arch, j in compare_jobs.items() if j.state in (CANCELLED, FAILED)]
if missing and st.button(f"Train the {len(missing)} missing model(s): {', '.join(missing)}", key="train_missing"):
    for arch in missing:
        manager.request(runs[arch])
    st.rerun()


@st.fragment(run_every=2.0)
def comparison() -> None:
    live = {arch: j for arch, j in compare_jobs.items() if j.state in (QUEUED, RUNNING)}
    done = {arch: j for arch, j in compare_jobs.items() if j.state == DONE}
    for arch, j in live.items():
        position = manager.position(j)
        fraction = j.progress.fraction if j.progress else 0.0
        st.progress(fraction, text=f"{arch}: " + (f"queued, position {position}" if position else "training"))
    if not done:
        st.caption("No architecture on this task has a model yet.")
        return
    results = {arch: j.metrics.get("sequence_accuracy", 0.0) for arch, j in done.items()}
    published = {arch: published_accuracy(config.task.name, arch) for arch in done}
    bars = comparison_frame(results, published)
    chart_with_downloads(comparison_chart(bars), bars, f"compare-{config.task.name}", key="compare_bars")
    curves = history_frame({arch: j.history for arch, j in done.items()})
    if not curves.empty:
        chart_with_downloads(
            training_curves_chart(curves, "Learning curves"),
            curves,
            f"compare-curves-{config.task.name}",
            key="compare_curves",
        )
    if any(published.values()):
        st.caption(
            "Grey bars: the tutorials' published numbers, which used smaller budgets and other code; "
            "the README explains every difference."
        )
    if not live:
        st.session_state.pop("compare_live", None)


comparison()

st.divider()
st.subheader("Accuracy against sequence length")
st.write(
    "None of these models has weights tied to the sequence length, so the same weights can read longer inputs "
    "than they were trained on. The dashed line marks the trained length: past it, accuracy shows how much of "
    "the task the network really learned."
)


finished = {arch: j for arch, j in compare_jobs.items() if j.state == DONE}
tokens = get_task(config.task.name).values == "tokens"
if tokens and finished:
    lengths = tuple(length_choices(config))
    by_length = per_model("Decoding fresh examples at each length…", 64)(accuracy_by_length)
    rows = []
    for arch, j in sorted(finished.items()):
        # Shipped models carry these figures in their sidecar (`explorer pretrain`); others are computed once.
        found = stored_length_rows(j.sidecar, list(lengths))
        rows += [{"run": arch, **row} for row in (found if found is not None else by_length(j.bundle, list(lengths)))]
    frame = length_frame(rows)
    chart_with_downloads(accuracy_by_length_chart(frame), frame, f"length-{config.task.name}", key="lengths")
elif not tokens:
    st.caption("The series autoencoder is judged on closeness, not exact symbols; see the Embeddings page.")
