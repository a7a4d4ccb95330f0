"""Unrolled graph: the picked model folded, unrolled over the real lengths, forward and backward."""

import pandas as pd
import streamlit as st

from explorer.analysis import step_gradients
from explorer.facts import Pattern
from explorer.graphs import activation_memory, folded_dot, training_vs_inference_dot, unrolled_dot
from explorer.tasks import get_task
from explorer.ui.figures import code_expander, dot_with_download
from explorer.ui.inputs import sequence_input, step_cursor, url_choice
from explorer.ui.models import per_model, require_model
from explorer.ui.picker import current_config
from explorer.ui.results import free_running, training_outputs

st.title("Unrolled graph")
st.write(
    "A recurrent layer is one cell applied again and again: drawn folded it has a loop, drawn unrolled it is a "
    "chain with one copy of the cell per time step, each passing its state to the next. Training "
    "backpropagates through that chain, which is why long sequences are hard to learn and costly to train."
)
config = current_config()
bundle = require_model(config)
task = get_task(config.task.name)
source = sequence_input(config)
inputs = source[None] if task.values == "tokens" else source[None, :, None]
trace = free_running(bundle, inputs) if task.values == "tokens" else None
if trace is not None:
    outputs = trace.tokens[0]
    attention = trace.attention[0] if trace.attention is not None else None
else:
    outputs = training_outputs(bundle, inputs)[0][0, :, 0]
    attention = None
step = step_cursor(len(outputs))


def labels(sequence) -> list:
    """Node labels: a token task's symbols as the task writes them (characters for a task with an alphabet)."""
    return task.symbols(sequence) if task.values == "tokens" else list(sequence)


st.subheader("Folded")
dot_with_download(folded_dot(config), f"folded-{config.model.arch}", key="folded")

st.subheader("Unrolled over your input")
mode = "inference"
if bundle.pattern is Pattern.RECURSIVE:
    mode = url_choice(
        st.radio,
        "Decoder reads",
        ["inference", "training"],
        key="reads",
        default="inference",
        horizontal=True,
        format_func=lambda m: {
            "inference": "its own predictions (inference)",
            "training": "the true previous symbol (teacher forcing, training)",
        }[m],
    )
shown = task.targets_for(config.task, source[None])[0] if mode == "training" else outputs
notes = []
if attention is not None:
    notes.append(
        "Green edges: attention from each input step into each output step, thicker for larger weights "
        "(weights under 0.05 are left out). The cursor's output step is red."
    )
if bundle.pattern is Pattern.DIRECT:
    notes.append(
        "The direct pattern: RepeatVector hands the same encoding to every decoder step, and the decoder "
        "never sees what it already wrote."
    )
dot_with_download(
    unrolled_dot(config, labels(source), labels(shown), mode=mode, attention=attention, highlight_step=step - 1),
    f"unrolled-{config.key()}",
    key="unrolled",
    caption=" ".join(notes) or None,
)

if bundle.pattern is Pattern.RECURSIVE:
    st.subheader("Three models, one set of weights")
    dot_with_download(training_vs_inference_dot(config), f"models-{config.model.arch}", key="models")

st.subheader("Backward: gradient reaching each step")
targets = task.targets_for(config.task, source[None]) if task.values == "tokens" else source[None, :, None]
# One eager backward pass per model and input, shared by every session: it was most of this page's time per run.
gradients = per_model(max_entries=256)(step_gradients)(bundle, inputs, bundle.model_targets(targets))
dot_with_download(
    unrolled_dot(config, labels(source), labels(shown), gradients=gradients, mode=mode),
    f"backward-{config.key()}",
    key="backward",
    caption="Each input edge carries |∂L/∂x_t|, the size of the loss gradient that reaches input step t through "
    "the chain; steps far from the loss usually receive less. The arrows point back in time, as the gradient "
    "flows.",
)

st.subheader("Activation memory grows with the number of steps")
rows = []
for factor in (1, 2, 4, 8):
    longer = config.task.input_length * factor
    try:
        from explorer.analysis import with_input_length

        memory = activation_memory(with_input_length(config, longer))
    except ValueError:
        continue
    rows.append(
        {
            "input length": longer,
            "steps unrolled": memory["steps"],
            "activations per batch (MB)": round(memory["bytes"] / 1e6, 2),
        }
    )
st.dataframe(pd.DataFrame(rows), hide_index=True)
st.caption(
    f"Backpropagation through time keeps every step's activations for a batch of {config.train.batch_size} "
    "until the backward pass: twice the steps, twice the memory."
)
code_expander("graph", config, source=source, mode=mode)
