"""Attention: where each output step looks in the input, against where it should look."""

import streamlit as st

from explorer.analysis import alignment_score, length_choices
from explorer.architectures import ARCHITECTURES
from explorer.jobs import DONE
from explorer.presets import attention_archs, baseline_arch, default_config, score_choices
from explorer.tasks import get_task
from explorer.ui.figures import chart_with_downloads, code_expander
from explorer.ui.inputs import sequence_input, step_cursor
from explorer.ui.locks import locked
from explorer.ui.models import length_rows, lookup_job, require_model
from explorer.ui.picker import current_config, use_config
from explorer.ui.replay import replay_bundle
from explorer.ui.results import free_running
from explorer.viz import (
    accuracy_by_length_chart,
    attention_bars_chart,
    attention_frame,
    attention_heatmap_chart,
    length_frame,
)

st.title("Attention")
st.write(
    "Without attention the decoder sees the input only through the encoder's final state, one fixed-size "
    "vector. With attention, every output step scores every encoder step, turns the scores into weights that "
    "sum to 1 (a softmax), and reads the weighted mix of encoder outputs. Bahdanau scores with a small tanh "
    "network (additive); Luong with a dot product, a learned bilinear form (general) or Keras' concat score."
)
config = current_config()
if not ARCHITECTURES[config.model.arch].has_attention:
    st.info(
        f"The picked architecture, **{config.model.arch}**, has no attention, so there is nothing to show "
        "here. Switch to an attention model on the same task:"
    )
    choices = attention_archs(config.task.name)
    for column, arch in zip(st.columns(max(1, len(choices))), choices, strict=False):
        column.button(
            f"Use {arch}",
            key=f"use_{arch}",
            on_click=use_config,
            args=(default_config(config.task.name, arch),),
            disabled=locked("picker"),
        )
    st.stop()

SCORES = score_choices(config.task.name)
current = next(
    (
        label
        for label, (arch, score) in SCORES.items()
        if arch == config.model.arch and (not ARCHITECTURES[arch].scores or score == config.model.score)
    ),
    None,
)
label = st.radio(
    "Score function",
    list(SCORES),
    index=list(SCORES).index(current) if current else 0,
    horizontal=True,
    key="attention_score",
    disabled=locked("picker"),
)
if label != current:
    arch, score = SCORES[label]
    st.button(
        f"Switch the model to {label}",
        on_click=use_config,
        args=(
            default_config(
                config.task.name,
                arch,
                score=score,
                input_length=config.task.input_length,
                output_length=config.task.output_length,
                cardinality=config.task.cardinality,
            ),
        ),
        key="switch_score",
        disabled=locked("picker"),
    )

bundle, epoch = replay_bundle(config, require_model(config))
task = get_task(config.task.name)
source = sequence_input(config)
trace = free_running(bundle, source[None])
weights = trace.attention[0]
ideal = task.ideal_alignment(config.task, source)
step = step_cursor(weights.shape[0])
frame = attention_frame(weights, task.symbols(source), task.symbols(trace.tokens[0]), ideal)
score = alignment_score(weights, ideal)
chart_with_downloads(
    attention_heatmap_chart(frame, step),
    frame,
    f"attention-{config.key()}",
    key="heatmap",
    caption=(
        f"Orange circles: the task's ideal alignment. Alignment score (mean weight on the ideal input "
        f"step): **{score:.2f}** (1.00 would be perfect)."
        if score is not None
        else "This task has no single input step per output step, so there is no ideal alignment to score."
    ),
)
if score is not None and epoch is None:  # the note is about the final model's accuracy
    accuracy = lookup_job(config).metrics.get("sequence_accuracy")
    if accuracy is not None and accuracy >= 0.9 and score < 0.5:
        looked_at = int(weights[0].argmax()) + 1
        st.info(
            f"Right answers ({accuracy:.1%}) with a low alignment score: this model reads its symbols from "
            f"somewhere else (output step 1 puts most weight on input step {looked_at}). Each encoder output is a "
            "recurrent state that has already seen every earlier symbol, so a late step, often the last, can "
            "carry what an early output needs. The alignment score says where a model looks, not whether it is "
            "right."
        )
chart_with_downloads(
    attention_bars_chart(frame, step),
    frame[frame.output_step == step],
    f"attention-step-{step}",
    key="bars",
    caption=f"Output step {step} wrote **{task.symbol(trace.tokens[0][step - 1])}** "
    f"(probability {trace.confidence[0][step - 1]:.2f}); the bars are its weights over the input.",
)

st.subheader("With and without attention as the input grows")
baseline = baseline_arch(config.task.name)
runs = {
    f"{config.model.arch} (attention)": default_config(config.task.name, config.model.arch, score=config.model.score)
}
if baseline is not None:
    runs = {f"{baseline} (no attention)": default_config(config.task.name, baseline), **runs}
jobs = {name: lookup_job(run) for name, run in runs.items()}
if any(job.state != DONE for job in jobs.values()):
    st.caption("Both models are needed; train the missing one on the Train & Compare page.")
else:
    lengths = length_choices(runs[next(iter(runs))])
    rows = [{"run": name, **row} for name, job in jobs.items() for row in length_rows(job, lengths)]
    lengths_frame = length_frame(rows)
    chart_with_downloads(
        accuracy_by_length_chart(lengths_frame), lengths_frame, f"attention-length-{config.task.name}", key="lengths"
    )
code_expander("attention", config, source=source, step=step)
