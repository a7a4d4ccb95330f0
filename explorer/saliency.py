"""Saliency: how strongly each output step depends on each input step, measured by gradients, beside attention.

Attention weights say where a decoder step *looked*; they are one of the model's own intermediate values, and a
model can look at one place and take its answer from another (an encoder state has already read every earlier
symbol). A gradient asks the question from outside the model: if this input symbol were nudged, how much would the
output's probability move? For output step t and input step j the saliency is

    S[t, j] = || d log p(y_t = the symbol the model chose) / d onehot(x_j) ||_2

the L2 norm, over the vocabulary axis, of the gradient of the chosen symbol's log probability with respect to the
one-hot encoding of input symbol j ("gradient connectivity"). Token models are cut after their one-hot layers so
the gradient has a continuous input to reach, as `explorer.analysis.step_gradients` does for the loss.

A recursive decoder reads its previous output. Here it reads its own greedy outputs (the free-running decode, as
the attention heatmap shows), and those read tokens are held fixed: the saliency is the direct dependence on the
input, not the path through earlier outputs. All output steps are computed in one batched gradient call: the
input is repeated once per output step and row t's loss is step t's log probability only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.facts import Pattern
from explorer.networks import ModelBundle
from explorer.tasks import get_task, shift_right

# Keeps log() finite for a probability that rounds to zero.
_EPSILON = 1e-12


@dataclass(frozen=True)
class Agreement:
    """How far a saliency map and an attention map agree, output step by output step.

    `same_top` (target_length,) bool: whether both put their largest value on the same input step;
    `rank_correlation` (target_length,): Spearman's rank correlation of the two rows (nan where a row is constant).
    """

    same_top: np.ndarray
    rank_correlation: np.ndarray

    @property
    def share_same_top(self) -> float:
        return float(np.mean(self.same_top))

    @property
    def mean_rank_correlation(self) -> float | None:
        finite = self.rank_correlation[np.isfinite(self.rank_correlation)]
        return float(finite.mean()) if len(finite) else None


def _chosen_log_probability_loss(selection, predictions):
    """Row t's loss: minus the log probability of its selected symbol at its selected step (one-hot `selection`)."""
    from keras import ops

    return -ops.sum(selection * ops.log(predictions + _EPSILON), axis=(1, 2))


def saliency(bundle: ModelBundle, source: np.ndarray) -> np.ndarray:
    """(target_length, input_length) saliency of one token input `source` (input_length,), as the module says.

    Raises ValueError for a real-valued (series) model, whose outputs are values, not chosen symbols.
    """
    import keras

    from explorer.backend import input_gradients
    from explorer.decoding import greedy_decode

    config = bundle.config
    if get_task(config.task.name).values != "tokens":
        raise ValueError("saliency is measured on a chosen symbol's probability: token tasks only")
    source = np.asarray(source, np.int32)
    chosen = greedy_decode(bundle, source[None]).tokens[0]
    steps, vocab = len(chosen), config.task.vocab_size
    eye = np.eye(vocab, dtype=np.float32)
    model = bundle.training_model
    feeds = [model.get_layer("encoder_one_hot").output]
    values = [np.repeat(eye[source][None], steps, axis=0)]  # (T_out, T_in, V): one copy per output step
    if bundle.pattern is Pattern.RECURSIVE:
        feeds.append(model.get_layer("decoder_one_hot").output)
        values.append(np.repeat(eye[shift_right(chosen[None])[0]][None], steps, axis=0))
    cut = keras.Model(feeds, model.output)
    selection = np.zeros((steps, steps, vocab), np.float32)
    selection[np.arange(steps), np.arange(steps), chosen] = 1.0  # row t: step t's chosen symbol
    gradients = input_gradients(cut, _chosen_log_probability_loss, values, selection)[0]
    # The loss is the mean over rows; each row's gradient is its own term's divided by the row count.
    return np.linalg.norm(gradients * steps, axis=-1).astype(np.float32)


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to sum to 1 (a row of zeros stays zeros), to sit beside attention weights."""
    matrix = np.asarray(matrix, np.float64)
    totals = matrix.sum(axis=-1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _ranks(row: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's coefficient uses them."""
    order = np.argsort(row, kind="stable")
    ranks = np.empty(len(row))
    ranks[order] = np.arange(len(row), dtype=float)
    for value in np.unique(row):
        tied = row == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def agreement(saliency_map: np.ndarray, attention: np.ndarray) -> Agreement:
    """Compare (target_length, input_length) saliency and attention, row by row (see `Agreement`)."""
    saliency_map, attention = np.asarray(saliency_map, float), np.asarray(attention, float)
    if saliency_map.shape != attention.shape:
        raise ValueError(f"shapes differ: saliency {saliency_map.shape}, attention {attention.shape}")
    same_top = saliency_map.argmax(axis=-1) == attention.argmax(axis=-1)
    correlations = []
    for first, second in zip(saliency_map, attention, strict=True):
        a, b = _ranks(first), _ranks(second)
        if a.std() == 0 or b.std() == 0:
            correlations.append(np.nan)
        else:
            correlations.append(float(np.corrcoef(a, b)[0, 1]))
    return Agreement(same_top, np.asarray(correlations))
