"""The code behind each page's figures, as whole programs a reader can copy into a file and run.

A page shows its program under its figures ("The code behind these figures"), filled in with what the page is
showing: the picked configuration as a `default_config(...)` call, the typed sequence, the cursor's step and the
page's other choices. The program loads the same model the page uses (`pretrained/` first, then the cache folder,
through `explorer.cache.ModelStore`; trained on the spot when neither has it), makes the same library calls as
the page, and saves each figure to a file in the current folder: charts as SVG (Altair, through vl-convert),
graphs as Graphviz DOT. `tests/test_snippets.py` runs every program a page shows.

The programs are templates (`string.Template`): `$config` and the page's values are filled in by `figure_code`.
Nothing here imports Keras or Streamlit.
"""

from __future__ import annotations

import dataclasses
import json
from string import Template
from typing import Any

import numpy as np

from explorer.config import RunConfig
from explorer.presets import default_config

# Every program but the Gradients page's (four fixed runs) builds the configuration and loads its model like this,
# after importing ModelStore, default_config and train.
_LOAD_MODEL = """\

config = $config
found = ModelStore().lookup(config)  # pretrained/ first, then the cache folder ($$SEQ2SEQ_CACHE_DIR)
if found is None:
    print("No stored model for this configuration: training one (seconds to a few minutes)...")
bundle = found.bundle if found is not None else train(config).bundle
"""

