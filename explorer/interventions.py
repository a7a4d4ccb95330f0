"""What if: change one thing in a model's computation on one input and compare the output before and after.

Four interventions, each a small frozen dataclass:

- `ForcePrefix(tokens)`: the decoder's first k outputs are the given symbols; from step k + 1 it runs free, reading
  what was forced. A decoder that never reads its outputs (the direct and stacked patterns) is not changed by it
  beyond the forced steps.
- `ClampUnit(unit, value, step, state, layer, role)`: unit `unit` of the state `state` ("h" or "c") of recurrent
  layer `layer` (counted within its `role`, "encoder" or "decoder"; -1 the top one) is set to `value` in the state
  the layer hands on out of step `step` (0-based), or out of every step (`step=None`). A recursive decoder's output
  at a step is computed before the clamp, so there the effect can start at the next step (a clamp of every step
  also sets the state the first step starts from). Any other layer hands its h on as its output too, so the layers
  above it read the clamped value at that very step. Encoder and direct or stacked layers are replayed in NumPy
  from their weights (`explorer.probe.replay_cell`, with a clamp) and the rest of the model runs on the replay.
- `ForceAttention(output_step, input_step)` (or any `weights` over the input): that output step reads the encoder
  outputs with the forced weights instead of its own, and the decoder runs free from there. Attention models only.
- `ChangeInput(position, symbol)`: one input symbol replaced. Any token model.

`intervene(bundle, source, intervention)` runs the plain decode and the changed one as two rows of one batch and
returns an `Outcome`: tokens, probabilities, the top decoder layer's states and the attention, before and after,
and the first output step whose computation moved. The recursive path steps the one-step decoder (or, for
attention models, its steered twin `ModelBundle.steered_step`) over the batch, one compiled call per output step;
with nothing changed it reproduces `greedy_decode` (tested), so every difference is the intervention's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.facts import Pattern
from explorer.networks import ModelBundle

# Probabilities or states that moved less than this count as unchanged (float noise of a batched call).
TOLERANCE = 1e-5


@dataclass(frozen=True)
class ForcePrefix:
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class ClampUnit:
    unit: int
    value: float
    step: int | None = None
    state: str = "h"
    layer: int = -1  # counted within `role`; -1: the top one
    role: str = "decoder"


@dataclass(frozen=True)
class ForceAttention:
    output_step: int
    input_step: int | None = None
    weights: tuple[float, ...] | None = None  # instead of input_step: any weights over the input steps

    def row(self, input_length: int) -> np.ndarray:
        if self.weights is not None:
            weights = np.asarray(self.weights, np.float32)
            if weights.shape != (input_length,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1, atol=1e-4):
                raise ValueError(f"forced weights must be {input_length} non-negative numbers summing to 1")
            return weights
        if self.input_step is None or not 0 <= self.input_step < input_length:
            raise ValueError(f"the input step to attend to must be from 1 to {input_length}")
        return np.eye(input_length, dtype=np.float32)[self.input_step]


@dataclass(frozen=True)
class ChangeInput:
    position: int
    symbol: int


Intervention = ForcePrefix | ClampUnit | ForceAttention | ChangeInput


@dataclass
class Run:
    """One decode of a batch: tokens (B, T), probabilities (B, T, V), the top decoder layer's h and c after each
    step (B, T, U; c None for cells without one), attention (B, T, T_in) or None."""

    tokens: np.ndarray
    probabilities: np.ndarray
    hidden: np.ndarray | None
    cell: np.ndarray | None
    attention: np.ndarray | None


@dataclass
class Outcome:
    """The decode before and after an intervention, for one input. Arrays are per output step (T, ...)."""

    before: Run
    after: Run
    first_effect: int | None  # the first output step (0-based) whose probabilities or states moved; None: none

    @property
    def changed(self) -> np.ndarray:
        """(T,) whether the written symbol changed."""
        return self.before.tokens != self.after.tokens

    @property
    def shift(self) -> np.ndarray:
        """(T,) how the probability of the symbol written before moved: after minus before."""
        rows = np.arange(len(self.before.tokens))
        return self.after.probabilities[rows, self.before.tokens] - self.before.probabilities[rows, self.before.tokens]

    @property
    def state_change(self) -> np.ndarray | None:
        """(T, U) the top decoder layer's hidden state after minus before; None where the model has none to show."""
        if self.before.hidden is None or self.after.hidden is None:
            return None
        return self.after.hidden - self.before.hidden


