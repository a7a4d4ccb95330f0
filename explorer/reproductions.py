"""The tutorials' published figures beside ours under the same budget, as measured by `explorer reproduce --save`.

A published figure only means something beside a run that had the same budget: the attention tutorial trained
on 5,000 examples, while our defaults train on 80,000, and with that budget a RepeatVector decoder learns the
task the tutorial shows it failing. `python -m explorer reproduce --save` trains every comparison the
registries plan (`explorer.experiments.plan`) and writes what it measured here, with the configuration keys of
every run, so the Train page can show the like-for-like bars without training anything, and say where they
came from. Keras-free: reading the file needs only the configs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.config import RunConfig
from explorer.presets import default_config
from explorer.tasks import get_task

# Not beside the model files: `pretrain` and the model store treat every *.json in pretrained/ as a sidecar.
REPRODUCTIONS_PATH = Path(__file__).resolve().parents[1] / "pretrained" / "reproductions" / "tutorials.json"


@dataclass(frozen=True)
class Reproduction:
    """One planned comparison as measured: our runs under `settings`, beside the tutorial's figure (if any)."""

    task: str
    arch: str
    settings: dict[str, Any]
    accuracies: tuple[float, ...]
    keys: tuple[str, ...]
    published: float | None
    published_runs: int
    measured: str  # when and where: "2026-11-23, tensorflow on cpu"

    @property
    def mean(self) -> float:
        return sum(self.accuracies) / len(self.accuracies)

    @property
    def budget(self) -> str:
        """The training budget in words: "up to 1 epoch × 5,000 examples, batch 4 (stops at 99%)"."""
        return budget_of(default_config(self.task, self.arch, **self.settings))

    def is_current(self) -> bool:
        """Whether the stored runs are still the configurations the registry describes (same keys)."""
        expected = tuple(
            default_config(self.task, self.arch, eval_examples=1000, **self.settings, **{"train.seed": seed}).key()
            for seed in range(len(self.keys))
        )
        return expected == self.keys


def budget_of(config: RunConfig) -> str:
    """The training budget of a configuration, in the same words as `Reproduction.budget`."""
    train = config.train
    epochs = f"{train.epochs} epoch{'s' if train.epochs != 1 else ''}"
    stop = f" (stops at {train.target_accuracy:.0%})" if train.target_accuracy <= 1.0 else ""
    return f"up to {epochs} × {train.samples_per_epoch:,} examples, batch {train.batch_size}{stop}"


def save_reproductions(rows: list[dict[str, Any]], measured: str, path: Path | None = None) -> Path:
    """Write the measured comparisons (`experiments.accuracy_experiment` details) as JSON, atomically."""
    from explorer.storage import atomic_write_bytes

    path = Path(path or REPRODUCTIONS_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"measured": measured, "reproductions": rows}
    atomic_write_bytes(path, json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))
    return path


def load_reproductions(path: Path | None = None) -> list[Reproduction]:
    """The stored comparisons that still match the registry; [] when the file is missing or unreadable."""
    path = Path(path or REPRODUCTIONS_PATH)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        rows = payload["reproductions"]
        found = [
            Reproduction(
                task=row["task"],
                arch=row["arch"],
                settings=dict(row["settings"]),
                accuracies=tuple(float(a) for a in row["accuracies"]),
                keys=tuple(row["keys"]),
                published=None if row["published"] is None else float(row["published"]),
                published_runs=int(row["published_runs"]),
                measured=str(payload["measured"]),
            )
            for row in rows
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    current = []
    for item in found:
        try:
            if item.accuracies and item.is_current():
                current.append(item)
        except ValueError:  # an entry or a setting the registry no longer has
            continue
    return current


def like_for_like(task: str, path: Path | None = None) -> list[Reproduction]:
    """The stored comparisons on `task` that have a published figure, in the registry's order."""
    order = list(get_task(task).published)
    rows = [item for item in load_reproductions(path) if item.task == task and item.published is not None]
    return sorted(rows, key=lambda item: order.index(item.arch) if item.arch in order else len(order))