_TEMPLATES: dict[str, str] = {
    "graph": '''\
"""The Unrolled graph page: the model folded, unrolled over one input, and the backward pass. Writes DOT files;
render them with Graphviz (`dot -Tsvg unrolled.dot -o unrolled.svg`) or paste them into any DOT viewer."""
from pathlib import Path

import numpy as np

from explorer.analysis import step_gradients
from explorer.cache import ModelStore
from explorer.decoding import greedy_decode
from explorer.graphs import folded_dot, unrolled_dot
from explorer.presets import default_config
from explorer.tasks import get_task
from explorer.training import train
$load_model
task = get_task(config.task.name)
source = np.array($source)
inputs = source[None] if task.values == "tokens" else source[None, :, None]  # a batch of one sequence
if task.values == "tokens":
    trace = greedy_decode(bundle, inputs)  # free-running: each step reads the previous prediction
    outputs = trace.tokens[0]
    attention = trace.attention[0] if trace.attention is not None else None  # (output steps, input steps)
else:
    prediction = bundle.training_model.predict_on_batch(inputs)
    outputs = (prediction[0] if isinstance(prediction, list) else prediction)[0, :, 0]
    attention = None
mode = $mode  # "training": the decoder reads the true previous symbol (teacher forcing)
shown = task.targets_for(config.task, source[None])[0] if mode == "training" else outputs
Path("folded.dot").write_text(folded_dot(config))
Path("unrolled.dot").write_text(unrolled_dot(config, list(source), list(shown), mode=mode, attention=attention))

# Backward: how much of the loss gradient reaches each input step through the chain.
targets = task.targets_for(config.task, source[None]) if task.values == "tokens" else inputs
gradients = step_gradients(bundle, inputs, bundle.model_targets(targets))
Path("backward.dot").write_text(unrolled_dot(config, list(source), list(shown), gradients=gradients, mode=mode))
print("wrote folded.dot, unrolled.dot and backward.dot")
''',
    "states": '''\
"""The States & gates page: hidden state, cell state and gates of one recurrent layer, step by step; one unit's
step in numbers; and where that unit is on over many generated inputs."""
import numpy as np
import pandas as pd

from explorer.cache import ModelStore
from explorer.cellmath import step_math, step_rows
from explorer.presets import default_config
from explorer.probe import probe
from explorer.tasks import get_task, make_batch
from explorer.training import train
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
)
$load_model
source = np.array($source)
inputs = source[None] if get_task(config.task.name).values == "tokens" else source[None, :, None]
traced = probe(bundle, inputs)  # every recurrent layer replayed in NumPy from its weights, checked against Keras
layer = traced.layers[$layer]
step = $step  # the time step the cursor marks
hidden = states_frame(layer, "hidden")  # tidy frame: step, unit, value
state_heatmap_chart(hidden, f"hidden state h of {layer.name}", step).save("hidden.svg")
written = ["hidden.svg"]
if layer.cell_state is not None:  # an LSTM's memory; it can grow past 1
    limit = float(max(1.0, np.abs(layer.cell_state).max()))
    cell = states_frame(layer, "cell")
    state_heatmap_chart(cell, f"cell state c of {layer.name}", step, (-limit, limit)).save("cell.svg")
    written.append("cell.svg")
if layer.gates:  # (batch, time, units) per gate, recomputed from the layer's weights
    gates_chart(gates_frame(layer), step).save("gates.svg")
    written.append("gates.svg")

# One step in numbers: the gate equations of one unit at the cursor's step, from the weights and this input.
unit = $unit  # counted from 1, as the page shows it
math = step_math(layer, 0, step - 1, unit - 1)
print(pd.DataFrame(step_rows(math)).to_string(index=False))
print(f"new h = {math.h:.4f} (the probe: {math.probe_h:.4f}); largest difference {math.largest_difference:.1e}")

# Unit pattern search: where the unit is on over generated inputs, beside what the task knows at each step.
task = get_task(config.task.name)
batch = make_batch(config.task, $inputs, seed=$seed)  # a teacher-forced decoder reads the true previous symbols
batch_probe = probe(bundle, batch.encoder_inputs, batch.decoder_inputs if bundle.uses_decoder_inputs else None)
searched = batch_probe.layers[$layer]
state = $state  # "hidden" (h) or "cell" (c)
values = searched.hidden if state == "hidden" else searched.cell_state
# A composite autoencoder's prediction decoder writes the extra targets.
writes = batch.extra_targets if batch.extra_targets is not None and "predict" in layer.name else None
reversed_read = config.model.reverse_source and layer.role == "encoder"
tracks = task_tracks(task, config.task, batch, layer.role, layer.hidden.shape[1], reversed_read, writes)
threshold = $threshold
found = search(values[:, :, unit - 1], tracks, threshold)
if found.message:
    print(found.message)
else:
    print(f"unit {unit} is on at {found.steps_on} of {found.on.size} steps, on {found.inputs_on} inputs")
    title = f"where unit {unit} is above {threshold:g}, by step of {layer.name}"
    unit_firing_chart(unit_firing_frame(found.on_by_position), title).save("unit-on.svg")
    written.append("unit-on.svg")
track_scores_chart(track_scores_frame(found.scores)).save("unit-tracks.svg")  # r2 for numbers, eta2 for categories
written.append("unit-tracks.svg")
print("wrote", ", ".join(written))
''',
    "attention": '''\
"""The Attention page: where each output step looks in the input, against the task's ideal alignment."""
import numpy as np

from explorer.analysis import alignment_score
from explorer.cache import ModelStore
from explorer.decoding import greedy_decode
from explorer.presets import default_config
from explorer.tasks import get_task
from explorer.training import train
from explorer.viz import attention_bars_chart, attention_frame, attention_heatmap_chart
$load_model
source = np.array($source)
trace = greedy_decode(bundle, source[None])  # batched, compiled, free-running; here a batch of one
weights = trace.attention[0]  # (output steps, input steps); every row sums to 1
ideal = get_task(config.task.name).ideal_alignment(config.task, source)
frame = attention_frame(weights, source, trace.tokens[0], ideal)
step = $step  # the output step the cursor marks
attention_heatmap_chart(frame, step).save("attention.svg")
attention_bars_chart(frame, step).save("attention-step.svg")
score = alignment_score(weights, ideal)
print("alignment score:", "none (no ideal alignment)" if score is None else f"{score:.2f}")
print("wrote attention.svg and attention-step.svg")
''',
    "decoding": '''\
"""The Decoding page: teacher-forced against free-running decoding, errors by position, and beam search."""
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.analysis import position_accuracy
from explorer.cache import ModelStore
from explorer.decoding import beam_search, greedy_decode, teacher_forced_decode
from explorer.graphs import beam_dot
from explorer.presets import default_config
from explorer.tasks import get_task
from explorer.training import train
from explorer.viz import decode_steps_frame, position_accuracy_chart
$load_model
source = np.array($source)
targets = get_task(config.task.name).targets_for(config.task, source[None])
forced = teacher_forced_decode(bundle, source[None], targets)  # reads the true previous symbol at each step
free = greedy_decode(bundle, source[None])  # reads its own previous prediction
print(decode_steps_frame(targets[0], forced, free).to_string(index=False))

positions = pd.DataFrame(position_accuracy(bundle))  # 1,000 fresh examples decoded both ways
position_accuracy_chart(positions).save("positions.svg")
width = $width
result = beam_search(bundle, source, width=width)  # result.sequences: the best candidates with log probabilities
Path("beam.dot").write_text(beam_dot(result, width))
print("best:", result.sequences[0])
print("wrote positions.svg and beam.dot")
''',
    "embeddings": '''\
"""The Autoencoder embeddings page: encoder vectors of 400 generated series in 2-D, and a series' neighbours."""
from explorer.cache import ModelStore
from explorer.embeddings import encode_series, neighbours, pca, projection_frame, shape_classifier, tsne
from explorer.presets import default_config
from explorer.training import train
from explorer.viz import projection_chart, series_chart, series_frame
$load_model
encoded = encode_series(bundle)  # encoded.vectors: (400, units), the encoder's final hidden state per series
projection = $projection  # "PCA" or "t-SNE"
points = tsne(encoded.vectors) if projection == "t-SNE" else pca(encoded.vectors)[0]  # (400, 2)
selected = $point
near = neighbours(encoded.vectors, selected, 5)  # the 5 nearest vectors, nearest first
colour = $colour  # the generating property the points are coloured by
projection_chart(projection_frame(encoded, points), colour, selected, near).save("embeddings.svg")
lines = series_frame(encoded.series[selected], {f"neighbour {n}": encoded.series[n] for n in near})
series_chart(lines, f"series {selected} and its 5 nearest neighbours").save("neighbours.svg")
print("ramp or sine, held-out accuracy:", shape_classifier(encoded))
print("wrote embeddings.svg and neighbours.svg")
''',
    "gradients": '''\
"""The Gradients page: per-layer gradient norms of four runs that differ only in cell and clipping."""
from explorer.cache import ModelStore
from explorer.presets import gradient_configs
from explorer.training import train
from explorer.viz import gradient_norms_chart, gradient_norms_frame

store = ModelStore()
norms = {}
for name, config in gradient_configs().items():
    # The shipped runs kept the norms they measured before every update; a missing run is trained here.
    found = store.lookup(config)
    norms[name] = found.sidecar["gradient_norms"] if found is not None else train(config).gradient_norms
frame = gradient_norms_frame(norms)  # tidy: run, step, layer, norm
gradient_norms_chart(frame).save("gradient-norms.svg")
print(frame.groupby("run")["norm"].max())
print("wrote gradient-norms.svg")
''',
    "whatif": '''\
"""The What if page: one intervention on one input, the decode before and after it, and what moved downstream."""
import numpy as np

from explorer.cache import ModelStore
from explorer.interventions import ChangeInput, ClampUnit, ForceAttention, ForcePrefix, intervene
from explorer.presets import default_config
from explorer.tasks import get_task
from explorer.training import train
from explorer.viz import intervention_frame, matrix_frame, probability_shift_chart, state_heatmap_chart
$load_model
task = get_task(config.task.name)
source = np.array($source)
intervention = $intervention
outcome = intervene(bundle, source, intervention)  # both decodes run as one batch of two
print("before:", task.format_sequence(config.task, outcome.before.tokens))
print("after: ", task.format_sequence(config.task, outcome.after.tokens))
first = outcome.first_effect  # the first output step (0-based) whose probabilities or states moved; None: none
print("nothing moved" if first is None else f"the effects start at output step {first + 1}")
frame = intervention_frame(outcome, task.symbol)  # per output step: before, after, probability shift
print(frame.to_string(index=False))
probability_shift_chart(frame).save("whatif-shift.svg")
written = ["whatif-shift.svg"]
change = outcome.state_change  # (output steps, units): the top decoder layer's h, after minus before
if change is not None:
    limit = float(max(1e-6, np.abs(change).max()))
    states = matrix_frame(change, "step", "unit", "value")
    title = "top decoder layer's hidden state h: after - before"
    state_heatmap_chart(states, title, None if first is None else first + 1, (-limit, limit)).save("whatif-states.svg")
    written.append("whatif-states.svg")
print("wrote", " and ".join(written))
''',
}