def _first_effect(before: Run, after: Run) -> int | None:
    moved = np.abs(after.probabilities - before.probabilities).max(axis=-1) > TOLERANCE
    if before.hidden is not None and after.hidden is not None:
        moved |= np.abs(after.hidden - before.hidden).max(axis=-1) > TOLERANCE
    moved |= after.tokens != before.tokens
    steps = np.flatnonzero(moved)
    return int(steps[0]) if len(steps) else None


def _split(run: Run, row: int) -> Run:
    pick = lambda array: None if array is None else array[row]  # noqa: E731
    return Run(run.tokens[row], run.probabilities[row], pick(run.hidden), pick(run.cell), pick(run.attention))


def steered_decode(
    bundle: ModelBundle,
    encoder_inputs: np.ndarray,
    forced_tokens: np.ndarray | None = None,
    clamps: list[list[ClampUnit]] | None = None,
    forced_attention: np.ndarray | None = None,
    attention_use: np.ndarray | None = None,
    encoded: list[np.ndarray] | None = None,
) -> Run:
    """Free-running greedy decoding of a batch by a recursive decoder, with per-row changes.

    forced_tokens (B, T): where >= 0 the step writes (and the next step reads) that symbol instead of its own.
    clamps: per row, the `ClampUnit`s applied to the states carried between steps. forced_attention (B, T, T_in)
    with attention_use (B, T): where use is 1 the step reads with those weights (attention models only).
    encoded: the inference encoder's outputs `[memory, *states]` to start from instead of running the encoder
    (a replayed, clamped encoder's).
    """
    if bundle.pattern is not Pattern.RECURSIVE:
        raise ValueError("stepping the decoder needs a decoder that reads its own outputs (the recursive pattern)")
    encoder_inputs = np.asarray(encoder_inputs)
    batch, length = len(encoder_inputs), bundle.target_length
    forced_tokens = np.full((batch, length), -1) if forced_tokens is None else np.asarray(forced_tokens)
    clamps = clamps or [[] for _ in range(batch)]
    steering = forced_attention is not None
    if steering and bundle.steered_step is None:
        raise ValueError("this model has no attention to force")
    encoded = bundle.encoder.predict_on_batch(encoder_inputs) if encoded is None else encoded
    memory, states = np.asarray(encoded[0]), [np.array(s) for s in bundle.initial_decoder_states(encoded)]
    per_layer = len(bundle.state_names)
    layers = bundle.config.model.layers

    def clamp(step: int | None) -> None:
        for row, row_clamps in enumerate(clamps):
            for change in row_clamps:
                if change.step is None or change.step == step:
                    layer = change.layer % layers
                    states[layer * per_layer + bundle.state_names.index(change.state)][row, change.unit] = change.value

    clamp(-1)  # "every step" clamps also set the state the first step starts from
    tokens = np.zeros((batch, length), np.int32)
    probabilities, hidden, cell, attention = [], [], [], []
    previous = np.zeros((batch, 1), np.int32)
    top = (layers - 1) * per_layer
    for step in range(length):
        inputs = [previous, *states] + ([memory] if bundle.has_attention else [])
        if steering:
            inputs += [forced_attention[:, step : step + 1], attention_use[:, step : step + 1]]
        out = (bundle.steered_step if steering else bundle.decoder_step).predict_on_batch(inputs)
        step_probabilities = np.asarray(out[0])[:, 0]
        states = [np.array(s) for s in out[1 : 1 + len(states)]]
        clamp(step)
        chosen = step_probabilities.argmax(-1).astype(np.int32)
        chosen = np.where(forced_tokens[:, step] >= 0, forced_tokens[:, step], chosen).astype(np.int32)
        tokens[:, step] = chosen
        probabilities.append(step_probabilities)
        hidden.append(states[top].copy())
        if per_layer == 2:
            cell.append(states[top + 1].copy())
        if bundle.has_attention:
            attention.append(np.asarray(out[-1])[:, 0])
        previous = chosen[:, None]
    weights = np.stack(attention, axis=1) if attention else None
    if weights is not None and bundle.config.model.reverse_source:
        weights = weights[..., ::-1]  # back in source order, as `decoding` puts it
    return Run(
        tokens,
        np.stack(probabilities, axis=1),
        np.stack(hidden, axis=1),
        np.stack(cell, axis=1) if cell else None,
        weights,
    )


