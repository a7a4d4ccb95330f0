"""Loaded models under a memory budget: when a model would not fit, the least recently used ones make room.

One server holds the models of everyone it serves. A class picking dozens of configurations would otherwise keep
every model anyone ever opened, until the host ran out of memory. The job manager keeps each finished job's model
in a `ModelMemory`; a model it let go is loaded again from its file on its next use (`fetch`). Letting go only
drops the memory's own reference: a page that holds the model in the middle of a run keeps working with it. A
training-replay snapshot a page opens is one more model here (named by its job and epoch), under the same budget.

The budget is `SEQ2SEQ_MODEL_MEMORY_MB`. The default, 400, holds about 35 models of the default sizes, and suits a
1 to 2.7 GB host: TensorFlow itself takes about 300 MB of the process's own memory once imported (and maps 430 MB
of shared libraries, which the system can page out).

How big a model is, `estimated_bytes`: a fixed cost per model plus three times its weights. Measured on the
shipped models, each loaded and then run the way the pages run it (greedy decode, probe, beam search), a Python
process grew by 1 to 34 MB per model, 10 MB on average, while their weights are 0.05 to 1 MB: most of a loaded model
is the graph of its six Keras models and the functions TensorFlow compiles for them on first use, not its weights.
A 512-unit model (9.4 MB of weights) grew the process by about 35 MB, hence the three copies. Reading the process's
memory around each load was tried and rejected: the compiled functions appear later, on first use, and the
allocator hands memory freed by other models to the next one, so those readings are noise. Models that were let go
are freed (the tests check it); the process's memory then stays flat, as the next loads reuse it.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from explorer.networks import ModelBundle

log = logging.getLogger(__name__)

MEMORY_ENV = "SEQ2SEQ_MODEL_MEMORY_MB"
DEFAULT_MEMORY_MB = 400.0
MB = 1_000_000
# The estimate's two terms (see the module docstring for the measurements behind them).
PER_MODEL_BYTES = 10 * MB
WEIGHT_COPIES = 3


def memory_budget_bytes() -> int:
    """`$SEQ2SEQ_MODEL_MEMORY_MB` in bytes; the default when it is unset, not a number, or not positive."""
    raw = os.environ.get(MEMORY_ENV)
    try:
        megabytes = float(raw) if raw else DEFAULT_MEMORY_MB
    except ValueError:
        megabytes = math.nan
    if not megabytes > 0:  # also NaN
        log.warning("%s=%r is not a positive number of MB; using %s", MEMORY_ENV, raw, DEFAULT_MEMORY_MB)
        megabytes = DEFAULT_MEMORY_MB
    return int(megabytes * MB)


def weight_bytes(bundle: ModelBundle) -> int:
    """The bytes of the bundle's weights (every model in a bundle shares the training model's)."""
    return sum(
        math.prod(variable.shape) * np.dtype(variable.dtype).itemsize for variable in bundle.training_model.weights
    )


def estimated_bytes(bundle: ModelBundle) -> int:
    """What keeping `bundle` loaded costs the process, in bytes, once the pages have run it (see the module)."""
    return PER_MODEL_BYTES + WEIGHT_COPIES * weight_bytes(bundle)


@dataclass
class _Held:
    bundle: ModelBundle
    size: int
    pinned: bool  # no copy on disk to reload it from: never let go


class ModelMemory:
    """Loaded models by name, least recently used first out, within `budget_bytes` (default: the environment's).

    The most recently used model always stays, even alone over the budget: it is the one a page is about to use.
    Thread-safe; concurrent `fetch`es of one name load it once.
    """

    def __init__(self, budget_bytes: int | None = None, size_of: Callable[[ModelBundle], int] = estimated_bytes):
        self.budget_bytes = memory_budget_bytes() if budget_bytes is None else budget_bytes
        self.size_of = size_of
        self._held: OrderedDict[Hashable, _Held] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def fetch(self, name: Hashable, load: Callable[[], ModelBundle]) -> ModelBundle:
        """The model called `name`, marked most recently used; `load()` makes it when it is not held. An error
        from `load` is raised to the caller, and the next fetch tries again."""
        with self._lock:
            held = self._use(name)
            if held is not None:
                return held.bundle
            gate = self._loading.setdefault(name, threading.Lock())
        with gate:  # one load per name; the others wait for it, then find the model held
            with self._lock:
                held = self._use(name)
            if held is not None:
                return held.bundle
            try:
                bundle = load()
                self.keep(name, bundle)
            finally:
                with self._lock:
                    self._loading.pop(name, None)
            return bundle

    def keep(self, name: Hashable, bundle: ModelBundle, pinned: bool = False) -> None:
        """Hold `bundle` as `name`, most recently used, letting the least recently used others go until the
        budget holds. `pinned`: the model cannot be loaded again (it has no file), so it is never let go."""
        size = self.size_of(bundle)
        with self._lock:
            self._held[name] = _Held(bundle, size, pinned)
            self._held.move_to_end(name)
            self._make_room(keep=name)

    def discard(self, name: Hashable) -> None:
        """Let the model called `name` go, if it is held."""
        with self._lock:
            self._held.pop(name, None)

    def holds(self, name: Hashable) -> bool:
        with self._lock:
            return name in self._held

    def names(self) -> list[Hashable]:
        """The names of the models held, least recently used first."""
        with self._lock:
            return list(self._held)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(held.size for held in self._held.values())

    def _use(self, name: Hashable) -> _Held | None:
        """Caller holds the lock."""
        held = self._held.get(name)
        if held is not None:
            self._held.move_to_end(name)
        return held

    def _make_room(self, keep: Hashable) -> None:
        """Caller holds the lock."""
        used = sum(held.size for held in self._held.values())
        for name in [name for name, held in self._held.items() if not held.pinned and name != keep]:
            if used <= self.budget_bytes:
                return
            used -= self._held.pop(name).size
            log.info("let model %s go to stay within %.0f MB", name, self.budget_bytes / MB)
