"""Attention: where each output step looks in the input, against where it should look."""

import streamlit as st

from explorer.analysis import alignment_score, length_choices
from explorer.architectures import ARCHITECTURES
from explorer.jobs import DONE
from explorer.presets import attention_archs, baseline_arch, default_config, score_choices
from explorer.saliency import agreement, normalise_rows
from explorer.tasks import get_task
from explorer.ui.figures import chart_with_downloads, code_expander
from explorer.ui.inputs import sequence_input, step_cursor
from explorer.ui.locks import locked
from explorer.ui.models import length_rows, lookup_job, require_model
from explorer.ui.picker import current_config, use_config
from explorer.ui.replay import replay_bundle
from explorer.ui.results import free_running, input_saliency
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
task = get_task(config.task.name)


def saliency_section(bundle, source, step: int, weights=None) -> None:
    """The saliency heatmap of the typed input, and how far it agrees with the attention when there is one."""
    st.subheader("Saliency: where each output depends on the input")
    st.write(
        "Attention is a value inside the model: where a step *looked*. Saliency asks from outside: how much would "
        "the probability of the symbol this step wrote move if one input symbol were nudged? It is the size of the "
        "gradient of that log probability with respect to each input symbol (its one-hot encoding), each row "
        "scaled to sum to 1. A recursive decoder reads its own earlier outputs, held fixed here, so the map shows "
        "the direct dependence on the input."
    )
    if task.values != "tokens":
        st.info("Saliency is measured on the probability of a chosen symbol, so it applies to token tasks.")
        return
    raw = input_saliency(bundle, source)
    outputs = free_running(bundle, source[None]).tokens[0]
    shares = normalise_rows(raw)
    frame = attention_frame(
        shares, task.symbols(source), task.symbols(outputs), task.ideal_alignment(config.task, source)
    )
    caption = (
        "Purple: each output step's gradient norms over the input, as shares of the row. Orange circles: the "
        "task's ideal alignment."
    )
    if weights is not None:
        agreed = agreement(raw, weights)
        correlation = agreed.mean_rank_correlation
        caption += (
            f" **Agreement with attention:** the largest saliency and the largest attention weight fall on the same "
            f"input step for {agreed.same_top.sum()} of {len(agreed.same_top)} output steps"
            + (f"; mean rank correlation of the rows {correlation:.2f}." if correlation is not None else ".")
        )
    chart_with_downloads(
        attention_heatmap_chart(frame, step, measure="saliency (row share)", scheme="purples"),
        frame.assign(gradient_norm=raw.ravel()),
        f"saliency-{config.key()}",
        key="saliency",
        caption=caption,
    )
    if weights is not None:
        st.caption(
            "Where the two disagree, the model reads its answer through a state that already holds the symbol "
            "(an encoder output has seen every earlier step), or it looks somewhere its answer does not depend on."
        )


if not ARCHITECTURES[config.model.arch].has_attention:
    st.info(
        f"The picked architecture, **{config.model.arch}**, has no attention: no weights to show. Switch to an "
        "attention model on the same task, or read below where its outputs depend on the input:"
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
    if task.values == "tokens":
        bundle, _ = replay_bundle(config, require_model(config))
        source = sequence_input(config)
        step = step_cursor(bundle.target_length)
        saliency_section(bundle, source, step)
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

saliency_section(bundle, source, step, weights=weights)

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
