"""Measure training time on this machine and fit the coefficients of `explorer.budget`'s cost model to it.

    .venv/bin/python scripts/calibrate_budget.py                 # about four minutes on an idle 2-core machine
    .venv/bin/python scripts/calibrate_budget.py --repeats 3 --json calibration.json

Each probe is the landing configuration with one factor of the cost model changed (epochs, units, layers, batch
size, evaluation examples, sequence length, gradient recording) and early stopping switched off. Every probe is
trained `--repeats` times and its fastest time kept: on a shared machine the other processes only ever add
time. The shipped models' sidecars (`pretrained/*.json`, trained on a CPU by `python -m explorer pretrain`)
are measured runs too, of every task and architecture: each records its training seconds and the epochs it
ran, and they join the fit unless `--probes-only`. The script fits `explorer.budget.COEFFICIENTS` by
non-negative least squares on the relative error (so short runs count as much as long ones), using the epochs
each run really ran, and prints every run's measured seconds beside the estimate under the current and the
fitted coefficients, and the spread of estimate / measured for the probes and for the shipped runs.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from scipy.optimize import nnls

from explorer import budget
from explorer.architectures import ARCHITECTURES
from explorer.cache import PRETRAINED_DIR
from explorer.config import RunConfig
from explorer.presets import default_config, gradient_configs

NO_EARLY_STOP = {"target_accuracy": 1.01}


def probes() -> dict[str, RunConfig]:
    """The probe runs, by name: the landing configuration with one factor changed."""
    clipped = next(config for name, config in gradient_configs().items() if "clipnorm" in name)
    attention = next(arch for arch in ARCHITECTURES.values() if arch.has_attention)
    return {
        "default, 1 epoch": default_config(epochs=1, **NO_EARLY_STOP),
        "default, 4 epochs": default_config(epochs=4, **NO_EARLY_STOP),
        "units 16, 2 epochs": default_config(units=16, epochs=2, **NO_EARLY_STOP),
        "units 256, 2 epochs": default_config(units=256, epochs=2, **NO_EARLY_STOP),
        "2 layers, 2 epochs": default_config(layers=2, epochs=2, **NO_EARLY_STOP),
        "batch 16, 2048 samples, 2 epochs": default_config(
            batch_size=16, samples_per_epoch=2048, epochs=2, **NO_EARLY_STOP
        ),
        "8000 eval examples, 1024 samples, 2 epochs": default_config(
            eval_examples=8000, samples_per_epoch=1024, epochs=2, **NO_EARLY_STOP
        ),
        "100 eval examples, 1024 samples, 2 epochs": default_config(
            eval_examples=100, samples_per_epoch=1024, epochs=2, **NO_EARLY_STOP
        ),
        "input length 30, 2 epochs": default_config(input_length=30, epochs=2, **NO_EARLY_STOP),
        "gradients page preset (SimpleRNN, clipnorm), 3 epochs": clipped.replace(train={"epochs": 3}),
        f"{attention.name}, its default task, 2 epochs": default_config(
            attention.default_task, attention.name, epochs=2, **NO_EARLY_STOP
        ),
        f"{attention.name}, its default task, input length 30, 2 epochs": default_config(
            attention.default_task, attention.name, input_length=30, epochs=2, **NO_EARLY_STOP
        ),
        # The link (length 60, 256 units, 200 epochs), for one epoch: the budget decides out here.
        "input length 60, 256 units, 1 epoch": default_config(input_length=60, units=256, epochs=1, **NO_EARLY_STOP),
    }


def shipped_runs() -> dict[str, tuple[RunConfig, float]]:
    """The shipped models trained on a CPU: name -> (config with the epochs it ran, measured training seconds)."""
    runs = {}
    for path in sorted(PRETRAINED_DIR.glob("*.json")):
        sidecar = json.loads(path.read_text("utf-8"))
        if sidecar.get("device", "cpu") != "cpu" or not sidecar.get("train_seconds") or not sidecar.get("history"):
            continue
        config = RunConfig.from_dict(sidecar["config"])
        name = f"shipped {config.task.name} x {config.model.arch} ({path.stem})"
        runs[name] = (config.replace(train={"epochs": len(sidecar["history"])}), float(sidecar["train_seconds"]))
    return runs


def spread(rows: list[dict], key: str) -> dict[str, float]:
    ratios = [row[key] / row["measured_s"] for row in rows]
    return {"min": round(min(ratios), 2), "median": round(float(np.median(ratios)), 2), "max": round(max(ratios), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="trainings per probe; the fastest counts")
    parser.add_argument("--probes-only", action="store_true", help="fit the probes alone, not the shipped runs")
    parser.add_argument("--json", help="also write the measurements and the fit to this file")
    args = parser.parse_args()

    from explorer.training import train

    measured: dict[str, float] = {}
    ran: dict[str, RunConfig] = {}
    for name, config in probes().items():
        seconds = []
        for _ in range(args.repeats):
            result = train(config)
            seconds.append(result.train_seconds)
        measured[name] = min(seconds)
        # Price the epochs it really ran: a run that diverges stops early.
        ran[name] = config.replace(train={"epochs": len(result.history)})
        print(json.dumps({"probe": name, "seconds": [round(s, 2) for s in seconds]}), flush=True)

    shipped = shipped_runs()
    for name, (config, seconds) in shipped.items():
        ran[name], measured[name] = config, seconds
    fitted_names = [name for name in ran if not args.probes_only or name not in shipped]
    names = list(budget.COEFFICIENTS)

    def terms(name: str) -> np.ndarray:
        return np.array([budget.cost_terms(ran[name])[term] for term in names])

    matrix = np.array([terms(name) for name in fitted_names])
    times = np.array([measured[name] for name in fitted_names])
    fitted, _ = nnls(matrix / times[:, None], np.ones(len(times)))
    fit = dict(zip(names, (float(f"{value:.3g}") for value in fitted), strict=True))
    rows = []
    for name, config in ran.items():
        rows.append(
            {
                "run": name,
                "measured_s": round(measured[name], 2),
                "estimate_now_s": round(budget.estimate_seconds(config), 2),
                "estimate_fitted_s": round(float(terms(name) @ np.array(list(fit.values()))), 2),
            }
        )
        print(json.dumps(rows[-1]))
    probe_rows = [row for row in rows if row["run"] not in shipped]
    shipped_rows = [row for row in rows if row["run"] in shipped]
    summary = {
        "fit": fit,
        "estimate / measured, probes": spread(probe_rows, "estimate_fitted_s"),
        "estimate / measured, shipped runs": spread(shipped_rows, "estimate_fitted_s"),
        "default run": probe_rows[0],
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({**summary, "rows": rows, "repeats": args.repeats}, out, indent=2)


if __name__ == "__main__":
    main()
