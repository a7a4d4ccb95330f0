"""The tutorials' experiments, reproduced with our library and set beside the numbers they published.

The plan comes from the registries: a task entry records the tutorials' published figures and the budget they
were obtained under (`explorer.tasks.Published`), and every task's and architecture's default pair is trained too,
so a new entry is reproduced without an edit here. Each run trains under our defaults (bigger batches, a higher
learning rate) unless the published figure came from the tutorial's own budget, as in the attention comparison,
where both models see the same 5,000 examples. Accuracies are exact-sequence matches under free-running greedy
decoding. The LSTM autoencoder's experiment (one series, 300 full-batch epochs) is its own function below.
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
from explorer.architectures import ARCHITECTURES
from explorer.presets import default_config
from explorer.tasks import TASKS, Published
from explorer.training import train


@dataclass
class ExperimentResult:
    name: str
    published: str
    ours: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    """One comparison `reproduce` runs: a task and architecture under given overrides, `runs` times."""

    task: str
    arch: str
    overrides: dict[str, Any]
    runs: int
    published: Published | None


def plan(quick: bool = False) -> list[Planned]:
    """What `reproduce` trains, read from the registries: every pair a tutorial published a figure for (under the
    tutorial's own budget), then every task's and every architecture's default pair (ours alone where no
    tutorial reports one). A new registry entry joins without an edit here."""
    planned: dict[tuple[str, str], Planned] = {}
    for name, task in TASKS.items():
        for arch, published in task.published.items():
            runs = min(3, published.runs) if quick else published.runs
            planned[(name, arch)] = Planned(name, arch, dict(published.settings), runs, published)
    defaults = [(name, task.default_arch) for name, task in TASKS.items()]
    defaults += [(arch.default_task, name) for name, arch in ARCHITECTURES.items()]
    for pair in defaults:
        if pair not in planned and TASKS[pair[0]].values == "tokens":
            planned[pair] = Planned(*pair, {}, 1, None)
    return list(planned.values())


def _title(item: Planned) -> str:
    task = default_config(item.task, item.arch, **item.overrides).task
    size = f"{task.input_length}->{task.output_length}, cardinality {task.cardinality}"
    budget = ""
    if item.overrides.get("samples_per_epoch") and item.overrides.get("epochs") == 1:
        budget = f", {item.overrides['samples_per_epoch']:,} training examples"
    return f"{item.task} ({size}), {item.arch}{budget}"


def accuracy_experiment(item: Planned) -> ExperimentResult:
    """Train `item.runs` times (seeds 0, 1, ...) and report the mean exact-sequence accuracy."""
    accuracies, seconds, epochs, keys = [], 0.0, [], []
    for seed in range(item.runs):
        config = default_config(item.task, item.arch, eval_examples=1000, **item.overrides, **{"train.seed": seed})
        outcome = train(config)
        keys.append(config.key())
        accuracies.append(outcome.metrics["sequence_accuracy"])
        seconds += outcome.train_seconds
        epochs.append(len(outcome.history))
    mean = statistics.mean(accuracies)
    averaged = f" (mean of {item.runs})" if item.runs > 1 else ""
    published = "not reported" if item.published is None else f"{item.published.accuracy:.1%}"
    if item.published is not None and item.published.runs > 1:
        published += f" (mean of {item.published.runs})"
    return ExperimentResult(
        _title(item),
        published,
        f"{mean:.1%}{averaged}",
        seconds,
        {
            "sequence_accuracy": mean,
            "runs": [round(a, 4) for a in accuracies],
            "epochs": epochs,
            # What `reproductions.save_reproductions` stores for the Train page's like-for-like bars.
            "stored": {
                "task": item.task,
                "arch": item.arch,
                "settings": item.overrides,
                "accuracies": accuracies,
                "keys": keys,
                "published": None if item.published is None else item.published.accuracy,
                "published_runs": 0 if item.published is None else item.published.runs,
            },
        },
    )


def autoencoder(quick: bool) -> list[ExperimentResult]:
    """The LSTM autoencoder on the one sequence 0.1..0.9: reconstruct it, and predict it one step ahead.

    Runs on the first real-valued task with its default architecture (the series autoencoder)."""
    sequence = np.linspace(0.1, 0.9, 9, dtype=np.float32)[None, :, None]
    ahead = np.linspace(0.2, 1.0, 9, dtype=np.float32)[None, :, None]
    results = []
    for mode, target, published in (
        ("reconstruct", sequence, "0.104 0.200 0.299 0.399 0.499 0.600 0.700 0.800 0.900 (max error 0.004)"),
        ("predict", ahead, "0.166 0.289 0.403 0.510 0.610 0.707 0.800 0.890 for 0.2..0.9 (max error 0.034)"),
    ):
        # As in the tutorial: 100 ReLU units, Adam, MSE, 300 full-batch epochs on the single sequence.
        task = next(name for name, entry in TASKS.items() if entry.values == "real")
        config = default_config(task, series_mode=mode, units=100, activation="relu")
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


def reproduce(quick: bool = False, report: Callable[[ExperimentResult], None] | None = None) -> list[ExperimentResult]:
    """Every planned accuracy comparison, then the autoencoder tutorial's single-series experiment."""
    results: list[ExperimentResult] = []
    runs: list[Callable[[], Any]] = [lambda item=item: accuracy_experiment(item) for item in plan(quick)]
    runs.append(lambda: autoencoder(quick))
    for run in runs:
        outcome = run()
        for item in outcome if isinstance(outcome, list) else [outcome]:
            results.append(item)
            if report:
                report(item)
    return results
