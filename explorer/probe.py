"""Look inside recurrent layers: per-step hidden states, cell states and gate activations, as NumPy arrays.

Keras returns only the hidden-state sequence (`return_sequences`) and the final states (`return_state`); the cell
state at every step and the gates are internal. The probe replays each recurrent layer in NumPy from the layer's
own weights and the exact input sequence the layer saw in the graph, so the gates are recomputed, not guessed.
Because the replay must also reproduce the layer's own outputs, tests can check it against Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.cellmath import CellWeights, cell_weights
from explorer.networks import ModelBundle
from explorer.tasks import shift_right

GATE_NAMES = {
    "lstm": ("input", "forget", "output", "candidate"),
    "gru": ("update", "reset", "candidate"),
    "rnn": (),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda x: np.maximum(x, 0.0)}


@dataclass
class LayerTrace:
    """One recurrent layer over one batch. Arrays are (batch, time, units); bidirectional layers concatenate the
    forward and backward directions on the units axis, as Keras does."""

    name: str
    role: str
    cell: str
    inputs: np.ndarray
    hidden: np.ndarray
    cell_state: np.ndarray | None
    gates: dict[str, np.ndarray]
    keras_output: np.ndarray
    # The layer's weights, one `CellWeights` per direction (explorer/cellmath.py), and the state it started from
    # ([h] or [h, c], (batch, units) each; None: zeros): what the States page's one-step equations need.
    weights: tuple[CellWeights, ...] = ()
    initial_state: list[np.ndarray] | None = None

    @property
    def final_hidden(self) -> np.ndarray:
        return self.hidden[:, -1]


@dataclass
class Probe:
    layers: list[LayerTrace]
    attention: np.ndarray | None  # (batch, target_length, input_length)
    decoder_inputs: np.ndarray | None

    def layer(self, name: str) -> LayerTrace:
        for trace in self.layers:
            if trace.name == name:
                return trace
        raise KeyError(f"no recurrent layer named {name!r}; have {[t.name for t in self.layers]}")

    def by_role(self, role: str) -> list[LayerTrace]:
        return [trace for trace in self.layers if trace.role == role]


def replay_cell(cell_layer, inputs: np.ndarray, initial: list[np.ndarray] | None, cell: str, clamp=None):
    """Run one direction of a Keras LSTM/GRU/SimpleRNN in NumPy.

    inputs: (batch, time, features). Returns hidden (batch, time, units), cell state or None, and gates.
    `clamp`, when given, is called after every step as clamp(t, h, c) (c None without a cell state) and may change
    h and c in place: what the next step reads (`explorer.interventions` holds a unit at a value this way).
    """
    config = cell_layer.get_config()
    activation = ACTIVATIONS[config["activation"]]
    recurrent_activation = ACTIVATIONS[config.get("recurrent_activation", "sigmoid")]
    kernel = np.asarray(cell_layer.cell.kernel)
    recurrent = np.asarray(cell_layer.cell.recurrent_kernel)
    bias = np.asarray(cell_layer.cell.bias) if cell_layer.cell.use_bias else None
    batch, steps, _ = inputs.shape
    units = recurrent.shape[0]
    h = np.zeros((batch, units), np.float32) if not initial else np.asarray(initial[0], np.float32)
    c = np.zeros((batch, units), np.float32) if (cell != "lstm" or not initial) else np.asarray(initial[1], np.float32)
    hidden, cells = np.zeros((batch, steps, units), np.float32), np.zeros((batch, steps, units), np.float32)
    gates = {name: np.zeros((batch, steps, units), np.float32) for name in GATE_NAMES[cell]}
    projected = inputs.astype(np.float32) @ kernel  # every step's input projection at once
    for t in range(steps):
        if cell == "lstm":
            z = projected[:, t] + h @ recurrent + (bias if bias is not None else 0.0)
            i, f, g, o = np.split(z, 4, axis=-1)  # Keras' gate order
            i, f, o, g = recurrent_activation(i), recurrent_activation(f), recurrent_activation(o), activation(g)
            c = f * c + i * g
            h = o * activation(c)
            for name, value in zip(GATE_NAMES["lstm"], (i, f, o, g), strict=True):
                gates[name][:, t] = value
            cells[:, t] = c
        elif cell == "gru":
            # Keras 3 default (reset_after=True): bias is (2, 3 * units), one row for the input, one recurrent.
            input_bias, recurrent_bias = (bias[0], bias[1]) if bias is not None else (0.0, 0.0)
            x_z, x_r, x_h = np.split(projected[:, t] + input_bias, 3, axis=-1)
            h_z, h_r, h_h = np.split(h @ recurrent + recurrent_bias, 3, axis=-1)
            z = recurrent_activation(x_z + h_z)
            r = recurrent_activation(x_r + h_r)
            candidate = activation(x_h + r * h_h)
            h = z * h + (1.0 - z) * candidate
            gates["update"][:, t], gates["reset"][:, t], gates["candidate"][:, t] = z, r, candidate
        else:
            h = activation(projected[:, t] + h @ recurrent + (bias if bias is not None else 0.0))
        if clamp is not None:
            clamp(t, h, c if cell == "lstm" else None)
            if cell == "lstm":
                cells[:, t] = c
        hidden[:, t] = h
    return hidden, (cells if cell == "lstm" else None), gates


def _replay_layer(layer, inputs, initial, cell, clamps=(None, None)):
    """Replay a layer in time order; `clamps` are `replay_cell`'s clamp for the forward and backward directions
    (the backward one is called with the backward chain's own step, T - 1 - t)."""
    if hasattr(layer, "forward_layer"):  # Bidirectional: Keras flips the backward outputs back into time order
        fh, fc, fg = replay_cell(layer.forward_layer, inputs, None, cell, clamps[0])
        bh, bc, bg = replay_cell(layer.backward_layer, inputs[:, ::-1], None, cell, clamps[1])
        bh, bc = bh[:, ::-1], (bc[:, ::-1] if bc is not None else None)
        hidden = np.concatenate([fh, bh], axis=-1)
        cells = np.concatenate([fc, bc], axis=-1) if fc is not None else None
        gates = {name: np.concatenate([fg[name], bg[name][:, ::-1]], axis=-1) for name in fg}
        return hidden, cells, gates
    return replay_cell(layer, inputs, initial, cell, clamps[0])


def probe(bundle: ModelBundle, encoder_inputs: np.ndarray, decoder_inputs: np.ndarray | None = None) -> Probe:
    """Trace every recurrent layer for a batch of inputs.

    For a recursive (teacher-forced) model without `decoder_inputs`, the decoder is fed its own greedy
    predictions, i.e. the probe shows free-running inference; pass the shifted targets to see teacher forcing.
    """
    if bundle.uses_decoder_inputs and decoder_inputs is None:
        from explorer.decoding import greedy_decode

        decoder_inputs = shift_right(greedy_decode(bundle, encoder_inputs).tokens)
    raw = bundle.probe_model.predict_on_batch(bundle.model_inputs(encoder_inputs, decoder_inputs))
    cell = bundle.config.model.cell
    traces = []
    for index, tap in enumerate(bundle.taps):
        inputs = np.asarray(raw[f"{index}_inputs"])
        initial = [np.asarray(raw[f"{index}_initial_{j}"]) for j in range(len(tap.initial_state or []))]
        hidden, cells, gates = _replay_layer(tap.layer, inputs, initial or None, cell)
        traces.append(
            LayerTrace(
                tap.layer.name,
                tap.role,
                cell,
                inputs,
                hidden,
                cells,
                gates,
                np.asarray(raw[f"{index}_outputs"]),
                weights=cell_weights(tap.layer),
                initial_state=initial or None,
            )
        )
    attention = np.asarray(raw["attention"]) if "attention" in raw else None
    return Probe(traces, attention, decoder_inputs if bundle.uses_decoder_inputs else None)


def softmax_output(bundle: ModelBundle, hidden: np.ndarray) -> np.ndarray:
    """The token model's output layer (a TimeDistributed Dense with a softmax, named "output") applied in NumPy to
    the top recurrent layer's (batch, time, units) states: (batch, time, vocab) probabilities."""
    dense = bundle.training_model.get_layer("output").layer
    logits = hidden @ np.asarray(dense.kernel) + np.asarray(dense.bias)
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)