def _layer_index(bundle: ModelBundle, clamp: ClampUnit) -> int:
    """The index in `bundle.taps` of the layer a clamp names."""
    indices = [i for i, tap in enumerate(bundle.taps) if tap.role == clamp.role]
    if not indices:
        raise ValueError(f"this model has no {clamp.role} layers")
    if not -len(indices) <= clamp.layer < len(indices):
        raise ValueError(f"the {clamp.role} has {len(indices)} layer(s)")
    return indices[clamp.layer]


def _units(bundle: ModelBundle, index: int) -> int:
    """Units of one direction of the layer at `bundle.taps[index]`."""
    layer = bundle.taps[index].layer
    cell_layer = layer.forward_layer if hasattr(layer, "forward_layer") else layer
    return int(cell_layer.cell.units)


def _hooks(bundle: ModelBundle, index: int, clamp: ClampUnit, steps: int):
    """`replay_cell` clamps for the forward and backward chains of a layer, acting on row 1 (the "after" row)."""
    units = _units(bundle, index)
    direction, unit = divmod(clamp.unit, units)

    def hook(time_of):
        def apply(t, h, c):
            if clamp.step is None or time_of(t) == clamp.step:
                (h if clamp.state == "h" else c)[1, unit] = clamp.value

        return apply

    forward = hook(lambda t: t) if direction == 0 else None
    backward = hook(lambda t: steps - 1 - t) if direction == 1 else None
    return forward, backward


def _final_states(bundle: ModelBundle, index: int, hidden: np.ndarray, cells: np.ndarray | None) -> list[np.ndarray]:
    """A replayed layer's final states as Keras returns them: the last step's, or for a bidirectional layer the
    forward chain's last beside the backward chain's first."""
    units = _units(bundle, index)
    bidirectional = hasattr(bundle.taps[index].layer, "forward_layer")

    def final(sequence):
        if not bidirectional:
            return sequence[:, -1]
        return np.concatenate([sequence[:, -1, :units], sequence[:, 0, units:]], axis=-1)

    return [final(hidden)] + ([final(cells)] if cells is not None else [])


def _replayed(bundle: ModelBundle, pair: np.ndarray, clamp: ClampUnit | None) -> Run:
    """Decode a batch with the encoder (and a direct or stacked model's every layer) replayed in NumPy, `clamp`
    applied to row 1; the model's output layer, or its recursive decoder, runs on the replay."""
    from explorer.probe import _replay_layer, probe, softmax_output

    traced = probe(bundle, pair)
    target = _layer_index(bundle, clamp) if clamp is not None else None
    cell = bundle.config.model.cell
    recursive = bundle.pattern is Pattern.RECURSIVE
    replayed: list[tuple[np.ndarray, np.ndarray | None]] = []
    for index, (tap, trace) in enumerate(zip(bundle.taps, traced.layers, strict=True)):
        if recursive and tap.role == "decoder":
            break
        if index == 0:
            inputs = trace.inputs
        elif tap.role == "decoder" and bundle.taps[index - 1].role == "encoder":  # RepeatVector of the encoding
            encoding = _final_states(bundle, index - 1, *replayed[-1])[0]
            inputs = np.repeat(encoding[:, None], trace.inputs.shape[1], axis=1)
        else:
            inputs = replayed[-1][0]
        hooks = _hooks(bundle, index, clamp, inputs.shape[1]) if index == target else (None, None)
        hidden, cells, _ = _replay_layer(tap.layer, inputs, None, cell, hooks)
        replayed.append((hidden, cells))
    if not recursive:
        probabilities = softmax_output(bundle, replayed[-1][0])
        return Run(probabilities.argmax(-1).astype(np.int32), probabilities, replayed[-1][0], replayed[-1][1], None)
    memory = replayed[-1][0]
    states = [s for index, layer in enumerate(replayed) for s in _final_states(bundle, index, *layer)]
    return steered_decode(bundle, pair, encoded=[memory, *states])


def _direct(bundle: ModelBundle, encoder_inputs: np.ndarray) -> Run:
    """A direct or stacked model's decode of a batch, with its top layer's states from the probe."""
    from explorer.decoding import greedy_decode
    from explorer.probe import probe

    trace = greedy_decode(bundle, encoder_inputs)
    top = probe(bundle, encoder_inputs).layers[-1]
    return Run(trace.tokens, trace.probabilities, top.hidden, top.cell_state, None)


