"""Decoding: batched greedy (free-running or teacher-forced) and beam search, each returning a trace.

Greedy decoding runs the bundle's unrolled decoder, a model in which every output step is part of one graph, so
a whole batch is decoded by one compiled call instead of a Python loop of `predict` calls per step and per
sequence (the tutorials' way, kept here only as `decode_per_step_loop` for the benchmark).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from explorer.facts import Pattern
from explorer.networks import ModelBundle
from explorer.tasks import shift_right

# Rows per compiled call: large enough to amortise the call, small enough to bound memory for long sequences.
DECODE_CHUNK = 8192


@dataclass
class Trace:
    """What the decoder did at every output step, for a batch. Shapes use T = target length.

    tokens (batch, T) int: the chosen symbols; probabilities (batch, T, vocab); fed_tokens (batch, T): what the
    decoder read at each step (start token, then a true or predicted symbol); hidden / cell (batch, T, units):
    the top decoder layer's states after each step; attention (batch, T, input_length) or None.
    """

    tokens: np.ndarray
    probabilities: np.ndarray
    fed_tokens: np.ndarray | None = None
    hidden: np.ndarray | None = None
    cell: np.ndarray | None = None
    attention: np.ndarray | None = None

    @property
    def confidence(self) -> np.ndarray:
        """(batch, T) probability of each chosen symbol."""
        return np.take_along_axis(self.probabilities, self.tokens[..., None], axis=-1)[..., 0]


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _run_unrolled(bundle: ModelBundle, encoder_inputs, decoder_inputs, teacher_mask) -> Trace:
    parts: dict[str, list[np.ndarray]] = {}
    for rows in _chunks(len(encoder_inputs), DECODE_CHUNK):
        out = bundle.unrolled.predict_on_batch([encoder_inputs[rows], decoder_inputs[rows], teacher_mask[rows]])
        for name, value in out.items():
            parts.setdefault(name, []).append(np.asarray(value))
    merged = {name: np.concatenate(values) for name, values in parts.items()}
    if "attention" in merged and bundle.config.model.reverse_source:
        # The encoder read the source backwards, so its memory's step j is source step T-1-j: put the weights
        # back in source order, the order every figure labels its input steps in.
        merged["attention"] = merged["attention"][..., ::-1]
    return Trace(
        tokens=merged["tokens"],
        probabilities=merged["probabilities"],
        fed_tokens=merged["fed_tokens"],
        hidden=merged["hidden"],
        cell=merged.get("cell"),
        attention=merged.get("attention"),
    )


def _run_direct(bundle: ModelBundle, encoder_inputs) -> Trace:
    """Stacked and RepeatVector models never read their own outputs: one forward pass is the whole decode."""
    probabilities = np.concatenate(
        [
            np.asarray(bundle.training_model.predict_on_batch(encoder_inputs[rows]))
            for rows in _chunks(len(encoder_inputs), DECODE_CHUNK)
        ]
    )
    return Trace(tokens=probabilities.argmax(-1).astype(np.int32), probabilities=probabilities)


def greedy_decode(bundle: ModelBundle, encoder_inputs: np.ndarray) -> Trace:
    """Free-running greedy decoding: every step reads the decoder's own previous prediction."""
    encoder_inputs = np.asarray(encoder_inputs)
    if bundle.pattern is not Pattern.RECURSIVE:
        return _run_direct(bundle, encoder_inputs)
    shape = (len(encoder_inputs), bundle.target_length)
    return _run_unrolled(bundle, encoder_inputs, np.zeros(shape, np.int32), np.zeros(shape, np.float32))


def teacher_forced_decode(bundle: ModelBundle, encoder_inputs: np.ndarray, targets: np.ndarray) -> Trace:
    """Every step reads the true previous symbol, as in training; `tokens` are what the model would say."""
    encoder_inputs, targets = np.asarray(encoder_inputs), np.asarray(targets)
    if bundle.pattern is not Pattern.RECURSIVE:
        return _run_direct(bundle, encoder_inputs)
    return _run_unrolled(bundle, encoder_inputs, shift_right(targets), np.ones(targets.shape, np.float32))


def mixed_decode(bundle: ModelBundle, encoder_inputs, targets, teacher_mask) -> Trace:
    """Per step and per row, read the truth where teacher_mask is 1 and the own prediction where it is 0."""
    return _run_unrolled(
        bundle, np.asarray(encoder_inputs), shift_right(np.asarray(targets)), np.asarray(teacher_mask, np.float32)
    )


