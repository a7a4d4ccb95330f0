"""Decoding analysis, embeddings and the exploding-gradient presets."""

import dataclasses
import math

import numpy as np
import pytest
from conftest import tiny_config

from explorer import architectures
from explorer.analysis import first_divergence, position_accuracy
from explorer.decoding import beam_search
from explorer.embeddings import Encoded, encode_series, neighbours, pca, shape_classifier
from explorer.graphs import beam_dot
from explorer.presets import gradient_configs
from explorer.tasks import make_batch
from explorer.training import train


def test_pca_recovers_known_axes():
    rng = np.random.default_rng(0)
    main = np.array([1.0, 1.0, 0.0]) / math.sqrt(2)
    minor = np.array([0.0, 0.0, 1.0])
    data = rng.normal(size=(500, 1)) * 5 * main + rng.normal(size=(500, 1)) * 1 * minor + 3.0
    points, ratio = pca(data)
    centred = data - data.mean(0)
    # Each component is the data's coordinate along one known axis (up to sign).
    assert abs(np.corrcoef(points[:, 0], centred @ main)[0, 1]) == pytest.approx(1.0, abs=0.01)
    assert abs(np.corrcoef(points[:, 1], centred @ minor)[0, 1]) == pytest.approx(1.0, abs=0.02)
    assert ratio[0] > 0.9 and points.shape == (500, 2)
    np.testing.assert_allclose(points.std(0), [5, 1], rtol=0.15)


def test_neighbours_are_nearest_first_and_exclude_the_point():
    vectors = np.array([[0.0], [10.0], [1.0], [3.0]])
    assert neighbours(vectors, 0, 2).tolist() == [2, 3]


def test_shape_classifier_separates_separable_features():
    labels = np.array(["sine", "ramp"] * 50)
    vectors = np.where(labels[:, None] == "sine", 1.0, -1.0) + np.random.default_rng(1).normal(0, 0.1, (100, 4))
    encoded = Encoded(np.random.default_rng(2).random((100, 9)), vectors, {"shape": labels})
    scores = shape_classifier(encoded)
    assert scores["encoder vectors"] == 1.0 and scores["majority class"] == 0.5


def test_encode_series_needs_an_autoencoder_and_returns_one_vector_per_series():
    bundle = architectures.build(tiny_config("series", "lstm-autoencoder", units=6))
    encoded = encode_series(bundle, count=20)
    assert encoded.vectors.shape == (20, 6) and encoded.series.shape == (20, 9)
    assert set(encoded.properties["shape"]) <= {"ramp", "sine"}
    with pytest.raises(ValueError):
        encode_series(architectures.build(tiny_config("reverse", "teacher-forcing")))


def test_position_accuracy_of_a_good_model(trained_reversal):
    rows = position_accuracy(trained_reversal.bundle, examples=300)
    assert {r["mode"] for r in rows} == {"teacher-forced", "free-running"} and len(rows) == 6
    for row in rows:
        assert 0.95 <= row["accuracy"] <= 1.0 and row["all correct so far"] <= row["accuracy"] + 1e-9
    free = [r["all correct so far"] for r in rows if r["mode"] == "free-running"]
    assert free == sorted(free, reverse=True)  # errors only accumulate along the sequence


def test_first_divergence():
    assert first_divergence([1, 2, 3], [1, 2, 3]) is None
    assert first_divergence([1, 2, 3], [1, 5, 3]) == 1


def test_beam_tree_marks_the_best_path(trained_reversal):
    source = make_batch(trained_reversal.bundle.config.task, 1, seed=21).encoder_inputs[0]
    result = beam_search(trained_reversal.bundle, source, width=2)
    dot = beam_dot(result, 2)
    assert dot.count("penwidth=2") == 3  # one best node per output step
    assert dot.count(" -> n") == len(result.nodes)


def test_explode_preset_diverges_and_clipping_keeps_gradients_smaller():
    configs = gradient_configs()
    one_epoch = {
        name: dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=1)) for name, c in configs.items()
    }
    wild = train(one_epoch["SimpleRNN (ReLU), no clipping"])
    clipped = train(one_epoch["SimpleRNN (ReLU), clipnorm 1.0"])

    def peak(result):
        totals = [
            math.sqrt(sum(v * v for k, v in n.items() if k not in ("step", "epoch"))) for n in result.gradient_norms
        ]
        return max(t for t in totals if math.isfinite(t)), totals

    assert wild.status == "diverged" and "NaN" in wild.reason
    assert clipped.status == "completed" and math.isfinite(clipped.history[-1]["loss"])
    wild_peak, _ = peak(wild)
    clipped_peak, clipped_norms = peak(clipped)
    assert all(math.isfinite(t) for t in clipped_norms)
    assert wild_peak > 100 * clipped_peak
