"""Autoencoder embeddings: encode many generated series, project them to 2-D, find neighbours, classify.

The encoder's final hidden state is a fixed-size summary of a whole sequence. If the autoencoder learned
something real, series generated alike (same shape, similar frequency) land near each other, which a 2-D
projection shows and a small classifier trained on the vectors measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.networks import ModelBundle
from explorer.tasks import Series, get_task


@dataclass
class Encoded:
    series: np.ndarray  # (n, input_length) inputs
    vectors: np.ndarray  # (n, units) encoder final hidden states
    properties: dict[str, np.ndarray]


def encode_series(bundle: ModelBundle, count: int = 400, seed: int = 7) -> Encoded:
    """Encode `count` freshly generated series; remember what generated each."""
    task = get_task(bundle.config.task.name)
    if not isinstance(task, Series):
        raise ValueError("embeddings need the series task and an LSTM autoencoder")
    rng = np.random.default_rng(seed)
    series, properties = task.make_series(bundle.config.task.input_length, count, rng)
    inputs = series[:, : bundle.config.task.input_length, None]
    encoded = bundle.encoder.predict(inputs, batch_size=1024, verbose=0)
    return Encoded(inputs[:, :, 0], np.asarray(encoded[1]), properties)


def pca(vectors: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project on the top principal components. Returns (projection (n, components), explained variance ratio)."""
    centred = vectors - vectors.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    ratio = variance[:components] / max(variance.sum(), 1e-12)
    # Fix each axis' sign so the picture does not flip between runs.
    axes = axes[:components]
    signs = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
    return centred @ (axes * signs[:, None]).T, ratio


def tsne(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(vectors) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)


def neighbours(vectors: np.ndarray, index: int, count: int = 5) -> np.ndarray:
    """Indices of the `count` nearest other vectors (Euclidean), nearest first."""
    distances = np.linalg.norm(vectors - vectors[index], axis=1)
    distances[index] = np.inf
    return np.argsort(distances)[:count]


def projection_frame(encoded: Encoded, points: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"index": np.arange(len(points)), "x": points[:, 0], "y": points[:, 1]})
    for name, values in encoded.properties.items():
        frame[name] = values
    return frame


def shape_classifier(encoded: Encoded, seed: int = 0) -> dict[str, float]:
    """Logistic regression on the encoder vectors: ramp or sine? Held-out accuracy beside a raw-input baseline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    labels = (encoded.properties["shape"] == "sine").astype(int)
    results = {}
    for name, features in (("encoder vectors", encoded.vectors), ("raw first value", encoded.series[:, :1])):
        train_x, test_x, train_y, test_y = train_test_split(
            features, labels, test_size=0.3, random_state=seed, stratify=labels
        )
        model = LogisticRegression(max_iter=2000).fit(train_x, train_y)
        results[name] = float(model.score(test_x, test_y))
    results["majority class"] = float(max(labels.mean(), 1 - labels.mean()))
    return results