def sequence_accuracy(predicted: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of sequences in which every step is right (the tutorials' 'exact match')."""
    return float(np.mean(np.all(predicted == targets, axis=1)))


def token_accuracy(predicted: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(predicted == targets))


@dataclass
class BeamNode:
    step: int
    token: int
    log_probability: float  # of the whole prefix ending here
    parent: int  # index into BeamResult.nodes, -1 for the root's children


@dataclass
class BeamResult:
    """Finished hypotheses, best first, and every node the search expanded (the tree the page draws)."""

    sequences: list[tuple[list[int], float]]
    nodes: list[BeamNode] = field(default_factory=list)
    kept: list[list[int]] = field(default_factory=list)  # node indices alive after each step


def beam_search(bundle: ModelBundle, encoder_input: np.ndarray, width: int = 3) -> BeamResult:
    """Beam search for one input sequence. Width 1 is greedy decoding.

    Each step scores every (hypothesis, next symbol) pair by its summed log probability and keeps the `width`
    best. Recursive decoders run one compiled step for all live hypotheses at once; direct decoders' per-step
    distributions do not depend on earlier choices, so the search runs over those.
    """
    if not 1 <= width <= 64:
        raise ValueError("beam width must be from 1 to 64")
    encoder_input = np.asarray(encoder_input)[None]
    result = BeamResult(sequences=[])
    length = bundle.target_length
    if bundle.pattern is not Pattern.RECURSIVE:
        fixed = np.log(np.maximum(_run_direct(bundle, encoder_input).probabilities[0], 1e-12))

    beams = [(0.0, [], -1, None)]  # (log probability, tokens, node index, states)
    if bundle.pattern is Pattern.RECURSIVE:
        encoded = bundle.encoder.predict_on_batch(encoder_input)
        memory, states = encoded[0], bundle.initial_decoder_states(encoded)
        beams = [(0.0, [], -1, states)]
    for step in range(length):
        if bundle.pattern is Pattern.RECURSIVE:
            previous = np.array([[b[1][-1] if b[1] else 0] for b in beams], np.int32)
            state_batch = [np.concatenate([b[3][i] for b in beams]) for i in range(len(beams[0][3]))]
            inputs = [previous, *state_batch]
            if bundle.has_attention:
                inputs.append(np.repeat(memory, len(beams), axis=0))
            out = bundle.decoder_step.predict_on_batch(inputs)
            log_probs = np.log(np.maximum(np.asarray(out[0])[:, 0], 1e-12))
            new_states = [np.asarray(s) for s in out[1 : 1 + len(state_batch)]]
        else:
            log_probs = np.repeat(fixed[step][None], len(beams), axis=0)
            new_states = None
        candidates = []
        for row, (score, *_) in enumerate(beams):
            for token in np.argsort(log_probs[row])[::-1][:width]:
                candidates.append((score + float(log_probs[row, token]), row, int(token)))
        best = heapq.nlargest(width, candidates, key=lambda item: item[0])
        next_beams, kept = [], []
        for score, row, token in best:
            _, tokens, parent, _ = beams[row]
            result.nodes.append(BeamNode(step, token, score, parent))
            node_index = len(result.nodes) - 1
            kept.append(node_index)
            states = [s[row : row + 1] for s in new_states] if new_states is not None else None
            next_beams.append((score, [*tokens, token], node_index, states))
        result.kept.append(kept)
        beams = next_beams
    result.sequences = [(tokens, score) for score, tokens, _, _ in sorted(beams, key=lambda b: -b[0])]
    return result


def decode_per_step_loop(bundle: ModelBundle, encoder_inputs: np.ndarray) -> np.ndarray:
    """The tutorials' inference: per sequence, `predict` the encoder, then `predict` the decoder once per step.

    Kept only so `bench` can measure what batching and compilation buy. Do not use it anywhere else.
    """
    if bundle.pattern is not Pattern.RECURSIVE:
        return np.stack([bundle.training_model.predict(row[None], verbose=0)[0].argmax(-1) for row in encoder_inputs])
    decoded = []
    for row in encoder_inputs:
        encoded = bundle.encoder.predict(row[None], verbose=0)
        memory, states = encoded[0], bundle.initial_decoder_states(encoded)
        token = np.zeros((1, 1), np.int32)
        output = []
        for _ in range(bundle.target_length):
            inputs = [token, *states] + ([memory] if bundle.has_attention else [])
            out = bundle.decoder_step.predict(inputs, verbose=0)
            token = out[0].argmax(-1).astype(np.int32)
            states = list(out[1 : 1 + len(states)])
            output.append(int(token[0, 0]))
        decoded.append(output)
    return np.asarray(decoded)
