"""What if: force the decoder's first outputs, clamp a unit, force the attention, change one input symbol."""

import numpy as np
import streamlit as st

from explorer.interventions import ChangeInput, ClampUnit, ForceAttention, ForcePrefix
from explorer.tasks import get_task
from explorer.ui.figures import chart_with_downloads, code_expander
from explorer.ui.inputs import sequence_input, step_cursor, url_choice, url_number
from explorer.ui.locks import locked
from explorer.ui.models import require_model, require_symbols
from explorer.ui.picker import current_config
from explorer.ui.replay import replay_bundle
from explorer.ui.results import free_running, intervention_outcome
from explorer.viz import (
    intervention_frame,
    matrix_frame,
    probability_shift_chart,
    state_heatmap_chart,
)

st.title("What if: change one thing")
st.write(
    "Looking at a model shows what it computed; changing one thing and watching what follows shows what the "
    "computation *depends on*. Pick an intervention, set it, and compare the decode of your input before and "
    "after: which output steps changed, how the probability of each earlier symbol moved, and how the decoder's "
    "hidden state moved from step to step. The orange mark is the first step where anything moved."
)
config = current_config()
task = get_task(config.task.name)
require_symbols(task, "these interventions")
bundle, _ = replay_bundle(config, require_model(config))
source = sequence_input(config)
greedy = free_running(bundle, source[None])
length, input_length = bundle.target_length, config.task.input_length

# The radio's options are its labels, which the URL carries (`whatif=clamp a unit`).
FORCE, CLAMP, ATTEND, CHANGE = "force the first outputs", "clamp a unit", "force the attention", "change an input"
kind = url_choice(
    st.radio, "Intervention", [FORCE, CLAMP, ATTEND, CHANGE], key="whatif", default=FORCE, horizontal=True
)


def written(tokens) -> str:
    return task.format_sequence(config.task, np.asarray(tokens))


intervention = None
problem = None
if kind == FORCE:
    st.write(
        "Type the symbols the decoder must write first; it then runs free, reading what you forced. A decoder that "
        "reads its own outputs has to carry on from a start it did not choose; one that never reads them (the "
        "RepeatVector and stacked models) writes the rest exactly as before."
    )
    default = written(greedy.tokens[0][:1]) if task.alphabet else str(int(greedy.tokens[0][0]))
    text = st.text_input(
        f"Forced first outputs (up to {length})",
        value=default,
        key="force",
        bind="query-params",
        disabled=locked("controls"),
        help="The model's own first output is filled in: change it.",
    )
    try:
        intervention = ForcePrefix(tuple(int(t) for t in task.parse_symbols(config.task, text, length)))
    except ValueError as error:
        problem = str(error)
elif kind == CLAMP:
    st.write(
        "Hold one unit of a recurrent layer at a value in the state it hands on out of a step (or out of every "
        "step). In an encoder, or a layer whose output the next layer reads, the clamped value is also what the "
        "layers above read at that step; a decoder that reads its own outputs wrote that step's symbol before the "
        "clamp, so there the effects can start one step later (as they do for a clamped cell state c, which "
        "the step has already turned into its h). Clamping a unit to the value it already had "
        "changes nothing, as it must. Encoder layers are replayed in NumPy from their weights for this, and the "
        "rest of the model runs on the replay."
    )
    layers = [
        (tap.role, sum(other.role == tap.role for other in bundle.taps[:i]), tap) for i, tap in enumerate(bundle.taps)
    ]
    names = [f"{tap.layer.name} ({role})" for role, _, tap in layers]
    shown = url_choice(st.selectbox, "Layer", names, key="clamp_layer", default=names[-1])
    role, within, tap = layers[names.index(shown)]
    directions = 2 if hasattr(tap.layer, "forward_layer") else 1
    cell_layer = tap.layer.forward_layer if directions == 2 else tap.layer
    units, steps_in_layer = cell_layer.cell.units * directions, tap.inputs.shape[1]
    left, middle = st.columns(2)
    with left:
        state_name = url_choice(
            st.radio,
            "State",
            list(bundle.state_names),
            key="clamp_state",
            default="h",
            horizontal=True,
            help="h: the hidden state, which the step outputs; c: the LSTM's cell state, its memory.",
        )
        unit = url_number("Unit", 1, units, key="clamp_unit", default=1)
    with middle:
        steps = ["every step", *range(1, steps_in_layer + 1)]
        at = url_choice(st.select_slider, "Out of step", steps, key="clamp_step", default="every step", format_func=str)
        value = url_choice(
            st.select_slider, "Value", [-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0], key="clamp_value", default=0.0
        )
    at_step = None if at == "every step" else int(at) - 1
    intervention = ClampUnit(unit - 1, float(value), at_step, state_name, within, role)
