"""Train & Compare: load or train the picked model with live progress; compare architectures; test on longer inputs."""

import streamlit as st

from explorer.analysis import length_choices, needs_lookahead
from explorer.architectures import ARCHITECTURES
from explorer.budget import estimate_seconds
from explorer.facts import Pattern
from explorer.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from explorer.presets import compatible_archs, default_config
from explorer.reproductions import budget_of, like_for_like
from explorer.tasks import get_task
from explorer.ui.figures import chart_spec, chart_with_downloads
from explorer.ui.locks import locked
from explorer.ui.models import (
    UNFINISHED,
    cancel_training,
    describe_source,
    length_rows,
    lookup_job,
    model_job,
    own_runs,
    polled,
    session_id,
    show_progress,
    start_training,
    waiting_here,
)
from explorer.ui.picker import current_config
from explorer.ui.runtime import get_manager
from explorer.viz import (
    accuracy_by_length_chart,
    history_frame,
    labelled_bars_chart,
    labelled_bars_frame,
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


def live_progress() -> None:
    """Redrawn every second while the job runs; hands over to a full rerun when it ends (see `polled`)."""
    show_progress(job)
    if job.history:
        frame = history_frame({"this model": job.history})
        st.vega_lite_chart(chart_spec(training_curves_chart(frame, "Live training")), width="stretch")
    if job.state not in (QUEUED, RUNNING):
        return  # still looking for a stored model: nothing to cancel yet
    # Cancelling withdraws this session's request only: a run that other sessions wait on trains on for them.
    others = len(manager.waiting(job) - {session_id()})
    if waiting_here(job):
        if others:
            st.caption(f"{others} other session(s) wait on this run too: cancelling withdraws only your request.")
        st.button(
            "Cancel training", key="cancel", on_click=cancel_training, args=(config,), disabled=locked("training")
        )
    else:
        if others:
            st.caption(f"{others} other session(s) wait on this run: the model will be yours too when it finishes.")
        else:
            st.caption("Nobody waits on this run any more: it stops at the end of the current batch.")
        st.button(
            "Keep it training for me too",
            key="join",
            on_click=start_training,
            args=([config],),
            disabled=locked("training"),
        )


st.subheader(f"{config.task.name} × {config.model.arch}")
if job.state in UNFINISHED:
    polled(live_progress, [job])()
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
    if job.state == FAILED and not job.refused:
        st.error(f"Training stopped: {job.reason}")
    elif job.state == CANCELLED and job.reason and job.reason != "not trained yet":
        st.warning(job.reason.capitalize())
    st.write(
        "This exact configuration has not been trained yet. Training runs in the background on the server; "
        "you can keep exploring other pages meanwhile: they show its progress and fill in when it is done."
    )
    # Refused here, before anything queues, so that one request cannot hold up the whole class's training.
    refusal = manager.refusal(config)
    if refusal:
        st.error(refusal)
    else:
        st.caption(
            f"Estimated training time on this server: up to about {estimate_seconds(config):,.0f} s "
            "(less when it reaches its target accuracy early)."
        )
    if st.button(
        "Train this configuration", type="primary", key="train", disabled=refusal is not None or locked("training")
    ):
        model_job(config, train=True)
        st.rerun()

st.divider()
st.subheader("Compare architectures on this task")
st.write(
    "The same task, every architecture that fits it, each at its default size and training budget (in each "
    "bar's tooltip and listed under the chart). With a generous budget most architectures learn these short "
    "tasks; the differences the tutorials report show under their own, smaller budgets, further down."
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
if missing and st.button(
    f"Train the {len(missing)} missing model(s): {', '.join(missing)}", key="train_missing", disabled=locked("training")
):
    start_training([runs[arch] for arch in missing])
    st.rerun()
# The learner's own trained configurations on this task join the comparison (read once per full run).
own = own_runs(config)
# How often the comparison redraws itself while one of its models trains (and not at all otherwise).
COMPARE_EVERY_S = 2.0


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
    bars = labelled_bars_frame(
        [
            *(
                {
                    "run": arch,
                    "source": "ours (default budget)",
                    "accuracy": j.metrics.get("sequence_accuracy", 0.0),
                    "budget": budget_of(j.config),
                }
                for arch, j in done.items()
            ),
            *(
                {
                    "run": run.label,
                    "source": "ours (your settings)",
                    "accuracy": run.metrics.get("sequence_accuracy", 0.0),
                    "budget": budget_of(run.config),
                }
                for run in own
            ),
        ]
    )
    chart_with_downloads(
        labelled_bars_chart(bars, {"ours (default budget)": "#1f77b4", "ours (your settings)": "#ff7f0e"}),
        bars,
        f"compare-{config.task.name}",
        key="compare_bars",
        caption=" · ".join(f"**{row.run}**: {row.budget}" for row in bars.itertuples()),
    )
    curves = history_frame({**{arch: j.history for arch, j in done.items()}, **{run.label: run.history for run in own}})
    if not curves.empty:
        chart_with_downloads(
            training_curves_chart(curves, "Learning curves"),
            curves,
            f"compare-curves-{config.task.name}",
            key="compare_curves",
        )


polled(comparison, compare_jobs.values(), COMPARE_EVERY_S)()

blind = [arch for arch in compatible_archs(config.task.name) if ARCHITECTURES[arch].pattern is Pattern.STACKED]
if blind and needs_lookahead(config):
    st.caption(
        f"Why {', '.join(blind)} fails on {config.task.name}: a stacked network writes output t right after "
        "reading input t, so it cannot use a symbol that comes later, and here some outputs depend on one "
        "(the task's ideal alignment points forward). An encoder-decoder reads the whole input first."
    )

reproduced = like_for_like(config.task.name)
if reproduced:
    st.subheader("The tutorial's figures beside ours, on the tutorial's budget")
    st.write(
        "A published number only compares with a run that had the same budget. Here both bars of each pair "
        "trained the same way, so the gap between architectures is the tutorial's point, not a budget effect."
    )
    pairs = labelled_bars_frame(
        row
        for item in reproduced
        for row in (
            {
                "run": item.arch,
                "source": "tutorial (published)",
                "accuracy": item.published,
                "budget": f"{item.budget}; mean of {item.published_runs} runs",
            },
            {
                "run": item.arch,
                "source": "ours, same budget",
                "accuracy": item.mean,
                "budget": f"{item.budget}; mean of {len(item.accuracies)} runs",
            },
        )
    )
    chart_with_downloads(
        labelled_bars_chart(pairs, {"tutorial (published)": "#bbbbbb", "ours, same budget": "#1f77b4"}),
        pairs,
        f"reproduced-{config.task.name}",
        key="reproduced_bars",
        caption=" · ".join(f"**{item.arch}**: {item.budget}" for item in reproduced)
        + f". Measured by `python -m explorer reproduce --save` ({reproduced[0].measured}), not live.",
    )

st.divider()
st.subheader("Accuracy against sequence length")
st.write(
    "None of these models has weights tied to the sequence length, so the same weights can read longer inputs "
    "than they were trained on. The dashed line marks the trained length: past it, accuracy shows how much of "
    "the task the network really learned. Shorter inputs often fail too: the decoder has only ever started "
    "from states the encoder reached after exactly the trained number of steps, and a shorter input leaves it "
    "somewhere it never saw. It is not about how far the needed symbols sit from the end: reading the source "
    "reversed keeps them just as close at every length, and fails the same way."
)


finished = {arch: j for arch, j in compare_jobs.items() if j.state == DONE}
tokens = get_task(config.task.name).values == "tokens"
if tokens and finished:
    lengths = length_choices(config)
    rows = [{"run": arch, **row} for arch, j in sorted(finished.items()) for row in length_rows(j, lengths)]
    frame = length_frame(rows)
    chart_with_downloads(accuracy_by_length_chart(frame), frame, f"length-{config.task.name}", key="lengths")
elif not tokens:
    st.caption("The series autoencoder is judged on closeness, not exact symbols; see the Embeddings page.")