# What each page fills in besides the configuration.
VALUES: dict[str, tuple[str, ...]] = {
    "graph": ("source", "mode"),
    "states": ("source", "layer", "step", "unit", "state", "threshold", "inputs", "seed"),
    "attention": ("source", "step"),
    "decoding": ("source", "width"),
    "embeddings": ("point", "colour", "projection"),
    "gradients": (),
    "whatif": ("source", "intervention"),
}


def figure_names() -> tuple[str, ...]:
    """The pages that have a program, by page name (`explorer.ui.pages`)."""
    return tuple(_TEMPLATES)


def config_expression(config: RunConfig) -> str:
    """A `default_config(...)` call that rebuilds `config`: its task and architecture, and every field that differs
    from their defaults (qualified, as in `**{"train.seed": 1}`, where two sections have a field of that name)."""
    base = default_config(config.task.name, config.model.arch)
    names = [
        field.name for section in (config.task, config.model, config.train) for field in dataclasses.fields(section)
    ]
    plain: list[str] = []
    qualified: list[str] = []
    for section in ("task", "model", "train"):
        ours, theirs = getattr(config, section), getattr(base, section)
        for field in dataclasses.fields(ours):
            value = getattr(ours, field.name)
            if value == getattr(theirs, field.name):
                continue
            if names.count(field.name) > 1:
                qualified.append(f'"{section}.{field.name}": {_literal(value)}')
            else:
                plain.append(f"{field.name}={_literal(value)}")
    arguments = [_literal(config.task.name), _literal(config.model.arch), *plain]
    if qualified:
        arguments.append("**{" + ", ".join(qualified) + "}")
    return f"default_config({', '.join(arguments)})"


def _literal(value: Any) -> str:
    """A value as Python source: text in double quotes, a sequence as a list (reals rounded to 6 digits)."""
    if isinstance(value, str):
        return json.dumps(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # an intervention: its own constructor call
        return repr(value)
    if isinstance(value, (bool, int, float, np.generic)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return repr([round(float(item), 6) for item in array.ravel()])
    return repr([int(item) for item in array.ravel()])


def figure_code(page: str, config: RunConfig | None = None, **values: Any) -> str:
    """The program behind `page`'s figures, filled in with `config` and the page's `values` (see `VALUES`).

    `config` may be left out only by a page whose program does not load the picked model (the Gradients page's).
    Raises KeyError naming what is missing when the program needs something that is not given.
    """
    missing = [name for name in VALUES[page] if name not in values]
    if config is None and "$load_model" in _TEMPLATES[page]:
        missing.insert(0, "config")
    if missing:
        raise KeyError(f"the {page} program needs {', '.join(missing)}")
    load = Template(_LOAD_MODEL).substitute(config=config_expression(config)) if config is not None else ""
    filled = {name: _literal(values[name]) for name in VALUES[page]}
    return Template(_TEMPLATES[page]).substitute(load_model=load, **filled).strip() + "\n"
