"""States: hidden and cell states and the gates of every recurrent layer, step by step, for a typed input."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer.tasks import get_task
from explorer.ui.figures import chart_with_downloads, code_expander
from explorer.ui.inputs import LAYER_STEP, sequence_input, step_cursor, url_choice
from explorer.ui.models import require_model
from explorer.ui.picker import current_config
from explorer.ui.replay import replay_bundle
from explorer.ui.results import encoder_outputs, traced
from explorer.viz import gates_chart, gates_frame, state_heatmap_chart, states_frame, unit_lines_chart

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

hidden = states_frame(layer, "hidden")
chart_with_downloads(
    state_heatmap_chart(hidden, f"hidden state h of {layer.name}", step), hidden, f"hidden-{layer.name}", key="hidden"
)
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
code_expander("states", config, source=source, layer=choice, step=step)
