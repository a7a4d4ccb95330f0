"""Graphviz DOT for recurrent networks: folded (with the cycle) and unrolled over the real sequence lengths.

Every function returns DOT text; `st.graphviz_chart` renders it in the browser, so no system Graphviz is
needed. Node names encode what they are (`enc_L_T`: encoder layer L at step T; `dec_L_T`; `x_T`; `y_T`), which
the tests rely on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explorer.architectures import ARCHITECTURES, STATES_PER_CELL
from explorer.config import RunConfig
from explorer.tasks import get_task

HIGHLIGHT = "#d62728"
ENCODER_FILL = "#dbe9f6"
DECODER_FILL = "#fde0c5"


def _header(title: str, rankdir: str = "LR") -> list[str]:
    return [
        "digraph G {",
        f'  graph [rankdir={rankdir}, label="{title}", labelloc=t, fontsize=14, fontname="Helvetica", '
        "nodesep=0.25, ranksep=0.45];",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]


def _token(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.2f}"
    return str(int(value))


def folded_dot(config: RunConfig) -> str:
    """The network as drawn in textbooks: each recurrent layer one box with a loop back to itself."""
    arch = ARCHITECTURES[config.model.arch]
    cell = config.model.cell.upper()
    states = "h, c" if STATES_PER_CELL[config.model.cell] == 2 else "h"
    lines = _header(f"{config.model.arch}: folded")
    lines.append('  x [label="input x(t)", shape=plaintext];')
    previous = "x"
    for layer in range(config.model.layers):
        name = f"enc_{layer}"
        label = f"{'Bi-' if config.model.bidirectional else ''}{cell} encoder {layer}"
        lines.append(f'  {name} [label="{label}", shape=box, style="rounded,filled", fillcolor="{ENCODER_FILL}"];')
        lines.append(f'  {name} -> {name} [label="{states}(t-1)"];')
        lines.append(f"  {previous} -> {name};")
        previous = name
    if arch.pattern == "stacked":
        lines.append('  out [label="TimeDistributed(Dense softmax)", shape=box];')
        lines.append(f"  {previous} -> out;")
        lines.append('  y [label="output y(t)", shape=plaintext];\n  out -> y;')
        lines.append("}")
        return "\n".join(lines)
    if arch.pattern == "direct":
        lines.append('  repeat [label="RepeatVector", shape=box];')
        lines.append(f'  {previous} -> repeat [label="last h"];')
        previous = "repeat"
    else:
        lines.append('  prev [label="previous token y(t-1)", shape=plaintext];')
    for layer in range(config.model.layers):
        name = f"dec_{layer}"
        lines.append(
            f'  {name} [label="{cell} decoder {layer}", shape=box, style="rounded,filled", fillcolor="{DECODER_FILL}"];'
        )
        lines.append(f'  {name} -> {name} [label="{states}(t-1)"];')
        if arch.pattern == "recursive":
            lines.append(f'  enc_{layer} -> {name} [label="final {states}", style=dashed];')
        if layer == 0 and arch.pattern == "recursive":
            lines.append(f"  prev -> {name};")
        elif layer > 0:
            lines.append(f"  dec_{layer - 1} -> {name};")
        else:
            lines.append(f"  {previous} -> {name};")
    top = f"dec_{config.model.layers - 1}"
    if arch.pattern == "recursive" and getattr(arch, "attention", None):
        lines.append(f'  attention [label="{arch.name} attention", shape=diamond, style=filled, fillcolor="#e5f5e0"];')
        lines.append(f'  enc_{config.model.layers - 1} -> attention [label="all steps"];')
        lines.append(f"  {top} -> attention;")
        top = "attention"
    lines.append(
        '  out [label="Dense softmax" shape=box];'
        if get_task(config.task.name).values == "tokens"
        else '  out [label="Dense (real value)" shape=box];'
    )
    lines.append(f"  {top} -> out;")
    lines.append('  y [label="output y(t)", shape=plaintext];\n  out -> y;')
    if arch.pattern == "recursive":
        lines.append('  y -> prev [style=dotted, constraint=false, label="fed back at inference"];')
    lines.append("}")
    return "\n".join(lines)


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
    states = "h,c" if STATES_PER_CELL[model.cell] == 2 else "h"
    backward = gradients is not None
    title = f"{config.model.arch} unrolled over {steps_in} input and {steps_out} output steps"
    title += " — backward pass (gradient magnitude per step)" if backward else f" — {mode}"
    lines = _header(title)
    cell = model.cell.upper()

    def edge(tail: str, head: str, attributes: str = "") -> None:
        if backward:
            lines.append(f'  {head} -> {tail} [{attributes}{", " if attributes else ""}color="#9467bd"];')
        else:
            lines.append(f"  {tail} -> {head}{f' [{attributes}]' if attributes else ''};")

    def grad_label(kind: str, step: int) -> str:
        if not backward or kind not in gradients or step >= len(gradients[kind]):
            return ""
        return f'label="∂L {gradients[kind][step]:.2g}", '

    # Encoder (or the stacked network): a column per step, a row per layer.
    order = list(range(steps_in))
    for step in order:
        lines.append(f'  x_{step} [label="x{step + 1}={_token(source[step])}", shape=plaintext];')
    encoder_name = "stack" if arch.pattern == "stacked" else "enc"
    for layer in range(model.layers):
        lines.append("  { rank=same; " + " ".join(f"{encoder_name}_{layer}_{t};" for t in order) + " }")
        for step in order:
            name = f"{encoder_name}_{layer}_{step}"
            mark = f', color="{HIGHLIGHT}", penwidth=3' if arch.pattern == "stacked" and step == highlight_step else ""
            lines.append(
                f'  {name} [label="{cell}\\nt={step + 1}", shape=box, style="rounded,filled", '
                f'fillcolor="{ENCODER_FILL}"{mark}];'
            )
            below = f"x_{step}" if layer == 0 else f"{encoder_name}_{layer - 1}_{step}"
            edge(below, name, grad_label("encoder", step)[:-2] if layer == 0 and backward else "")
            if step > 0:
                edge(f"{encoder_name}_{layer}_{step - 1}", name, f'label="{states}"')
    if model.bidirectional:
        lines.append('  bi_note [label="bidirectional: a second chain reads right to left", shape=note];')

    top_encoder = f"{encoder_name}_{model.layers - 1}"
    if arch.pattern == "stacked":
        for step in range(steps_out):
            lines.append(f'  y_{step} [label="y{step + 1}={_token(outputs[step])}", shape=plaintext];')
            edge(f"{top_encoder}_{step}", f"y_{step}")
        lines.append("}")
        return "\n".join(lines)

    # Decoder.
    for step in range(steps_out):
        mark = f', color="{HIGHLIGHT}", penwidth=3' if step == highlight_step else ""
        for layer in range(model.layers):
            lines.append(
                f'  dec_{layer}_{step} [label="{cell}\\nt={step + 1}", shape=box, style="rounded,filled", '
                f'fillcolor="{DECODER_FILL}"{mark}];'
            )
        lines.append(f'  y_{step} [label="y{step + 1}={_token(outputs[step])}", shape=plaintext{mark}];')
        edge(f"dec_{model.layers - 1}_{step}", f"y_{step}", grad_label("decoder", step)[:-2] if backward else "")
        for layer in range(1, model.layers):
            edge(f"dec_{layer - 1}_{step}", f"dec_{layer}_{step}")
        if step > 0:
            for layer in range(model.layers):
                edge(f"dec_{layer}_{step - 1}", f"dec_{layer}_{step}", f'label="{states}"')
    for layer in range(model.layers):
        lines.append("  { rank=same; " + " ".join(f"dec_{layer}_{t};" for t in range(steps_out)) + " }")

    if arch.pattern == "direct":
        lines.append('  repeat [label="RepeatVector", shape=box, style=filled, fillcolor="#eeeeee"];')
        edge(f"{top_encoder}_{steps_in - 1}", "repeat", 'label="last h"')
        for step in range(steps_out):
            edge("repeat", f"dec_0_{step}", "style=dashed")
    else:
        for layer in range(model.layers):
            edge(f"enc_{layer}_{steps_in - 1}", f"dec_{layer}_0", f'label="final {states}", style=bold')
        lines.append('  start [label="start 0", shape=plaintext];')
        edge("start", "dec_0_0")
        for step in range(1, steps_out):
            if mode == "training":
                lines.append(f'  t_{step} [label="target y{step}", shape=plaintext, fontcolor="#2ca02c"];')
                edge(f"t_{step}", f"dec_0_{step}", 'color="#2ca02c", label="teacher"')
            else:
                edge(f"y_{step - 1}", f"dec_0_{step}", 'style=dashed, color="#ff7f0e", label="own prediction"')
    if attention is not None and not backward:
        weights = np.asarray(attention)
        for out_step in range(min(steps_out, weights.shape[0])):
            for in_step in range(min(steps_in, weights.shape[1])):
                weight = float(weights[out_step, in_step])
                if weight < attention_threshold:
                    continue
                colour = HIGHLIGHT if out_step == highlight_step else "#2ca02c"
                lines.append(
                    f"  {top_encoder}_{in_step} -> dec_{model.layers - 1}_{out_step} "
                    f'[color="{colour}", penwidth={0.5 + 4 * weight:.2f}, label="{weight:.2f}", '
                    f'constraint=false, fontcolor="{colour}"];'
                )
    lines.append("}")
    return "\n".join(lines)


def training_vs_inference_dot(config: RunConfig) -> str:
    """The three models of the recursive pattern: the training model beside the inference encoder and decoder."""
    cell = config.model.cell.upper()
    states = "h, c" if STATES_PER_CELL[config.model.cell] == 2 else "h"
    lines = _header(f"{config.model.arch}: one set of layers, three models", rankdir="TB")
    lines += [
        '  subgraph cluster_train { label="training model (teacher forcing)"; style=rounded;',
        '    tr_src [label="source sequence", shape=plaintext];',
        f'    tr_enc [label="{cell} encoder", shape=box, style=filled, fillcolor="{ENCODER_FILL}"];',
        '    tr_tgt [label="targets shifted right\\n(0, y1, y2, ...)", shape=plaintext];',
        f'    tr_dec [label="{cell} decoder", shape=box, style=filled, fillcolor="{DECODER_FILL}"];',
        '    tr_out [label="all output steps at once", shape=plaintext];',
        f'    tr_src -> tr_enc; tr_enc -> tr_dec [label="{states}"]; tr_tgt -> tr_dec; tr_dec -> tr_out;',
        "  }",
        '  subgraph cluster_enc { label="inference encoder"; style=rounded;',
        '    in_src [label="source sequence", shape=plaintext];',
        f'    in_enc [label="{cell} encoder", shape=box, style=filled, fillcolor="{ENCODER_FILL}"];',
        f'    in_states [label="{states}", shape=plaintext];',
        "    in_src -> in_enc -> in_states;",
        "  }",
        '  subgraph cluster_dec { label="one-step inference decoder (called once per output step)"; style=rounded;',
        '    st_tok [label="previous token", shape=plaintext];',
        f'    st_in [label="{states}", shape=plaintext];',
        f'    st_dec [label="{cell} decoder", shape=box, style=filled, fillcolor="{DECODER_FILL}"];',
        f'    st_out [label="next token + new {states}", shape=plaintext];',
        "    st_tok -> st_dec; st_in -> st_dec; st_dec -> st_out;",
        "  }",
        '  in_states -> st_in [style=dashed, label="first step"];',
        '  st_out -> st_tok [style=dashed, constraint=false, label="fed back"];',
        '  tr_enc -> in_enc [style=dotted, label="same weights", dir=none];',
        '  tr_dec -> st_dec [style=dotted, label="same weights", dir=none];',
        "}",
    ]
    return "\n".join(lines)


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
    steps_out = 0 if ARCHITECTURES[model.arch].pattern == "stacked" else get_task(task.name).target_length(task)
    floats = batch * model.layers * model.units * per_unit * (steps_in * directions + steps_out * directions)
    return {
        "steps": steps_in + steps_out,
        "bytes": floats * 4.0,
        "bytes_per_step": floats * 4.0 / (steps_in + steps_out or 1),
    }


def beam_dot(result, width: int, max_nodes: int = 200) -> str:
    """The beam search tree: every expanded candidate with its cumulative log probability; survivors bold,
    the best finished sequence red."""
    lines = _header(f"beam search, width {width}: candidates kept at each step", rankdir="LR")
    lines.append('  root [label="start", shape=circle];')
    best_path: set[int] = set()
    if result.sequences:
        # Walk back from the best final node.
        final = [i for i in result.kept[-1]]
        best = max(final, key=lambda i: result.nodes[i].log_probability)
        while best >= 0:
            best_path.add(best)
            best = result.nodes[best].parent
    for index, node in enumerate(result.nodes[:max_nodes]):
        colour = HIGHLIGHT if index in best_path else "black"
        lines.append(
            f'  n{index} [label="{node.token}\\n{node.log_probability:.2f}", shape=box, color="{colour}"'
            f"{', penwidth=2' if index in best_path else ''}];"
        )
        parent = "root" if node.parent < 0 else f"n{node.parent}"
        lines.append(f'  {parent} -> n{index} [color="{colour}"];')
    lines.append("}")
    return "\n".join(lines)
