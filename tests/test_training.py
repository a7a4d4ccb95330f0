import math

import numpy as np
import pytest
from conftest import tiny_config

from explorer import tasks
from explorer.decoding import greedy_decode, sequence_accuracy
from explorer.presets import default_config
from explorer.training import teacher_forcing_ratio, train


def test_default_reversal_learns_the_task(trained_reversal):
    """Published: 100%. Training stops once an epoch's 1,000 fresh examples decode at 99% (the fixture checks it got
    there); the final measurement, on another 1,000 fresh examples, must be >= 97% exact-sequence accuracy."""
    assert trained_reversal.metrics["sequence_accuracy"] >= 0.97
    assert trained_reversal.metrics["eval_examples"] == 1000
    history = trained_reversal.history
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert history[-1]["loss"] < history[0]["loss"]
    assert trained_reversal.samples_seen == len(history) * 8192


def test_history_and_gradient_norms_are_recorded():
    result = train(tiny_config("reverse", "luong", epochs=2, record_gradients=True))
    assert len(result.history) == 2 and len(result.gradient_norms) == 4  # 2 steps per epoch, each measured
    assert [n["step"] for n in result.gradient_norms] == [0, 1, 2, 3]
    for norms in result.gradient_norms:
        assert {"encoder_0", "decoder_0", "output"} <= set(norms)
        assert all(math.isfinite(v) and v >= 0 for v in norms.values())
    assert all(0 <= h["sequence_accuracy"] <= 1 for h in result.history)


def test_training_is_deterministic_under_a_seed():
    config = tiny_config("reverse", "teacher-forcing", epochs=1)
    first = train(config).bundle.training_model.get_weights()
    second = train(config).bundle.training_model.get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_nan_loss_stops_cleanly_with_a_reason(monkeypatch):
    task = tasks.TASKS["series"]
    original = task.make_batch

    def poisoned(config, size, rng):
        batch = original(config, size, rng)
        inputs = batch.encoder_inputs.copy()
        inputs[0, 0, 0] = np.nan
        return tasks.Batch(inputs, inputs, batch.targets, batch.extra_targets, batch.properties)

    monkeypatch.setattr(task, "make_batch", poisoned)
    result = train(tiny_config("series", "lstm-autoencoder", epochs=3))
    assert result.status == "diverged"
    assert "NaN" in result.reason and "epoch 1" in result.reason
    assert len(result.history) == 1


def test_exploding_simple_rnn_diverges_and_clipping_contains_it():
    explode = dict(cell="rnn", activation="relu", learning_rate=5.0, epochs=2, units=32)
    wild = train(tiny_config("series", "lstm-autoencoder", **explode))
    assert wild.status == "diverged", wild.history
    tame = train(tiny_config("series", "lstm-autoencoder", **{**explode, "learning_rate": 0.01, "clipvalue": 0.5}))
    assert tame.status != "diverged"


@pytest.mark.parametrize("mode", ["reconstruct", "predict", "composite"])
def test_every_autoencoder_mode_trains(mode):
    result = train(tiny_config("series", "lstm-autoencoder", series_mode=mode, epochs=2, units=16))
    assert result.status == "completed" and result.history[-1]["loss"] < result.history[0]["loss"]
    assert 0 <= result.metrics["token_accuracy"] <= 1 and result.metrics["mse"] < 0.2


def test_cancel_stops_after_the_current_epoch():
    result = train(tiny_config("reverse", "teacher-forcing", epochs=5), should_stop=lambda: True)
    assert result.status == "cancelled" and len(result.history) == 1


def test_progress_reports_arrive_in_order():
    reports = []
    train(
        tiny_config("reverse", "teacher-forcing", epochs=2, samples_per_epoch=2560, batch_size=64),
        progress=reports.append,
    )
    steps = [r.step for r in reports]
    assert steps == sorted(steps) and steps[-1] == 80
    assert reports[-1].epoch == 2 and reports[-1].sequence_accuracy is not None
    assert 0 <= reports[-1].fraction <= 1 and reports[-1].eta_seconds == pytest.approx(0, abs=1e-6)


def test_early_stop_at_target_accuracy():
    result = train(tiny_config("reverse", "teacher-forcing", epochs=5, target_accuracy=0.0))
    assert result.status == "target reached" and len(result.history) == 1


@pytest.mark.parametrize("schedule", ["linear", "inverse-sigmoid", "exponential"])
def test_scheduled_sampling_schedules_fall_from_one(schedule):
    ratios = [teacher_forcing_ratio(schedule, epoch, 10) for epoch in range(10)]
    assert ratios[0] == pytest.approx(1.0, abs=0.1)
    assert ratios == sorted(ratios, reverse=True) and ratios[-1] < 0.2
    assert teacher_forcing_ratio("none", 5, 10) == 1.0


def test_scheduled_sampling_trains_and_records_its_ratio():
    result = train(tiny_config("reverse", "teacher-forcing", epochs=3, teacher_forcing="linear"))
    assert [round(h["teacher_forcing_ratio"], 2) for h in result.history] == [1.0, 0.5, 0.0]


def test_regularisation_and_clipping_options_build_and_train():
    config = tiny_config("reverse", "bahdanau", epochs=1, l2=1e-4, l1=1e-5, clipnorm=1.0, clipvalue=0.0)
    result = train(config)
    assert result.status == "completed" and math.isfinite(result.history[0]["loss"])
    assert len(result.bundle.training_model.losses) > 0  # the L1/L2 penalties are attached


@pytest.mark.slow
def test_attention_beats_repeat_vector_on_copy_task_with_equal_budget():
    budget = dict(epochs=3, samples_per_epoch=4096, batch_size=32, eval_examples=500, target_accuracy=1.01)
    plain = train(default_config("copy-first-k", "repeat-vector", units=64, **budget))
    attention = train(default_config("copy-first-k", "bahdanau", units=64, **budget))
    assert attention.metrics["sequence_accuracy"] > plain.metrics["sequence_accuracy"]


def test_greedy_accuracy_matches_metrics(trained_reversal):
    bundle = trained_reversal.bundle
    batch = tasks.make_batch(bundle.config.task, 500, seed=12345)
    assert sequence_accuracy(greedy_decode(bundle, batch.encoder_inputs).tokens, batch.targets) >= 0.95