elif kind == ATTEND:
    st.write(
        "Make one output step read the encoder outputs at an input step of your choice (all its weight there) "
        "instead of where it looked; the decoder then runs free from there. Forcing the weights the model "
        "already had changes nothing."
    )
    if bundle.steered_step is None:
        st.info(f"**{config.model.arch}** has no attention to force. Pick an attention model in the sidebar.")
        st.stop()
    output_step = step_cursor(length)
    looked = int(greedy.attention[0, output_step - 1].argmax())
    symbols = task.symbols(source)
    target = url_choice(
        st.selectbox,
        f"Output step {output_step} reads input step",
        list(range(1, input_length + 1)),
        key="attend_to",
        default=looked + 1,
        help="Its own strongest weight is on the step filled in.",
    )
    st.caption(
        f"Input step {target} holds **{symbols[int(target) - 1]}**; the model's own choice was step {looked + 1}."
    )
    intervention = ForceAttention(output_step - 1, int(target) - 1)
else:
    st.write(
        "Replace one input symbol and see which output steps change, and how far the probabilities of the "
        "symbols written before move. In a model that copies, only the steps that read that symbol should move."
    )
    left, right = st.columns(2)
    symbols = task.symbols(source)
    with left:
        position = url_choice(
            st.selectbox,
            "Input step",
            list(range(1, input_length + 1)),
            key="change_at",
            default=1,
        )
        st.caption(f"Input step {position} holds **{symbols[int(position) - 1]}**.")
    with right:
        choices = list(range(0 if task.alphabet else 1, config.task.cardinality + 1))
        default_symbol = choices[0] if choices[0] != source[position - 1] else choices[1]
        symbol = url_choice(
            st.selectbox, "New symbol", choices, key="change_to", default=default_symbol, format_func=task.symbol
        )
    intervention = ChangeInput(int(position) - 1, int(symbol))

if problem is None and intervention is not None:
    try:
        outcome = intervention_outcome(bundle, source, intervention)
    except ValueError as error:
        problem = str(error)
if problem is not None:
    st.error(f"That cannot be applied: {problem}. Change it above; nothing else was lost.")
    st.stop()

frame = intervention_frame(outcome, task.symbol)
st.markdown(f"**Before:** `{written(outcome.before.tokens)}` &nbsp; **After:** `{written(outcome.after.tokens)}`")
if outcome.first_effect is None:
    st.success("Nothing downstream moved: every output step computed exactly what it computed before.")
else:
    changed = int(outcome.changed.sum())
    st.warning(
        f"The effects start at output step {outcome.first_effect + 1}; {changed} of {length} written symbols changed."
    )


def _highlight(row):
    if row["changed"]:
        return ["background-color: #f8d0d0"] * len(row)
    if row["effects start"]:
        return ["background-color: #fde0c5"] * len(row)
    return [""] * len(row)


st.dataframe(frame.style.apply(_highlight, axis=1).format(precision=3), hide_index=True)
chart_with_downloads(
    probability_shift_chart(frame),
    frame,
    f"whatif-shift-{config.key()}",
    key="shift",
    caption="Red bars: steps whose symbol changed. Dashed orange rule: the first step where anything moved.",
)
change = outcome.state_change
if change is not None:
    limit = float(max(1e-6, np.abs(change).max()))
    states = matrix_frame(change, "step", "unit", "value")
    chart_with_downloads(
        state_heatmap_chart(
            states,
            "top decoder layer's hidden state h: after − before",
            None if outcome.first_effect is None else outcome.first_effect + 1,
            (-limit, limit),
        ),
        states,
        f"whatif-states-{config.key()}",
        key="states",
        caption=f"Each step's change of every unit (colour scale ±{limit:.2g}); the red frame marks the step where "
        "the effects start.",
    )
code_expander("whatif", config, source=source, intervention=intervention)
