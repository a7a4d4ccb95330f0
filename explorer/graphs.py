"""Graphviz DOT for recurrent networks: folded (with the cycle) and unrolled over the real sequence lengths.

Every figure is built as a `graphviz.Digraph` and returned as its DOT text (`Digraph.source`); building the
source needs no system Graphviz, and `st.graphviz_chart` renders it in the browser. Node names encode what they
are (`enc_L_T`: encoder layer L at step T; `dec_L_T`; `x_T`; `y_T`), which the tests rely on. Also here: the
beam-search tree, and `activation_memory`, the numbers behind the page's "memory grows with steps" table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import graphviz
import numpy as np

from explorer.architectures import ARCHITECTURES
from explorer.config import RunConfig
from explorer.facts import STATES_PER_CELL, Pattern
from explorer.tasks import get_task

if TYPE_CHECKING:
    from explorer.decoding import BeamResult

HIGHLIGHT = "#d62728"
ENCODER_FILL = "#dbe9f6"
DECODER_FILL = "#fde0c5"
ATTENTION_FILL = "#e5f5e0"
ATTENTION_EDGE = "#2ca02c"
TEACHER = "#2ca02c"
OWN_PREDICTION = "#ff7f0e"
BACKWARD = "#9467bd"

# Node styles shared by every figure. The graphviz package wants attribute values as strings.
PLAIN = {"shape": "plaintext"}
ENCODER_CELL = {"shape": "box", "style": "rounded,filled", "fillcolor": ENCODER_FILL}
DECODER_CELL = {"shape": "box", "style": "rounded,filled", "fillcolor": DECODER_FILL}
MARKED = {"color": HIGHLIGHT, "penwidth": "3"}


def _digraph(title: str, rankdir: str = "LR") -> graphviz.Digraph:
    """An empty directed graph with the title on top and the house fonts for nodes and edges."""
    return graphviz.Digraph(
        "G",
        graph_attr={
            "rankdir": rankdir,
            "label": title,
            "labelloc": "t",
            "fontsize": "14",
            "fontname": "Helvetica",
            "nodesep": "0.25",
            "ranksep": "0.45",
        },
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"},
    )


def _token(value) -> str:
    """A sequence value as a node label: a symbol already written out, a real value, or a token's number."""
    if isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.2f}"
    return str(int(value))


def _states(cell: str, separator: str = ", ") -> str:
    """What one cell passes to the next step: h, or h and c for an LSTM."""
    return separator.join(["h", "c"][: STATES_PER_CELL[cell]])


def _decoder_units(config: RunConfig) -> int:
    """The size of each decoder state: a bidirectional encoder hands over its forward and backward states side by
    side, twice the units. (`explorer.networks.decoder_units` sizes the layers by the same rule; this module draws
    without Keras, so it cannot import it, and a test checks the two agree.)"""
    return config.model.units * (2 if config.model.bidirectional else 1)


def _shape(rows: int | str, units: int) -> str:
    """A state's tensor shape as an edge label shows it: `(1×64)` for one sequence, `(batch×64)` in general."""
    return f"({rows}×{units})"


