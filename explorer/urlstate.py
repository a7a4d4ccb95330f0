"""The picked configuration as URL query parameters, both ways, with no Streamlit in sight.

A shared link must reproduce the exact view, and a hand-edited or hostile link must never break the page: every
parameter is parsed on its own, bad ones are dropped with a message, and the result is always a valid config.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from explorer.architectures import ARCHITECTURES
from explorer.config import RunConfig
from explorer.presets import compatible_archs, default_config
from explorer.tasks import DEFAULT_TASK, TASKS


def flag(text: str) -> bool:
    """A switch as a link writes it: 1 or 0 (true/false, yes/no and on/off are read too)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not 1 or 0")


# URL parameter -> (config field, parser). Short names keep shared links readable.
URL_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "in": ("input_length", int),
    "out": ("output_length", int),
    "card": ("cardinality", int),
    "cell": ("cell", str),
    "units": ("units", int),
    "score": ("score", str),
    "mode": ("series_mode", str),
    "ep": ("epochs", int),
    "lr": ("learning_rate", float),
    "bs": ("batch_size", int),
    "tf": ("teacher_forcing", str),
    "rev": ("reverse_source", flag),
    "l1": ("l1", float),
    "l2": ("l2", float),
    "cn": ("clipnorm", float),
    "cv": ("clipvalue", float),
    "gcn": ("global_clipnorm", float),
}
# The kinds of gradient clipping, as config fields. The picker offers one at a time, so a link takes one too.
GRADIENT_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")
MAX_PARAMETER_LENGTH = 200


def _shown(text: str) -> str:
    return repr(text[:30] + ("…" if len(text) > 30 else ""))


def config_from_params(params: Mapping[str, str]) -> tuple[RunConfig, list[str]]:
    """Parse URL parameters into a valid RunConfig. Returns (config, problems in plain words)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    task = params.get("task")
    if task is not None and task not in TASKS:
        problems.append(f"unknown task {_shown(task)} in the link")
        task = None
    task = task or DEFAULT_TASK
    arch = params.get("arch")
    if arch is not None and arch not in ARCHITECTURES:
        problems.append(f"unknown architecture {_shown(arch)} in the link")
        arch = None
    for short, (name, kind) in URL_FIELDS.items():
        text = params.get(short)
        if text is None:
            continue
        if not isinstance(text, str) or len(text) > MAX_PARAMETER_LENGTH:
            problems.append(f"{short} in the link is too long")
            continue
        try:
            value = kind(text)
        except ValueError:
            problems.append(f"{short}={_shown(text)} in the link is not a valid {name}")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{short}={_shown(text)} in the link is not a finite number")
            continue
        values[name] = value
    clips = [short for short, (name, _) in URL_FIELDS.items() if name in GRADIENT_CLIPS and values.get(name)]
    if len(clips) > 1:
        asked = " and ".join(clips)
        problems.append(f"the link sets {asked}; gradients are clipped one way at a time: using {clips[0]}")
        for short in clips[1:]:
            values.pop(URL_FIELDS[short][0])
    if arch is not None and arch not in compatible_archs(task):
        problems.append(f"{arch} does not fit the {task} task; using {TASKS[task].default_arch}")
        arch = None
    arch = arch or TASKS[task].default_arch
    try:
        return default_config(task, arch, **values), problems
    except ValueError as error:
        whole_error = error
    # One bad value (a negative L1, an output longer than a prefix task's input) should not cost the link its
    # other settings: leave out the one parameter whose absence makes the rest valid, the last in URL order first.
    for short, (name, _) in reversed(URL_FIELDS.items()):
        if name not in values:
            continue
        rest = {field: value for field, value in values.items() if field != name}
        try:
            config = default_config(task, arch, **rest)
        except ValueError:
            continue
        problems.append(f"{short}={_shown(params[short])} in the link was not used: {whole_error}")
        return config, problems
    problems.append(f"the link's settings were not valid ({whole_error}); showing the defaults")
    return default_config(task, arch), problems


def params_from_config(config: RunConfig) -> dict[str, str]:
    params = {"task": config.task.name, "arch": config.model.arch}
    for short, (name, _) in URL_FIELDS.items():
        section = next(s for s in (config.task, config.model, config.train) if hasattr(s, name))
        value = getattr(section, name)
        params[short] = str(int(value)) if isinstance(value, bool) else str(value)
    return params
