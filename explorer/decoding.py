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


def top_candidates(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` most likely symbols at every step of (T, vocab) probabilities, most likely first: (T, k) symbols
    and (T, k) probabilities."""
    probabilities = np.asarray(probabilities)
    k = max(1, min(int(k), probabilities.shape[-1]))
    order = np.argsort(-probabilities, axis=-1, kind="stable")[..., :k]
    return order, np.take_along_axis(probabilities, order, axis=-1)


def sampling_distribution(
    probabilities: np.ndarray, temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0
) -> np.ndarray:
    """What sampling draws from, for rows of (n, vocab) model probabilities.

    Temperature rescales the log probabilities (below 1 sharpens the distribution towards the greedy choice, above
    1 flattens it); top-k keeps the k most likely symbols; top-p (nucleus) keeps the fewest most likely symbols whose
    probabilities, after the temperature, add up to at least `top_p`. What is kept is renormalised to sum to 1.
    """
    logits = np.log(np.maximum(np.asarray(probabilities, np.float64), 1e-30)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=-1, keepdims=True)
    order = np.argsort(-weights, axis=-1, kind="stable")
    ranked = np.take_along_axis(weights, order, axis=-1)
    keep = np.ones_like(ranked, bool)
    if top_k is not None:
        keep[:, top_k:] = False
    if top_p < 1.0:
        before = np.cumsum(ranked, axis=-1)  # the mass of the more likely symbols (an exclusive running sum)
        before = np.concatenate([np.zeros_like(before[:, :1]), before[:, :-1]], axis=-1)
        # The symbol that crosses top_p stays in, as does the most likely one; the margin keeps a sum that reaches
        # top_p exactly (0.5 + 0.3 for p = 0.8) from passing for one a rounding error short of it.
        keep &= before < top_p - 1e-9
    ranked = np.where(keep, ranked, 0.0)
    filtered = np.zeros_like(weights)
    np.put_along_axis(filtered, order, ranked, axis=-1)
    return filtered / filtered.sum(axis=-1, keepdims=True)


@dataclass
class Samples:
    """Sequences sampled for one input: tokens (n, T); `log_probability` (n,) of each under the model itself (its
    unmodified per-step probabilities); `sampling_log_probability` (n,) under the distribution it was drawn from."""

    tokens: np.ndarray
    log_probability: np.ndarray
    sampling_log_probability: np.ndarray

    @property
    def distinct(self) -> int:
        return len({tuple(row) for row in self.tokens.tolist()})


def _check_sampling(bundle: ModelBundle, samples: int, temperature: float, top_k: int | None, top_p: float) -> None:
    vocab = bundle.config.task.vocab_size
    if not 1 <= samples <= 64:
        raise ValueError("draw from 1 to 64 samples")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError("the temperature must be a number above 0")
    if top_k is not None and not 1 <= top_k <= vocab:
        raise ValueError(f"top-k must be from 1 to the vocabulary size, {vocab}")
    if not 0 < top_p <= 1:
        raise ValueError("top-p must be above 0 and at most 1")


def sample_decode(
    bundle: ModelBundle,
    encoder_input: np.ndarray,
    samples: int = 8,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float = 1.0,
    seed: int = 0,
) -> Samples:
    """Draw `samples` output sequences for one input, each step's symbol drawn from `sampling_distribution`.

    A recursive decoder reads what it drew, so every sample follows its own path: all samples advance together, one
    compiled `decoder_step` call per output step. A direct decoder's steps do not read earlier outputs, so its
    samples are drawn from the per-step distributions of one forward pass. The same seed gives the same samples.
    """
    _check_sampling(bundle, samples, temperature, top_k, top_p)
    rng = np.random.default_rng(seed)
    encoder_inputs = np.repeat(np.asarray(encoder_input)[None], samples, axis=0)
    length = bundle.target_length
    tokens = np.zeros((samples, length), np.int32)
    model_log, sampling_log = np.zeros(samples), np.zeros(samples)

    def draw(step: int, probabilities: np.ndarray) -> np.ndarray:
        distribution = sampling_distribution(probabilities, temperature, top_k, top_p)
        cumulative = np.cumsum(distribution, axis=-1)
        chosen = (cumulative < rng.random((samples, 1)) * cumulative[:, -1:]).sum(axis=-1)
        chosen = np.minimum(chosen, distribution.shape[-1] - 1).astype(np.int32)
        rows = np.arange(samples)
        model_log[:] += np.log(np.maximum(probabilities[rows, chosen], 1e-30))
        sampling_log[:] += np.log(np.maximum(distribution[rows, chosen], 1e-30))
        tokens[:, step] = chosen
        return chosen

    if bundle.pattern is not Pattern.RECURSIVE:
        fixed = _run_direct(bundle, encoder_inputs[:1]).probabilities[0]
        for step in range(length):
            draw(step, np.repeat(fixed[step][None], samples, axis=0))
        return Samples(tokens, model_log, sampling_log)
    encoded = bundle.encoder.predict_on_batch(encoder_inputs)
    memory, states = np.asarray(encoded[0]), bundle.initial_decoder_states(encoded)
    previous = np.zeros((samples, 1), np.int32)
    for step in range(length):
        inputs = [previous, *states] + ([memory] if bundle.has_attention else [])
        out = bundle.decoder_step.predict_on_batch(inputs)
        probabilities = np.asarray(out[0])[:, 0].astype(np.float64)
        states = [np.asarray(state) for state in out[1 : 1 + len(states)]]
        previous = draw(step, probabilities)[:, None]
    return Samples(tokens, model_log, sampling_log)
