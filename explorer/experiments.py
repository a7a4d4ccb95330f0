"""The tutorials' experiments, reproduced with our library and set beside the numbers they published.

Each experiment trains under our defaults (bigger batches, a higher learning rate) unless the point of the
experiment is the tutorial's own budget, as in the attention comparison, where both models see the same 5,000
examples the tutorial trained on. Accuracies are exact-sequence matches under free-running greedy decoding.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from explorer import architectures
from explorer.presets import default_config
from explorer.training import train


@dataclass
class ExperimentResult:
    name: str
    published: str
    ours: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def _accuracy_run(name: str, published: str, config) -> ExperimentResult:
    result = train(config)
    accuracy = result.metrics["sequence_accuracy"]
    return ExperimentResult(
        name,
        published,
        f"{accuracy:.1%}",
        result.train_seconds,
        {"sequence_accuracy": accuracy, "epochs": len(result.history), "key": config.key()},
    )


def reversal(quick: bool) -> ExperimentResult:
    config = default_config("reverse", "teacher-forcing", eval_examples=1000)
    return _accuracy_run("reverse 6->3, cardinality 50, teacher-forced encoder-decoder", "100%", config)


def echo_whole(quick: bool) -> ExperimentResult:
    config = default_config("echo", "stacked-lstm", eval_examples=1000)
    return _accuracy_run("echo whole sequence (5 steps, 100 symbols), stacked LSTM", "100%", config)


def echo_partial(quick: bool) -> ExperimentResult:
    config = default_config("echo-partial", "repeat-vector", eval_examples=1000)
    return _accuracy_run("echo first 2 of 5 (100 symbols), RepeatVector encoder-decoder", "100%", config)


def attention_comparison(quick: bool) -> list[ExperimentResult]:
    """Copy the first 2 of 5 symbols (cardinality 50) with and without attention on the tutorial's data budget."""
    repeats = 3 if quick else 10
    results = []
    for arch, published in (("repeat-vector", "23.1% (mean of 10)"), ("bahdanau", "95.7% (mean of 10)")):
        accuracies, seconds = [], 0.0
        for repeat in range(repeats):
            config = default_config(
                "copy-first-k",
                arch,
                units=150 if arch == "repeat-vector" else 64,
                epochs=1,
                samples_per_epoch=5000,
                batch_size=4,
                learning_rate=0.005,
                eval_examples=1000,
                **{"train.seed": repeat},
            )
            outcome = train(config)
            accuracies.append(outcome.metrics["sequence_accuracy"])
            seconds += outcome.train_seconds
        mean = statistics.mean(accuracies)
        results.append(
            ExperimentResult(
                f"copy first 2 of 5 (cardinality 50), {arch}, 5,000 training examples",
                published,
                f"{mean:.1%} (mean of {repeats})",
                seconds,
                {"runs": [round(a, 4) for a in accuracies], "mean": mean},
            )
        )
    return results


def autoencoder(quick: bool) -> list[ExperimentResult]:
    """The LSTM autoencoder on the one sequence 0.1..0.9: reconstruct it, and predict it one step ahead."""
    sequence = np.linspace(0.1, 0.9, 9, dtype=np.float32)[None, :, None]
    ahead = np.linspace(0.2, 1.0, 9, dtype=np.float32)[None, :, None]
    results = []
    for mode, target, published in (
        ("reconstruct", sequence, "0.104 0.200 0.299 0.399 0.499 0.600 0.700 0.800 0.900 (max error 0.004)"),
        ("predict", ahead, "0.166 0.289 0.403 0.510 0.610 0.707 0.800 0.890 for 0.2..0.9 (max error 0.034)"),
    ):
        # As in the tutorial: 100 ReLU units, Adam, MSE, 300 full-batch epochs on the single sequence.
        config = default_config("series", "lstm-autoencoder", series_mode=mode, units=100, activation="relu")
        bundle = architectures.build(config)
        bundle.training_model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
        started = time.perf_counter()
        bundle.training_model.fit(sequence, target, epochs=300, verbose=0)
        seconds = time.perf_counter() - started
        output = np.asarray(bundle.training_model.predict_on_batch(sequence))[0, :, 0]
        error = float(np.max(np.abs(output - target[0, :, 0])))
        results.append(
            ExperimentResult(
                f"LSTM autoencoder, {mode} 0.1..0.9" + (" (target 0.2..1.0)" if mode == "predict" else ""),
                published,
                " ".join(f"{v:.3f}" for v in output) + f" (max error {error:.3f})",
                seconds,
                {"output": output.round(4).tolist(), "max_error": error},
            )
        )
    return results


EXPERIMENTS: dict[str, Callable[[bool], Any]] = {
    "reversal": reversal,
    "echo": echo_whole,
    "echo-partial": echo_partial,
    "attention": attention_comparison,
    "autoencoder": autoencoder,
}


def reproduce(quick: bool = False, report: Callable[[ExperimentResult], None] | None = None) -> list[ExperimentResult]:
    results: list[ExperimentResult] = []
    for run in EXPERIMENTS.values():
        outcome = run(quick)
        for item in outcome if isinstance(outcome, list) else [outcome]:
            results.append(item)
            if report:
                report(item)
    return results