def folded_dot(config: RunConfig) -> str:
    """The network as drawn in textbooks: each recurrent layer one box with a loop back to itself."""
    arch = ARCHITECTURES[config.model.arch]
    layers = config.model.layers
    cell = config.model.cell.upper()
    states = _states(config.model.cell)
    graph = _digraph(f"{config.model.arch}: folded")
    graph.node("x", "input x(t)", **PLAIN)
    previous = "x"
    for layer in range(layers):
        name = f"enc_{layer}"
        graph.node(name, f"{'Bi-' if config.model.bidirectional else ''}{cell} encoder {layer}", **ENCODER_CELL)
        graph.edge(name, name, f"{states}(t-1) {_shape('batch', config.model.units)}")
        graph.edge(previous, name)
        previous = name

    if arch.pattern is Pattern.STACKED:
        graph.node("out", "TimeDistributed(Dense softmax)", shape="box")
        graph.edge(previous, "out")
        graph.node("y", "output y(t)", **PLAIN)
        graph.edge("out", "y")
        return graph.source

    if arch.pattern is Pattern.DIRECT:
        graph.node("repeat", "RepeatVector", shape="box")
        graph.edge(previous, "repeat", f"last h {_shape('batch', _decoder_units(config))}")
        previous = "repeat"
    else:
        graph.node("prev", "previous token y(t-1)", **PLAIN)
    for layer in range(layers):
        name = f"dec_{layer}"
        graph.node(name, f"{cell} decoder {layer}", **DECODER_CELL)
        graph.edge(name, name, f"{states}(t-1) {_shape('batch', _decoder_units(config))}")
        if arch.pattern is Pattern.RECURSIVE:
            graph.edge(
                f"enc_{layer}", name, f"final {states} {_shape('batch', _decoder_units(config))}", style="dashed"
            )
        if layer > 0:
            graph.edge(f"dec_{layer - 1}", name)
        else:
            graph.edge("prev" if arch.pattern is Pattern.RECURSIVE else previous, name)
    top = f"dec_{layers - 1}"
    if arch.has_attention:
        graph.node("attention", f"{arch.name} attention", shape="diamond", style="filled", fillcolor=ATTENTION_FILL)
        graph.edge(f"enc_{layers - 1}", "attention", "all steps")
        graph.edge(top, "attention")
        top = "attention"
    tokens = get_task(config.task.name).values == "tokens"
    graph.node("out", "Dense softmax" if tokens else "Dense (real value)", shape="box")
    graph.edge(top, "out")
    graph.node("y", "output y(t)", **PLAIN)
    graph.edge("out", "y")
    if arch.pattern is Pattern.RECURSIVE:
        graph.edge("y", "prev", "fed back at inference", style="dotted", constraint="false")
    return graph.source


