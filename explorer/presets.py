"""Sensible default configurations for every task x architecture pair, shared by the CLI, pretraining and app.

Every default is a fact of a registry entry: a task's parameters and default architecture (`explorer.tasks`), an
architecture's model and training settings and default task (`explorer.architectures`). They come from the
tutorials (lengths, cardinalities) and from what trains quickly on a 2-core CPU (units, batch size, learning
rate): a larger batch and a higher Adam learning rate than the tutorials reach the same accuracy in a fraction of
the time. This module only combines them, and names no task or architecture, with one exception: `REPLAY_SHIPPED`,
a shipping decision rather than a fact of any entry (which shipped models carry training-replay snapshots).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from explorer.architectures import ARCHITECTURES
from explorer.config import ModelConfig, RunConfig, TaskConfig, TrainConfig, field_names
from explorer.tasks import DEFAULT_TASK, TASKS

# Every model trains until this exact-sequence accuracy unless its architecture says otherwise.
TARGET_ACCURACY = 0.99


def pairs() -> list[tuple[str, str]]:
    """Every (task, architecture) pair whose default configuration is valid."""
    found = []
    for task in TASKS:
        for arch in ARCHITECTURES:
            try:
                default_config(task, arch)
            except ValueError:
                continue
            found.append((task, arch))
    return found


@functools.cache
def compatible_archs(task: str) -> tuple[str, ...]:
    """Architectures whose default configuration accepts `task` (e.g. no stacked LSTM when lengths differ)."""
    return tuple(arch for t, arch in pairs() if t == task)


def default_config(task: str | None = None, arch: str | None = None, **overrides: Any) -> RunConfig:
    """The default RunConfig for a task and/or architecture, with `name=value` overrides from any section.

    An override name may be qualified (`task.seed`) or plain when it is unambiguous (`units`). Raises
    ValueError naming the valid choices for an unknown task, architecture or parameter, or a bad value.
    """
    if task is None:
        task = ARCHITECTURES[arch].default_task if arch in ARCHITECTURES else DEFAULT_TASK
    if arch is None and task in TASKS:
        arch = TASKS[task].default_arch
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    sections: dict[str, dict[str, Any]] = {
        "task": {"name": task, **TASKS[task].defaults},
        "model": {"arch": arch, **ARCHITECTURES[arch].model_defaults},
        "train": {
            "target_accuracy": TARGET_ACCURACY,
            **ARCHITECTURES[arch].train_defaults,
            **TASKS[task].train_defaults,
        },
    }
    names = field_names()
    for name, value in overrides.items():
        section, field = _resolve(name, names)
        sections[section][field] = value
    return RunConfig(TaskConfig(**sections["task"]), ModelConfig(**sections["model"]), TrainConfig(**sections["train"]))


def _resolve(name: str, names: dict[str, list[str]]) -> tuple[str, str]:
    if "." in name:
        section, field = name.split(".", 1)
        if section in names and field in names[section]:
            return section, field
    else:
        owners = [section for section, fields in names.items() if name in fields]
        if len(owners) == 1:
            return owners[0], name
        if len(owners) > 1:
            raise ValueError(f"{name!r} is ambiguous; write {' or '.join(f'{o}.{name}' for o in owners)}")
    valid = sorted({f for fields in names.values() for f in fields} - {"name", "arch"})
    raise ValueError(f"unknown parameter {name!r}; valid: {', '.join(valid)}")


def coerce(name: str, text: str) -> Any:
    """Turn the text of `--set name=text` into the type the field expects."""
    names = field_names()
    section, field = _resolve(name, names)
    cls = {"task": TaskConfig, "model": ModelConfig, "train": TrainConfig}[section]
    kind = {f.name: f.type for f in dataclasses.fields(cls)}[field]
    kind = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a {kind}, got {text!r}") from None
    return text


# The schedule the Decoding page sets beside pure teacher forcing.
SHOWCASE_SCHEDULE = "inverse-sigmoid"


def scheduled_config(config: RunConfig) -> RunConfig:
    """`config` trained with scheduled sampling instead of pure teacher forcing (the Decoding page's pair)."""
    return config.replace(train={"teacher_forcing": SHOWCASE_SCHEDULE})


# The shipped models that carry training-replay snapshots (`python -m explorer pretrain` writes them): the default
# configurations the lessons and the replay pages open first, one per page that has a slider. Each snapshot costs
# a file as big as its model's (0.2 to 0.4 MB), so every shipped model having them would break the 25 MB budget.
# Models trained in the app always keep theirs.
REPLAY_SHIPPED: tuple[tuple[str, str], ...] = (
    ("reverse", "teacher-forcing"),  # Decoding and States: the landing configuration
    ("copy-first-k", "bahdanau"),  # Attention
    ("echo", "stacked-lstm"),  # States: the echo task's default, which learns within its first epoch
    ("series", "lstm-autoencoder"),  # Autoencoder embeddings
)


def replay_configs() -> list[RunConfig]:
    """The default configurations of `REPLAY_SHIPPED`: the shipped models that keep replay snapshots."""
    return [default_config(task, arch) for task, arch in REPLAY_SHIPPED]


def shipped_pairs() -> list[tuple[str, str]]:
    """The (task, architecture) pairs `pretrain` ships: every valid pair, unless a task names the ones it ships."""
    return [
        (task, arch) for task, arch in pairs() if TASKS[task].shipped_archs is None or arch in TASKS[task].shipped_archs
    ]


def variant_configs() -> list[RunConfig]:
    """The default pairs under every variant their task declares (e.g. each series mode)."""
    return [default_config(task, arch, **variant) for task, arch in pairs() for variant in TASKS[task].variants]


def pretrain_configs() -> list[RunConfig]:
    """Everything `python -m explorer pretrain` ships: every default pair plus the variants the pages show."""
    configs = [default_config(task, arch) for task, arch in shipped_pairs()]
    configs += [
        *variant_configs(),
        # Decoding page: scheduled sampling beside pure teacher forcing on the landing configuration.
        scheduled_config(default_config()),
        *gradient_configs().values(),
    ]
    unique: dict[str, RunConfig] = {}
    for config in configs:
        unique.setdefault(config.key(), config)
    return list(unique.values())


# The gradients page: one long real-valued series, plain SGD at a high learning rate, four ways to train it.
_GRADIENT_BASE = {
    "input_length": 30,
    "output_length": 30,
    "units": 32,
    "optimizer": "sgd",
    "learning_rate": 1.0,
    "epochs": 8,
    "samples_per_epoch": 512,
    "batch_size": 64,
    "record_gradients": True,
    "target_accuracy": 1.01,
}
GRADIENT_PRESETS: dict[str, dict[str, Any]] = {
    "SimpleRNN (ReLU), no clipping": {"cell": "rnn", "activation": "relu"},
    "SimpleRNN (ReLU), clipnorm 1.0": {"cell": "rnn", "activation": "relu", "clipnorm": 1.0},
    "SimpleRNN (ReLU), clipvalue 0.1": {"cell": "rnn", "activation": "relu", "clipvalue": 0.1},
    "LSTM, no clipping": {"cell": "lstm"},
}


def gradient_configs() -> dict[str, RunConfig]:
    # A real-valued task, so the loss is a plain regression and nothing but the gradients changes.
    task = real_valued_task()
    return {name: default_config(task, **{**_GRADIENT_BASE, **extra}) for name, extra in GRADIENT_PRESETS.items()}


def attention_archs(task: str) -> tuple[str, ...]:
    """The architectures with attention that accept `task`'s defaults, in registry order."""
    return tuple(arch for arch in compatible_archs(task) if ARCHITECTURES[arch].has_attention)


def score_choices(task: str) -> dict[str, tuple[str, str]]:
    """Every attention score a learner can pick on `task`: label -> (architecture, score), e.g.
    "general (Luong)" -> ("luong", "general"). An architecture whose mechanism fixes the score gets one entry."""
    choices: dict[str, tuple[str, str]] = {}
    for arch in attention_archs(task):
        entry = ARCHITECTURES[arch]
        for score in entry.scores or (default_config(task, arch).model.score,):
            choices[entry.score_label(score)] = (arch, score)
    return choices


def baseline_arch(task: str) -> str | None:
    """The recursive encoder-decoder without attention on `task`: what attention is compared against."""
    return next(
        (
            arch
            for arch in compatible_archs(task)
            if ARCHITECTURES[arch].uses_schedule and not ARCHITECTURES[arch].has_attention
        ),
        None,
    )


def kind_example_config(task: str) -> RunConfig:
    """The default configuration of `task` as an example of its problem kind (its `kind_variant` applied): what
    the landing page's "Try" buttons load."""
    return default_config(task, **TASKS[task].kind_variant)


def real_valued_task() -> str:
    """The first real-valued task (the series the autoencoder and the Gradients page work on)."""
    return next(name for name, task in TASKS.items() if task.values == "real")


def changed_settings(config: RunConfig) -> dict[str, Any] | None:
    """The model and training settings of `config` that differ from its architecture's defaults on the same task
    parameters, by field name (e.g. `{"units": 32}`); None when no default exists to compare with."""
    task = config.task
    try:
        base = default_config(
            task.name,
            config.model.arch,
            input_length=task.input_length,
            output_length=task.output_length,
            cardinality=task.cardinality,
            series_mode=task.series_mode,
            **{"task.seed": task.seed},
        )
    except ValueError:
        return None
    return {
        name: value
        for section in ("model", "train")
        for name, value in dataclasses.asdict(getattr(config, section)).items()
        if value != getattr(getattr(base, section), name)
    }


def run_label(config: RunConfig) -> str:
    """A run's name in a comparison: its architecture and what differs from its default, e.g. "luong · units=32"."""
    changed = changed_settings(config)
    if changed is None:
        return f"{config.model.arch} · own settings"
    if not changed:
        return config.model.arch
    return f"{config.model.arch} · " + ", ".join(f"{name}={value}" for name, value in changed.items())
