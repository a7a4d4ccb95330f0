"""Where a job manager's training runs happen: the backend protocol, the default in-process backend, and what a
trained model's sidecar records about its run.

`explorer.jobs.JobManager` keeps the jobs; a `TrainingBackend` runs them. `LocalBackend` trains in the server's
own process (the manager's worker threads) and gives the model back for the manager to save;
`explorer.raybackend.RayBackend` trains on a Ray cluster and saves the model into the shared cache folder itself,
returning `Stored`. Importing this module imports no Keras.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from explorer.cache import ModelStore
from explorer.config import RunConfig

if TYPE_CHECKING:
    from explorer.training import Progress, TrainResult

log = logging.getLogger(__name__)

MAX_JOBS_ENV = "SEQ2SEQ_MAX_JOBS"


def _train(config: RunConfig, **kwargs: Any) -> TrainResult:
    """The real trainer, imported when the first run starts: importing it imports Keras. Models trained in the app
    always keep their replay snapshots."""
    from explorer.training import train

    return train(config, snapshots=True, **kwargs)


def default_max_running() -> int:
    try:
        return max(1, int(os.environ.get(MAX_JOBS_ENV, "1")))
    except ValueError:
        return 1


@dataclass
class Stored:
    """How a run ended on a backend that saves the model itself, into the manager's store (a Ray worker writing
    the shared cache folder): `status` is "done" (the model is in the store), "cancelled", "diverged" or
    "failed", with the reason and the history of accuracies so far."""

    status: str
    reason: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)


class BackendError(RuntimeError):
    """A backend could not run a job (its cluster went away, its worker died): the message is the job's reason."""


class TrainingBackend(Protocol):
    """Where the manager's runs train. `run` is called in one of the manager's `slots` worker threads, once per
    queued job, and blocks until the run ends: it reports `progress`, stops soon after `should_stop()` turns true,
    may say in words what the run is waiting for (`note`), and returns the `TrainResult` for the manager to save,
    or `Stored` when the model went into the store on the backend's side. It raises `BackendError` with a reason,
    or the trainer's own errors (MemoryError, ValueError for a bad configuration)."""

    name: str
    slots: int

    def run(
        self,
        config: RunConfig,
        progress: Callable[[Progress], None],
        should_stop: Callable[[], bool],
        note: Callable[[str], None],
    ) -> TrainResult | Stored: ...

    def attach(self, store: ModelStore) -> None: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class LocalBackend:
    """Trains in this process, in the manager's worker threads (at most `slots` at once): the default."""

    name = "local"

    def __init__(self, trainer: Callable[..., TrainResult] = _train, slots: int | None = None) -> None:
        self.trainer = trainer
        self.slots = slots or default_max_running()

    def run(self, config, progress, should_stop, note) -> TrainResult:
        return self.trainer(config, progress=progress, should_stop=should_stop)

    def attach(self, store: ModelStore) -> None:
        pass  # the manager saves what this backend trains

    @staticmethod
    def trained_by() -> dict[str, Any]:
        """What the sidecar of a model trained here records about where: this process's host."""
        import socket

        return {"jobs": "local", "host": socket.gethostname()}

    def describe(self) -> str:
        return f"in this process, {self.slots} at a time"

    def close(self) -> None:
        pass


def sidecar_metadata(result: TrainResult, trained_by: dict[str, Any]) -> dict[str, Any]:
    """What a trained model's sidecar records besides its key and config: the run's history and metrics, how it
    ended, the software it ran on (`environment()`) and which backend, host or worker trained it (`trained_by`)."""
    return {
        "history": result.history,
        "metrics": result.metrics,
        "gradient_norms": result.gradient_norms,
        "train_seconds": result.train_seconds,
        "samples_seen": result.samples_seen,
        "status": result.status,
        "reason": result.reason,
        **environment(),
        "trained_by": trained_by,
    }


def environment() -> dict[str, Any]:
    """What a sidecar records about where a model was trained."""
    import platform

    import keras
    import numpy

    from explorer.backend import backend_name, device_name

    versions = {"keras": keras.__version__, "numpy": numpy.__version__, "python": platform.python_version()}
    try:
        import tensorflow

        versions["tensorflow"] = tensorflow.__version__
    except ImportError:
        pass
    return {"backend": backend_name(), "device": device_name(), "versions": versions}
