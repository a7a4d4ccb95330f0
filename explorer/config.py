"""Frozen, validated configuration for one experiment, and its content-hash key.

A run is fully described by three small dataclasses: what to learn (`TaskConfig`), which network learns it
(`ModelConfig`) and how it is trained (`TrainConfig`). `RunConfig.key()` hashes their sorted JSON together with
`FORMAT_VERSION`, so the same experiment always maps to the same cache file and a change to the on-disk format
invalidates every old file at once. Python's salted `hash()` is never used for keys.

Validation asks the registries (`explorer.tasks`, `explorer.architectures`) and the shared vocabulary in
`explorer.facts`, all Keras-free: building a configuration never imports Keras or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from explorer.architectures import ARCHITECTURES
from explorer.facts import (
    ACTIVATIONS,
    CELL_TYPES,
    OPTIMIZERS,
    SCHEDULES,
    SCORE_FUNCTIONS,
    SERIES_MODES,
)
from explorer.tasks import TASKS

__all__ = [
    "CELL_TYPES",
    "FORMAT_VERSION",
    "OPTIMIZERS",
    "SCHEDULES",
    "SCORE_FUNCTIONS",
    "SERIES_MODES",
    "ModelConfig",
    "RunConfig",
    "TaskConfig",
    "TrainConfig",
    "field_names",
]

# Bump when the saved model layout or the meaning of a field changes: every cached file then misses.
FORMAT_VERSION = 1


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
        f"{name} must be a whole number from {low} to {high}, got {value!r}",
    )


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    _check(
        isinstance(value, (int, float)) and not isinstance(value, bool) and low <= float(value) <= high,
        f"{name} must be a number from {low} to {high}, got {value!r}",
    )


@dataclass(frozen=True)
class TaskConfig:
    """What to learn. Field meanings per task are documented in `explorer.tasks`.

    `cardinality` is the number of distinct symbols (1..cardinality); 0 is reserved as pad and start token,
    so the vocabulary has `cardinality + 1` entries. Series tasks ignore it and use `series_mode`.
    """

    name: str = "reverse"
    input_length: int = 6
    output_length: int = 3
    cardinality: int = 50
    series_mode: str = "reconstruct"
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.name in TASKS, f"unknown task {self.name!r}; choose from {', '.join(TASKS)}")
        _check_int("input_length", self.input_length, 1, 200)
        _check_int("output_length", self.output_length, 1, 200)
        _check_int("cardinality", self.cardinality, 2, 1000)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check(self.series_mode in SERIES_MODES, f"series_mode must be one of {', '.join(SERIES_MODES)}")
        TASKS[self.name].validate(self)

    @property
    def vocab_size(self) -> int:
        return self.cardinality + 1


@dataclass(frozen=True)
class ModelConfig:
    """Which network. `score` only matters for attention models; `activation` for the recurrent layers."""

    arch: str = "teacher-forcing"
    cell: str = "lstm"
    units: int = 64
    layers: int = 1
    bidirectional: bool = False
    reverse_source: bool = False
    score: str = "dot"
    activation: str = "tanh"

    def __post_init__(self) -> None:
        _check(
            self.arch in ARCHITECTURES,
            f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHITECTURES)}",
        )
        _check(self.cell in CELL_TYPES, f"cell must be one of {', '.join(CELL_TYPES)}, got {self.cell!r}")
        _check_int("units", self.units, 1, 1024)
        _check_int("layers", self.layers, 1, 4)
        _check(isinstance(self.bidirectional, bool), "bidirectional must be true or false")
        _check(isinstance(self.reverse_source, bool), "reverse_source must be true or false")
        _check(self.score in SCORE_FUNCTIONS, f"score must be one of {', '.join(SCORE_FUNCTIONS)}")
        _check(self.activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. `epochs` is an upper bound: training stops early at `target_accuracy` or on a NaN loss.

    Each epoch draws `samples_per_epoch` fresh examples, so the model never sees the same data twice.
    `teacher_forcing` names a scheduled-sampling schedule; "none" is pure teacher forcing.
    """

    epochs: int = 10
    samples_per_epoch: int = 8192
    batch_size: int = 128
    learning_rate: float = 0.005
    # Plain SGD shows exploding gradients and clipping plainly; Adam rescales steps and hides both.
    optimizer: str = "adam"
    clipnorm: float = 0.0
    clipvalue: float = 0.0
    global_clipnorm: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    target_accuracy: float = 1.01
    record_gradients: bool = False
    teacher_forcing: str = "none"
    eval_examples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1, 10_000)
        _check_int("samples_per_epoch", self.samples_per_epoch, 1, 10_000_000)
        _check_int("batch_size", self.batch_size, 1, 65_536)
        _check_float("learning_rate", self.learning_rate, 1e-7, 10.0)
        _check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        for name in ("clipnorm", "clipvalue", "global_clipnorm", "l1", "l2"):
            _check_float(name, getattr(self, name), 0.0, 1e6)
        _check(
            not (self.clipnorm and self.global_clipnorm),
            "use clipnorm or global_clipnorm, not both (Keras applies only one norm clip)",
        )
        _check_float("target_accuracy", self.target_accuracy, 0.0, 1.01)
        _check(isinstance(self.record_gradients, bool), "record_gradients must be true or false")
        _check(self.teacher_forcing in SCHEDULES, f"teacher_forcing must be one of {', '.join(SCHEDULES)}")
        _check_int("eval_examples", self.eval_examples, 1, 1_000_000)
        _check_int("seed", self.seed, 0, 2**31 - 1)


@dataclass(frozen=True)
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        ARCHITECTURES[self.model.arch].validate(self.task, self.model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        try:
            return cls(
                task=TaskConfig(**data["task"]),
                model=ModelConfig(**data["model"]),
                train=TrainConfig(**data["train"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a valid run configuration: {error}") from error

    def key(self) -> str:
        """A stable 16-hex-digit content hash: same experiment, same key, on every machine and Python."""
        payload = json.dumps({"format": FORMAT_VERSION, **self.to_dict()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def replace(self, **sections: dict[str, Any]) -> RunConfig:
        """A copy with some fields changed, e.g. `config.replace(model={"units": 32})`."""
        changed = {}
        for section, values in sections.items():
            _check(section in ("task", "model", "train"), f"unknown config section {section!r}")
            current = getattr(self, section)
            known = {f.name for f in dataclasses.fields(current)}
            unknown = set(values) - known
            _check(not unknown, f"unknown {section} parameter(s) {sorted(unknown)}; valid: {sorted(known)}")
            changed[section] = dataclasses.replace(current, **values)
        return dataclasses.replace(self, **changed)


def field_names() -> dict[str, list[str]]:
    """Every settable parameter, grouped by section (used by the CLI's `--set` and its error messages)."""
    return {
        "task": [f.name for f in dataclasses.fields(TaskConfig)],
        "model": [f.name for f in dataclasses.fields(ModelConfig)],
        "train": [f.name for f in dataclasses.fields(TrainConfig)],
    }