def check(bundle: ModelBundle, source: np.ndarray, intervention: Intervention) -> None:
    """Raise ValueError, in words a student understands, when `intervention` cannot be applied to this model."""
    config = bundle.config
    length = bundle.target_length
    if isinstance(intervention, ForcePrefix):
        if not 1 <= len(intervention.tokens) <= length:
            raise ValueError(f"force from 1 to {length} output symbols")
        bad = [t for t in intervention.tokens if not 0 <= int(t) <= config.task.cardinality]
        if bad:
            raise ValueError(f"a forced symbol is not in the vocabulary (0 to {config.task.cardinality})")
    elif isinstance(intervention, ClampUnit):
        if intervention.role not in ("encoder", "decoder"):
            raise ValueError("clamp an encoder or a decoder layer")
        index = _layer_index(bundle, intervention)
        steps = bundle.taps[index].inputs.shape[1]
        directions = 2 if hasattr(bundle.taps[index].layer, "forward_layer") else 1
        units = _units(bundle, index) * directions
        if intervention.state not in bundle.state_names:
            raise ValueError(f"this cell's states are {', '.join(bundle.state_names)}")
        if not 0 <= intervention.unit < units:
            raise ValueError(f"the unit must be from 1 to {units}")
        if intervention.step is not None and not 0 <= intervention.step < steps:
            raise ValueError(f"the step must be from 1 to {steps}")
        if not np.isfinite(intervention.value):
            raise ValueError("the clamped value must be a number")
    elif isinstance(intervention, ForceAttention):
        if bundle.steered_step is None:
            raise ValueError("this model has no attention to force")
        if not 0 <= intervention.output_step < length:
            raise ValueError(f"the output step must be from 1 to {length}")
        intervention.row(config.task.input_length)
    elif isinstance(intervention, ChangeInput):
        if not 0 <= intervention.position < config.task.input_length:
            raise ValueError(f"the position must be from 1 to {config.task.input_length}")
        changed = np.asarray(source).copy()
        changed[intervention.position] = intervention.symbol
        from explorer.tasks import get_task

        get_task(config.task.name).check_input(config.task, changed)
    else:
        raise ValueError(f"not an intervention: {intervention!r}")


def intervene(bundle: ModelBundle, source: np.ndarray, intervention: Intervention) -> Outcome:
    """The decode of one token input `source` (input_length,) before and after `intervention` (module docstring)."""
    from explorer.tasks import get_task

    if get_task(bundle.config.task.name).values != "tokens":
        raise ValueError("interventions work on token tasks: they compare the symbols a decoder writes")
    source = np.asarray(source, np.int32)
    check(bundle, source, intervention)
    length, input_length = bundle.target_length, bundle.config.task.input_length
    pair = np.stack([source, source])
    if isinstance(intervention, ChangeInput):
        pair[1, intervention.position] = intervention.symbol
    stepped_clamp = (
        isinstance(intervention, ClampUnit) and bundle.pattern is Pattern.RECURSIVE and intervention.role == "decoder"
    )
    if isinstance(intervention, ClampUnit) and not stepped_clamp:
        run = _replayed(bundle, pair, intervention)
    elif bundle.pattern is not Pattern.RECURSIVE:
        run = _direct(bundle, pair)
        if isinstance(intervention, ForcePrefix):  # the forced symbols are written; nothing reads them
            forced = np.asarray(intervention.tokens)
            run.tokens[1, : len(forced)] = forced
    else:
        forced = np.full((2, length), -1)
        clamps: list[list[ClampUnit]] = [[], []]
        steer, use = None, None
        if isinstance(intervention, ForcePrefix):
            forced[1, : len(intervention.tokens)] = intervention.tokens
        elif isinstance(intervention, ClampUnit):
            clamps[1].append(intervention)
        elif isinstance(intervention, ForceAttention):
            steer = np.zeros((2, length, input_length), np.float32)
            use = np.zeros((2, length), np.float32)
            row = intervention.row(input_length)
            # The decoder's memory is in the order the encoder read it: reversed for a reversed source.
            steer[1, intervention.output_step] = row[::-1] if bundle.config.model.reverse_source else row
            use[1, intervention.output_step] = 1.0
        run = steered_decode(bundle, pair, forced, clamps, steer, use)
    before, after = _split(run, 0), _split(run, 1)
    return Outcome(before, after, _first_effect(before, after))


def own_value(outcome: Outcome, clamp: ClampUnit) -> float:
    """The value the clamped state had before the clamp at its step (for "clamp to its own value")."""
    states = outcome.before.hidden if clamp.state == "h" else outcome.before.cell
    return float(states[clamp.step or 0, clamp.unit])