def unrolled_dot(
    config: RunConfig,
    source: Sequence,
    outputs: Sequence,
    *,
    mode: str = "inference",
    attention: np.ndarray | None = None,
    highlight_step: int | None = None,
    gradients: dict[str, np.ndarray] | None = None,
    attention_threshold: float = 0.05,
) -> str:
    """One node per cell per time step, with h (and c) passed along.

    source: the input sequence (input_length values); outputs: what the decoder emits (target_length values).
    mode: "training" draws the recursive decoder reading the shifted targets (teacher forcing), "inference" its
    own previous predictions. attention: (target_length, input_length) weights drawn as edges from encoder steps
    into each decoder step (pen width and label from the weight). gradients: {"encoder": (input_length,),
    "decoder": (target_length,)} gradient magnitudes per step, which turns the drawing into the backward (BPTT)
    view: edges point back in time and carry the magnitudes. highlight_step: an output step to mark.
    """
    if mode not in ("training", "inference"):
        raise ValueError("mode is 'training' or 'inference'")
    arch = ARCHITECTURES[config.model.arch]
    model = config.model
    steps_in, steps_out = len(source), len(outputs)
    # Edge labels carry the state tensors' real shapes for the one sequence drawn: (1×units) per state.
    states = _states(model.cell, ",")
    encoder_states = f"{states} {_shape(1, model.units)}"
    decoder_states = f"{states} {_shape(1, _decoder_units(config))}"
    backward = gradients is not None
    title = f"{config.model.arch} unrolled over {steps_in} input and {steps_out} output steps"
    title += " — backward pass (gradient magnitude per step)" if backward else f" — {mode}"
    graph = _digraph(title)
    cell = model.cell.upper()

    def connect(tail: str, head: str, **attributes: str) -> None:
        # The backward view draws the same wiring with every arrow turned round: gradients flow from the loss
        # back. The edges keep their forward direction (dir=back only turns the arrowhead), because Graphviz
        # orders nodes along edges: reversed edges laid the encoder steps out as 5, 4, 3, 2, 1, 6.
        if backward:
            graph.edge(tail, head, **{**attributes, "color": BACKWARD, "dir": "back"})
        else:
            graph.edge(tail, head, **attributes)

    def gradient_label(kind: str, step: int) -> dict[str, str]:
        if not backward or kind not in gradients or step >= len(gradients[kind]):
            return {}
        return {"label": f"∂L {gradients[kind][step]:.2g}"}

    # Encoder (or the stacked network): a column per step, a row per layer, each row held on one rank.
    for step in range(steps_in):
        graph.node(f"x_{step}", f"x{step + 1}={_token(source[step])}", **PLAIN)
    encoder_name = "stack" if arch.pattern is Pattern.STACKED else "enc"
    for layer in range(model.layers):
        with graph.subgraph() as row:
            row.attr(rank="same")
            for step in range(steps_in):
                mark = MARKED if arch.pattern is Pattern.STACKED and step == highlight_step else {}
                row.node(f"{encoder_name}_{layer}_{step}", f"{cell}\\nt={step + 1}", **ENCODER_CELL, **mark)
        for step in range(steps_in):
            name = f"{encoder_name}_{layer}_{step}"
            if layer == 0:
                connect(f"x_{step}", name, **gradient_label("encoder", step))
            else:
                connect(f"{encoder_name}_{layer - 1}_{step}", name)
            if step > 0:
                connect(f"{encoder_name}_{layer}_{step - 1}", name, label=encoder_states)
    if model.bidirectional:
        graph.node("bi_note", "bidirectional: a second chain reads right to left", shape="note")

    top_encoder = f"{encoder_name}_{model.layers - 1}"
    if arch.pattern is Pattern.STACKED:
        for step in range(steps_out):
            graph.node(f"y_{step}", f"y{step + 1}={_token(outputs[step])}", **PLAIN)
            connect(f"{top_encoder}_{step}", f"y_{step}")
        return graph.source

    # Decoder: the same grid, then its inputs, which differ by pattern and mode.
    top_decoder = f"dec_{model.layers - 1}"
    for layer in range(model.layers):
        with graph.subgraph() as row:
            row.attr(rank="same")
            for step in range(steps_out):
                mark = MARKED if step == highlight_step else {}
                row.node(f"dec_{layer}_{step}", f"{cell}\\nt={step + 1}", **DECODER_CELL, **mark)
    for step in range(steps_out):
        mark = MARKED if step == highlight_step else {}
        graph.node(f"y_{step}", f"y{step + 1}={_token(outputs[step])}", **PLAIN, **mark)
        connect(f"{top_decoder}_{step}", f"y_{step}", **gradient_label("decoder", step))
        for layer in range(1, model.layers):
            connect(f"dec_{layer - 1}_{step}", f"dec_{layer}_{step}")
        if step > 0:
            for layer in range(model.layers):
                connect(f"dec_{layer}_{step - 1}", f"dec_{layer}_{step}", label=decoder_states)

    if arch.pattern is Pattern.DIRECT:
        graph.node("repeat", "RepeatVector", shape="box", style="filled", fillcolor="#eeeeee")
        connect(f"{top_encoder}_{steps_in - 1}", "repeat", label=f"last h {_shape(1, _decoder_units(config))}")
        for step in range(steps_out):
            connect("repeat", f"dec_0_{step}", style="dashed")
    else:
        for layer in range(model.layers):
            connect(f"enc_{layer}_{steps_in - 1}", f"dec_{layer}_0", label=f"final {decoder_states}", style="bold")
        graph.node("start", "start 0", **PLAIN)
        connect("start", "dec_0_0")
        for step in range(1, steps_out):
            if mode == "training":
                graph.node(f"t_{step}", f"target y{step}", **PLAIN, fontcolor=TEACHER)
                connect(f"t_{step}", f"dec_0_{step}", label="teacher", color=TEACHER)
            else:
                connect(f"y_{step - 1}", f"dec_0_{step}", label="own prediction", style="dashed", color=OWN_PREDICTION)

    if attention is not None and not backward:
        weights = np.asarray(attention)
        for out_step in range(min(steps_out, weights.shape[0])):
            for in_step in range(min(steps_in, weights.shape[1])):
                weight = float(weights[out_step, in_step])
                if weight < attention_threshold:
                    continue
                colour = HIGHLIGHT if out_step == highlight_step else ATTENTION_EDGE
                # constraint=false: attention edges cross the grid and must not drag the layout out of its columns.
                graph.edge(
                    f"{top_encoder}_{in_step}",
                    f"{top_decoder}_{out_step}",
                    f"{weight:.2f}",
                    color=colour,
                    fontcolor=colour,
                    penwidth=f"{0.5 + 4 * weight:.2f}",
                    constraint="false",
                )
    return graph.source


