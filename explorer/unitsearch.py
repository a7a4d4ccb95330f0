"""Unit pattern search, after LSTMVis: where is one unit "on", and what does the task know at those steps?

Given one unit's activation over many generated inputs, (batch, time), and a threshold, `search` finds the steps
where the unit is on (activation above the threshold) and measures how well the unit's activity predicts each
*track*: a per-step fact of the task, such as the position, the steps left, or the symbol being read.
`task_tracks` builds the tracks of a layer from the task's own batch, generically over tasks and roles:

- every layer: `position` (the layer's own step, 1-based) and `steps left` (to the end of the layer's sequence:
  the input for an encoder layer, the output for a decoder layer);
- an encoder layer: the `symbol read` at the input step it reads (the source may be fed reversed), or, for a
  series, the `value read`;
- a decoder layer: the `symbol written` (the target at that step) or, for a series, the `value written`; and where
  the task has an ideal alignment, the `aligned input step` it should read and the `aligned symbol` there.

How well a track is predicted, both on a 0..1 scale where 0 is "no better than the mean" and 1 "exactly":
- a numeric track: r², the squared correlation between activation and track (the share of the track's variance a
  straight line through the activation explains);
- a categorical track: η² (the correlation ratio), the share of the activation's variance explained by the
  category's mean activation: (Σ_groups n_g (mean_g − mean)²) / (Σ (a − mean)²).
Both ignore steps where a track is undefined (NaN for numbers, -1 for categories). With many categories and few
steps η² is biased upward; with 500 inputs it is not a concern for the tasks here.

NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUMERIC, CATEGORICAL = "numeric", "categorical"
MEASURES = {NUMERIC: "r²", CATEGORICAL: "η²"}


@dataclass(frozen=True)
class Track:
    """A per-step fact of the task over a batch: `values` (batch, time); float with NaN where undefined for a
    numeric track, int with -1 where undefined for a categorical one. `symbolic`: its categories are the task's
    tokens (show them through the task's `symbol`)."""

    name: str
    kind: str
    values: np.ndarray
    symbolic: bool = False


def task_tracks(
    task,
    task_config,
    batch,
    role: str,
    steps: int,
    reverse_source: bool = False,
    targets: np.ndarray | None = None,
) -> list[Track]:
    """The tracks of a layer with `steps` steps and role "encoder" or "decoder", for `batch` (`make_batch`) of
    `task` (a registry entry) with parameters `task_config`. Tracks whose length does not match `steps` are
    left out. `targets` replaces `batch.targets` for a decoder that writes another head's targets (a composite
    series autoencoder's prediction decoder writes `batch.extra_targets`)."""
    size = len(batch.encoder_inputs)
    position = np.broadcast_to(np.arange(1, steps + 1, dtype=np.float64), (size, steps))
    tracks = [
        Track("position", NUMERIC, np.array(position)),
        Track("steps left", NUMERIC, np.array(steps - position)),
    ]
    sources = np.asarray(batch.encoder_inputs)
    real = task.values == "real"
    if role == "encoder":
        if sources.shape[1] == steps:
            read = sources[:, ::-1] if reverse_source else sources
            if real:
                tracks.append(Track("value read", NUMERIC, read.reshape(size, steps).astype(np.float64)))
            else:
                tracks.append(Track("symbol read", CATEGORICAL, read.astype(np.int64), symbolic=True))
        return tracks
    targets = np.asarray(batch.targets if targets is None else targets)
    if targets.shape[1] == steps:
        if real:
            tracks.append(Track("value written", NUMERIC, targets.reshape(size, steps).astype(np.float64)))
        else:
            tracks.append(Track("symbol written", CATEGORICAL, targets.astype(np.int64), symbolic=True))
    if not real:
        aligned = [task.ideal_alignment(task_config, source) for source in sources]
        if aligned and aligned[0] is not None and len(aligned[0]) == steps:
            step_read = np.asarray(aligned, np.int64)
            symbol = np.where(step_read >= 0, np.take_along_axis(sources, np.maximum(step_read, 0), axis=1), -1)
            # 1-based input steps, as the pages number them; -1 stays "no input step".
            tracks.append(Track("aligned input step", CATEGORICAL, np.where(step_read >= 0, step_read + 1, -1)))
            tracks.append(Track("aligned symbol", CATEGORICAL, symbol.astype(np.int64), symbolic=True))
    return tracks


def r_squared(activation: np.ndarray, track: np.ndarray) -> float:
    """Squared correlation of two equally shaped arrays over the entries where both are finite; NaN when either is
    constant there (nothing to explain, or nothing to explain it with)."""
    a, t = np.asarray(activation, np.float64).ravel(), np.asarray(track, np.float64).ravel()
    keep = np.isfinite(a) & np.isfinite(t)
    if not keep.any():
        return float("nan")
    a, t = a[keep] - a[keep].mean(), t[keep] - t[keep].mean()
    denominator = float(np.sum(a * a) * np.sum(t * t))
    if denominator <= 1e-24:
        return float("nan")
    return float(np.sum(a * t) ** 2 / denominator)


def eta_squared(activation: np.ndarray, categories: np.ndarray) -> float:
    """The correlation ratio: the share of the activation's variance explained by the mean activation of each
    category, over the entries whose category is not -1; NaN when the activation is constant there or there is
    only one category."""
    a, c = np.asarray(activation, np.float64).ravel(), np.asarray(categories).ravel()
    keep = (c != -1) & np.isfinite(a)
    a, c = a[keep], c[keep]
    if a.size == 0:
        return float("nan")
    _, group = np.unique(c, return_inverse=True)
    if group.max(initial=0) == 0:
        return float("nan")
    total = float(np.sum((a - a.mean()) ** 2))
    if total <= 1e-24:
        return float("nan")
    counts = np.bincount(group)
    means = np.bincount(group, weights=a) / counts
    between = float(np.sum(counts * (means - a.mean()) ** 2))
    return between / total


def predictiveness(activation: np.ndarray, track: Track) -> float:
    """r² for a numeric track, η² for a categorical one (see the module docstring)."""
    if track.kind == NUMERIC:
        return r_squared(activation, track.values)
    return eta_squared(activation, track.values)


@dataclass(frozen=True)
class TrackScore:
    track: str
    kind: str
    measure: str  # "r²" or "η²"
    value: float  # NaN: undefined (a constant track or activation)


@dataclass(frozen=True)
class UnitSearch:
    """What `search` found. `on` (batch, time) marks the steps above the threshold; `on_by_position` (time,) is the
    share of inputs on which the unit is on at each step; `examples` are the inputs where it fires most (most
    firing steps first); `message` says why nothing was found when nothing was."""

    threshold: float
    on: np.ndarray
    on_by_position: np.ndarray
    scores: tuple[TrackScore, ...]
    examples: tuple[int, ...]
    largest: float
    smallest: float
    message: str | None

    @property
    def steps_on(self) -> int:
        return int(self.on.sum())

    @property
    def inputs_on(self) -> int:
        return int(self.on.any(axis=1).sum())


def search(activation: np.ndarray, tracks: list[Track], threshold: float, examples: int = 5) -> UnitSearch:
    """Where `activation` (batch, time), one unit over many inputs, exceeds `threshold`, and how well the
    activation predicts each of `tracks` (same shape)."""
    activation = np.asarray(activation, np.float64)
    if activation.ndim != 2:
        raise ValueError(f"activation must be (batch, time); got shape {activation.shape}")
    for track in tracks:
        if track.values.shape != activation.shape:
            raise ValueError(f"track {track.name!r} has shape {track.values.shape}, not {activation.shape}")
    on = activation > threshold
    counts = on.sum(axis=1)
    firing = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0][:examples]
    largest, smallest = float(activation.max()), float(activation.min())
    message = None
    if not on.any():
        message = (
            f"The unit is never above {threshold:g} on these {len(activation)} inputs: its largest activation is "
            f"{largest:.3f}. Lower the threshold."
        )
    scores = tuple(TrackScore(t.name, t.kind, MEASURES[t.kind], predictiveness(activation, t)) for t in tracks)
    return UnitSearch(threshold, on, on.mean(axis=0), scores, tuple(firing), largest, smallest, message)
