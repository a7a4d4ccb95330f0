"""States: hidden and cell states and the gates of every recurrent layer, step by step, for a typed input."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer.cellmath import step_latex, step_math, step_rows, weight_rows
from explorer.tasks import get_task
from explorer.ui.figures import chart_with_downloads, code_expander
from explorer.ui.inputs import (
    LAYER_STEP,
    pick_fields_on_select,
    sequence_input,
    step_cursor,
    url_choice,
    url_number,
)
from explorer.ui.models import require_model
from explorer.ui.picker import current_config
from explorer.ui.replay import replay_bundle
from explorer.ui.results import encoder_outputs, traced, traced_batch
from explorer.unitsearch import search, task_tracks
from explorer.viz import (
    gates_chart,
    gates_frame,
    state_heatmap_chart,
    states_frame,
    track_scores_chart,
    track_scores_frame,
    unit_firing_chart,
    unit_firing_frame,
    unit_lines_chart,
)

# The unit pattern search probes this many inputs from the task's generator, drawn with this seed (not the sample
# input's), so every visitor searches the same inputs and the probe is computed once per model.
SEARCH_INPUTS = 500
SEARCH_SEED = 7

st.title("Hidden states, cell states and gates")
st.write(
    "At every step an LSTM reads one input and updates two vectors: the **hidden state h**, which it outputs, and "
    "the **cell state c**, its longer-term memory. Four gates decide what happens: the *forget* gate scales the "
    "old memory, the *input* gate lets the *candidate* in, the *output* gate decides how much of the memory "
    "shows in h. GRUs have update and reset gates instead; a SimpleRNN has none."
)
config = current_config()
bundle, _ = replay_bundle(config, require_model(config))
task = get_task(config.task.name)
source = sequence_input(config)
inputs = source[None] if task.values == "tokens" else source[None, :, None]
probed = traced(bundle, inputs)
names = [f"{layer.name} ({layer.role})" for layer in probed.layers]
choice = url_choice(
    st.selectbox,
    "Layer",
    range(len(names)),
    key="layer",
    default=0,
    format_func=lambda i: names[i],
)
layer = probed.layers[choice]
steps = layer.hidden.shape[1]
# Which sequence position the layer's own step t stands for, so that it is never taken for the output step.
if layer.role != "encoder":
    reads = "output step t"
elif config.model.reverse_source:
    reads = f"input step {steps} + 1 − t (the source is read reversed)"
else:
    reads = "input step t"
step = step_cursor(steps, LAYER_STEP, f"Time step t of {layer.name}, its own step: t stands for {reads}")
width = layer.hidden.shape[-1]
if st.session_state.get("unit", 1) > width:  # a narrower layer was picked: keep the unit inside it
    st.session_state["unit"] = width
unit = url_number(f"Unit (1 to {width}), or click a cell of the hidden-state heatmap", 1, width, key="unit", default=1)

hidden = states_frame(layer, "hidden")
chart_with_downloads(
    state_heatmap_chart(hidden, f"hidden state h of {layer.name}", step, selection="cell", highlight_unit=unit),
    hidden,
    f"hidden-{layer.name}",
    key="hidden",
    on_select=pick_fields_on_select("hidden_chart", "cell", {"step": LAYER_STEP.key, "unit": "unit"}),
    caption="Click a cell to see that unit's step in numbers below; the black frame marks the one shown.",
)

st.subheader(f"One step in numbers: unit {unit} at step {step}")
math = step_math(layer, 0, step - 1, unit - 1)
direction = f" of the {math.direction} direction (its unit {math.direction_unit + 1})" if math.direction else ""
st.write(
    f"The equations of unit {unit}{direction} of {layer.name} at step {step}, with this input's numbers. Each "
    "gate adds what the input brings (x_t times the unit's column of the input weights W), what the previous "
    "hidden state brings (h times its column of the recurrent weights U) and a bias, then squashes the sum: "
    "σ to 0..1 for a gate, tanh to −1..1 for a candidate."
)
if math.direction == "backward":
    st.caption("The backward direction reads the input from its end, so its previous state is the one of step t + 1.")
st.latex(step_latex(math))
# One row per gate (the parts, the sum, the activation, and the probe's value beside it); the previous state in words.
gate_rows = pd.DataFrame([row for row in step_rows(math) if "pre-activation" in row]).dropna(axis=1, how="all")
st.table(gate_rows.style.format(precision=4).hide(axis="index"))
previous = "the initial state" if math.previous_step is None else f"the state of step {math.previous_step + 1}"
st.caption(
    f"The previous state is {previous}: h = {math.h_previous_unit:.4f}"
    + (f", c = {math.c_previous:.4f}" if math.c_previous is not None else "")
    + f". The new h = {math.h:.4f} (the probe: {math.probe_h:.4f})"
    + (f", c = {math.c:.4f} (the probe: {math.probe_c:.4f})." if math.c is not None else ".")
)
hot = np.flatnonzero(math.x)
if len(hot) == 1 and math.x[hot[0]] == 1.0:
    # The first encoder layer of a token task reads one-hot tokens: feature k + 1 is token k.
    reads_tokens = task.values == "tokens" and choice == 0
    what = f"the one-hot vector of the symbol {task.symbol(hot[0])}" if reads_tokens else "one-hot"
    about_x = f"Here x_t is {what}: its only 1 is feature {hot[0] + 1}, so x_t·W[:, k] is row {hot[0] + 1} of W."
else:
    about_x = f"Here x_t has {len(math.x)} features; the expander below lists them beside the weights."
st.caption(
    "The probe's replay of the whole sequence gives the same gates, c and h at this step: the largest "
    f"difference is {math.largest_difference:.1e}. {about_x}"
)
with st.expander("The vectors behind the dot products"):
    inputs_rows, recurrent_rows = weight_rows(math)
    st.table(pd.DataFrame(inputs_rows).style.format(precision=3).hide(axis="index"))
    st.table(pd.DataFrame(recurrent_rows).style.format(precision=3).hide(axis="index"))
if layer.cell_state is not None:
    cell = states_frame(layer, "cell")
    limit = float(max(1.0, np.abs(layer.cell_state).max()))
    chart_with_downloads(
        state_heatmap_chart(cell, f"cell state c of {layer.name}", step, (-limit, limit)),
        cell,
        f"cell-{layer.name}",
        key="cell",
    )
if layer.gates:
    gates = gates_frame(layer)
    st.subheader("Gates")
    at_step = {gate: float(values[0, step - 1].mean()) for gate, values in layer.gates.items()}
    chart_with_downloads(
        gates_chart(gates, step),
        gates,
        f"gates-{layer.name}",
        key="gates",
        caption=f"At time step {step} of {layer.name}, mean over units: "
        + ", ".join(f"{g} {v:.2f}" for g, v in at_step.items()),
    )
else:
    st.info("A SimpleRNN cell has no gates: h(t) = tanh(W x(t) + U h(t-1) + b).")

st.subheader("return_sequences versus return_state")
st.write(
    "`return_sequences=True` gives h at every step; `return_state=True` gives the final h (and c). They are the "
    "same numbers: the returned state is the last column of the sequence. Here both come from Keras, beside the "
    "values our NumPy replay of the gates computes from the layer's weights."
)
encoder_layer = probed.by_role("encoder")[-1]
encoded = encoder_outputs(bundle, inputs)
state_h = bundle.final_encoder_state(encoded, "h")[0]
last = encoder_layer.keras_output[0, -1]
show = min(8, last.shape[-1])
table = pd.DataFrame(
    {
        "unit": np.arange(1, show + 1),
        "return_sequences[:, -1]": last[:show],
        "return_state h": state_h[:show] if not config.model.bidirectional else np.full(show, np.nan),
        "NumPy replay h(T)": encoder_layer.hidden[0, -1, :show],
    }
)
st.dataframe(table.style.format(precision=5), hide_index=True)
difference = float(np.abs(encoder_layer.hidden - encoder_layer.keras_output).max())
st.caption(f"Largest difference between the replay and Keras over every step and unit: {difference:.1e}.")
if config.model.bidirectional:
    st.caption(
        "With a bidirectional encoder the returned state joins the forward chain's last step with the "
        "backward chain's first, so it is not the last column of the sequence."
    )

st.subheader("Units over time")
units = url_choice(
    st.multiselect,
    "Units",
    range(1, layer.hidden.shape[-1] + 1),
    key="units_shown",
    default=[1, 2, 3][: layer.hidden.shape[-1]],
)
if units:
    chart_with_downloads(
        unit_lines_chart(hidden, units, step), hidden[hidden.unit.isin(units)], f"units-{layer.name}", key="units"
    )

st.subheader("Unit pattern search")
st.write(
    f"Is unit {unit} of {layer.name} a detector of something? Below, the model reads {SEARCH_INPUTS} inputs from "
    "the task's generator, and we mark every step where the unit's activation is above a threshold (the unit is "
    "*on*), beside what the task knows at that step: the position, the steps left, the symbol read or written. "
    "How well the unit's activity predicts a number (position, steps left, a value) is **r²**, the squared "
    "correlation; for a category (a symbol, an input step) it is **η²**, the share of the unit's variance "
    "explained by the category's mean activation. Both run from 0 (tells nothing) to 1 (tells it exactly)."
)
sources = {"hidden h": "hidden"} | ({"cell c": "cell"} if layer.cell_state is not None else {})
which = url_choice(st.radio, "Activation", list(sources), key="search_state", default="hidden h", horizontal=True)
threshold = url_choice(
    st.select_slider,
    "Threshold: the unit is on where its activation is above",
    [round(-0.9 + 0.1 * i, 1) for i in range(19)],
    key="threshold",
    default=0.3,
)
batch, batch_probe = traced_batch(bundle, SEARCH_INPUTS, SEARCH_SEED)
searched = batch_probe.layers[choice]
values = searched.hidden if sources[which] == "hidden" else searched.cell_state
# A composite autoencoder has a decoder per head, named after it; the prediction head writes the extra targets.
writes = batch.extra_targets if batch.extra_targets is not None and "predict" in layer.name else None
reversed_read = config.model.reverse_source and layer.role == "encoder"
tracks = task_tracks(task, config.task, batch, layer.role, steps, reversed_read, writes)
found = search(values[:, :, unit - 1], tracks, threshold)
if found.message:
    st.info(found.message)
else:
    st.write(
        f"Unit {unit} is on at {found.steps_on} of {found.on.size} steps, on {found.inputs_on} of "
        f"{len(values)} inputs (its activation runs from {found.smallest:.2f} to {found.largest:.2f})."
    )
    firing = unit_firing_frame(found.on_by_position)
    chart_with_downloads(
        unit_firing_chart(firing, f"where unit {unit} is above {threshold:g}, by step of {layer.name}"),
        firing,
        f"unit-{unit}-on-by-step",
        key="unit_on",
    )
scores = track_scores_frame(found.scores)
chart_with_downloads(
    track_scores_chart(scores),
    scores,
    f"unit-{unit}-tracks",
    key="unit_tracks",
    caption="How well the unit's activation predicts each track over every step of every input: r² for numbers, "
    "η² for categories. Undefined where a track never changes.",
)
if found.examples:
    shown_track = next((t for t in tracks if t.symbolic or t.name in ("value read", "value written")), None)
    rows = []
    for index in found.examples:
        on = found.on[index]
        if shown_track is None:
            items = [str(s) for s in range(1, steps + 1)]
        elif shown_track.symbolic:
            items = task.symbols(shown_track.values[index])
        else:
            items = [f"{v:.2f}" for v in shown_track.values[index]]
        marked = " ".join(f"[{item}]" if flag else item for item, flag in zip(items, on, strict=True))
        rows.append({"input": index + 1, "steps on": int(on.sum()), "sequence, [on]": marked})
    what = shown_track.name if shown_track is not None else "step"
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        f"Inputs where unit {unit} fires most; each item is the {what} at a step of {layer.name}, in the order the "
        "layer reads them, and the steps where the unit is on are in [brackets]."
    )
code_expander(
    "states",
    config,
    source=source,
    layer=choice,
    step=step,
    unit=unit,
    state=sources[which],
    threshold=threshold,
    inputs=SEARCH_INPUTS,
    seed=SEARCH_SEED,
)