def training_vs_inference_dot(config: RunConfig) -> str:
    """The three models of the recursive pattern: the training model beside the inference encoder and decoder."""
    cell = config.model.cell.upper()
    states = _states(config.model.cell)
    encoder_box = {"shape": "box", "style": "filled", "fillcolor": ENCODER_FILL}
    decoder_box = {"shape": "box", "style": "filled", "fillcolor": DECODER_FILL}
    graph = _digraph(f"{config.model.arch}: one set of layers, three models", rankdir="TB")
    # Subgraphs named cluster_* are drawn as boxes around their nodes.
    with graph.subgraph(name="cluster_train") as training:
        training.attr(label="training model (teacher forcing)", style="rounded")
        training.node("tr_src", "source sequence", **PLAIN)
        training.node("tr_enc", f"{cell} encoder", **encoder_box)
        training.node("tr_tgt", "targets shifted right\\n(0, y1, y2, ...)", **PLAIN)
        training.node("tr_dec", f"{cell} decoder", **decoder_box)
        training.node("tr_out", "all output steps at once", **PLAIN)
        training.edge("tr_src", "tr_enc")
        training.edge("tr_enc", "tr_dec", states)
        training.edge("tr_tgt", "tr_dec")
        training.edge("tr_dec", "tr_out")
    with graph.subgraph(name="cluster_enc") as encoder:
        encoder.attr(label="inference encoder", style="rounded")
        encoder.node("in_src", "source sequence", **PLAIN)
        encoder.node("in_enc", f"{cell} encoder", **encoder_box)
        encoder.node("in_states", states, **PLAIN)
        encoder.edge("in_src", "in_enc")
        encoder.edge("in_enc", "in_states")
    with graph.subgraph(name="cluster_dec") as decoder:
        decoder.attr(label="one-step inference decoder (called once per output step)", style="rounded")
        decoder.node("st_tok", "previous token", **PLAIN)
        decoder.node("st_in", states, **PLAIN)
        decoder.node("st_dec", f"{cell} decoder", **decoder_box)
        decoder.node("st_out", f"next token + new {states}", **PLAIN)
        decoder.edge("st_tok", "st_dec")
        decoder.edge("st_in", "st_dec")
        decoder.edge("st_dec", "st_out")
    graph.edge("in_states", "st_in", "first step", style="dashed")
    graph.edge("st_out", "st_tok", "fed back", style="dashed", constraint="false")
    graph.edge("tr_enc", "in_enc", "same weights", style="dotted", dir="none")
    graph.edge("tr_dec", "st_dec", "same weights", style="dotted", dir="none")
    return graph.source


def activation_memory(config: RunConfig, batch_size: int | None = None) -> dict[str, float]:
    """Rough memory that backpropagation through time keeps per training batch: every step's activations.

    Per cell and step a {LSTM, GRU, SimpleRNN} stores its {4, 3, 1} gate pre-activations plus h (and c), for
    `units` floats each; training keeps all of them until the backward pass, so memory grows linearly with steps.
    """
    task, model = config.task, config.model
    batch = batch_size or config.train.batch_size
    per_unit = {"lstm": 4 + 2, "gru": 3 + 1, "rnn": 1 + 1}[model.cell]
    directions = 2 if model.bidirectional else 1
    steps_in = task.input_length
    steps_out = 0 if ARCHITECTURES[model.arch].pattern is Pattern.STACKED else get_task(task.name).target_length(task)
    floats = batch * model.layers * model.units * per_unit * (steps_in * directions + steps_out * directions)
    return {
        "steps": steps_in + steps_out,
        "bytes": floats * 4.0,
        "bytes_per_step": floats * 4.0 / (steps_in + steps_out or 1),
    }


def beam_dot(result: BeamResult, width: int, max_nodes: int = 200, symbol: Callable[[int], str] = str) -> str:
    """The beam search tree: every expanded candidate (up to `max_nodes`) with its cumulative log probability;
    the path to the best surviving candidate red and bold. `symbol` writes a token (a task's `Task.symbol`)."""
    graph = _digraph(f"beam search, width {width}: candidates kept at each step", rankdir="LR")
    graph.node("root", "start", shape="circle")
    best_path: set[int] = set()
    if result.sequences:
        # Walk back from the most probable node alive after the last step.
        best = max(result.kept[-1], key=lambda i: result.nodes[i].log_probability)
        while best >= 0:
            best_path.add(best)
            best = result.nodes[best].parent
    for index, node in enumerate(result.nodes[:max_nodes]):
        on_best_path = index in best_path
        colour = HIGHLIGHT if on_best_path else "black"
        bold = {"penwidth": "2"} if on_best_path else {}
        graph.node(f"n{index}", f"{symbol(node.token)}\\n{node.log_probability:.2f}", shape="box", color=colour, **bold)
        graph.edge("root" if node.parent < 0 else f"n{node.parent}", f"n{index}", color=colour)
    return graph.source
