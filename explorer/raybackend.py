"""Training on a Ray cluster: one job per configuration key for every app replica, GPU workers when there are.

`SEQ2SEQ_JOBS=ray` makes the app's job manager (`explorer.jobs.JobManager`) hand its training runs to this
backend instead of training in the server process. Ray is an optional dependency (`requirements-ray.txt`); this
module imports it only when a `RayBackend` is made.

How a run goes:

- **One named actor per config key.** A replica's run gets or creates the detached actor `train-<key>` in the
  namespace `seq2seq-explorer` (`get_if_exists`, so replicas asking for the same key at once get the same actor)
  and joins it as a waiter. The actor is a small coordinator (no CPU of its own): on its first join, and on a
  join after a failed or cancelled run, it submits one training task; any other join watches that task.
- **The task trains where the resources are.** It asks Ray for one CPU, and for `SEQ2SEQ_RAY_GPUS` GPUs (default
  1) when the cluster has them, otherwise none: a job never waits for a GPU the cluster lacks. It first looks the
  model up in the shared cache folder (another replica's run may have just saved it), then trains with
  `explorer.training.train`, reporting progress to the actor a few times a second and asking it whether to stop
  about once a second, and saves with the cache's own atomic, checksummed writer (`ModelStore.save`). The
  sidecar's `trained_by` records the worker: `{"jobs": "ray", "node": ..., "pid": ..., "gpus": [...]}`, beside
  the device and Keras backend that `environment()` records.
- **Replicas load from the shared folder.** When the actor says "done", the replica's manager looks the model up
  in its cache folder (`explorer.jobs.Stored`), which must be the folder the workers wrote: the same path on a
  shared file system. A model that is not there is a failed job with that reason, never a half-written file:
  the writer renames each file into place only once complete, and the lookup checks every digest.
- **Cancel is per replica.** A replica whose last session withdrew tells the actor; the run stops when no replica
  waits on it any more, and otherwise trains on for the others (this replica's job ends "cancelled" meanwhile).
- **Failures are reasons.** A worker that dies mid-run (killed, out of memory, its node lost) fails the run with
  the reason; the next request joins the same actor, which submits a new task. Tasks are never retried by Ray on
  their own (`max_retries=0`), so a crash is reported rather than repeated behind everyone's back. An actor that
  is gone (killed, or exited after lingering) is made anew by the next request.
- **Actors do not pile up.** An actor whose run ended lingers `linger_s` seconds after it was last asked anything,
  for replicas still catching up, then exits and frees its name.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from explorer.cache import ModelStore
from explorer.config import RunConfig
from explorer.trainers import BackendError, Stored

log = logging.getLogger(__name__)

ADDRESS_ENV = "SEQ2SEQ_RAY_ADDRESS"  # else Ray's own RAY_ADDRESS, else "auto" (the cluster this machine started)
GPUS_ENV = "SEQ2SEQ_RAY_GPUS"  # GPUs one training job asks for when the cluster has them
NAMESPACE = "seq2seq-explorer"
ACTOR_PREFIX = "train-"
POLL_S = 0.5  # how often a replica asks the actor how its run goes
STOP_POLL_S = 1.0  # how often a training task asks the actor whether to stop
REPORT_S = 0.25  # at most this often a task sends its progress (and always at the end of an epoch)
LINGER_S = 300.0
CALL_TIMEOUT_S = 60.0  # an actor call answering later than this means the cluster is in trouble
CONNECT_TIMEOUT_S = 5.0
ENDED = ("done", "failed", "cancelled", "diverged")


def _ray():
    try:
        import ray
    except ImportError as error:
        raise BackendError(f"Ray is not installed ({error}; pip install -r requirements-ray.txt)") from error
    return ray


def _reachable(address: str) -> str | None:
    """Why `address` ("host:port" or "ray://host:port") cannot be a Ray cluster's, checked with one TCP connect so
    that a wrong address fails in seconds rather than after Ray's own minute of retries; None when it answers or
    the address names no port ("auto", "local")."""
    parsed = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return f"{address!r} is not a host:port address"
    if not host or port is None:
        return None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as error:
        return f"nothing answers at {host}:{port} ({error.strerror or error})"


@functools.cache
def _remote(target):
    """`ray.remote(target)`, made once per process: each one exports the function or class to the cluster anew."""
    return _ray().remote(target)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


# -- the cluster's side -----------------------------------------------------------------------------------------


def train_task(config: dict[str, Any], dirs: tuple[str, str], coordinator, run: int, gpus: float) -> dict[str, Any]:
    """One training run on a Ray worker (submitted by the coordinator as a task): looks the model up in the shared
    folder, else trains it, reporting to `coordinator`, and saves it there. Returns how it ended."""
    import ray

    from explorer.trainers import sidecar_metadata
    from explorer.training import train

    run_config = RunConfig.from_dict(config)
    store = ModelStore(*dirs)
    if store.lookup(run_config) is not None:
        return {"status": "done", "reason": "", "history": [], "found": True}
    worker = {
        "jobs": "ray",
        "node": ray.util.get_node_ip_address(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "gpus": [str(gpu) for gpu in ray.get_gpu_ids()],
        "asked_gpus": gpus,
    }
    coordinator.report.remote(run, {"worker": worker})
    clock = {"stop_asked": 0.0, "stop": False, "reported": 0.0}

    def should_stop() -> bool:
        now = time.monotonic()
        if now - clock["stop_asked"] >= STOP_POLL_S:
            clock["stop_asked"] = now
            clock["stop"] = bool(ray.get(coordinator.should_stop.remote(run), timeout=CALL_TIMEOUT_S))
        return clock["stop"]

    def progress(report) -> None:
        now = time.monotonic()
        if report.sequence_accuracy is not None or now - clock["reported"] >= REPORT_S:
            clock["reported"] = now
            coordinator.report.remote(run, {"progress": dataclasses.asdict(report)})

    result = train(run_config, progress=progress, should_stop=should_stop, snapshots=True)
    if result.status in ("cancelled", "diverged"):
        return {"status": result.status, "reason": result.reason, "history": result.history}
    save_error = store.save(result.bundle, sidecar_metadata(result, worker), result.snapshots)
    if save_error:
        return {"status": "failed", "reason": f"trained, but {save_error}", "history": result.history}
    return {"status": "done", "reason": "", "history": result.history}


class Coordinator:
    """The named actor of one config key: submits its training task, relays progress and cancel, and keeps the
    outcome for every replica that asks. Methods run in a thread pool (a threaded actor), guarded by one lock."""

    def __init__(self, key: str, config: dict[str, Any], dirs: tuple[str, str], gpus: float, linger_s: float):
        self.key, self.config, self.dirs, self.gpus, self.linger_s = key, config, dirs, gpus, linger_s
        self._lock = threading.Lock()
        self.state = "idle"  # then "waiting" (for a worker), "running", or one of ENDED
        self.reason = ""
        self.progress: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.worker: dict[str, Any] = {}
        self.waiters: set[str] = set()
        self.stop = False
        self.runs = 0  # training tasks submitted so far
        self.run_gpus = 0.0  # what the latest one asked for
        self.ref = None
        self.touched = time.monotonic()
        threading.Thread(target=self._linger, name="linger", daemon=True).start()

    def join(self, waiter: str) -> dict[str, Any]:
        """`waiter` (a replica) wants the model: start a run unless one is under way or done."""
        with self._lock:
            self.touched = time.monotonic()
            self.waiters.add(waiter)
            gone = self.state == "done" and not self._stored()  # the model it made has since left the folder
            if self.state in ("idle", "failed", "cancelled", "diverged") or gone:
                self._start()
            elif self.state in ("waiting", "running"):
                self.stop = False
            return self._status()

    def withdraw(self, waiter: str) -> bool:
        """`waiter` no longer wants the run; True when that stops it (nobody else waits on it)."""
        import ray

        with self._lock:
            self.touched = time.monotonic()
            self.waiters.discard(waiter)
            if self.waiters or self.state not in ("waiting", "running"):
                return False
            self.stop = True
            if self.state == "waiting" and self.ref is not None:
                ray.cancel(self.ref)  # not taken up by a worker yet: it never starts
            return True

    def report(self, run: int, fields: dict[str, Any]) -> None:
        with self._lock:
            if run != self.runs or self.state in ENDED:
                return
            self.state = "running"
            self.worker = fields.get("worker", self.worker)
            if "progress" in fields:
                self.progress = fields["progress"]
                if self.progress.get("sequence_accuracy") is not None:
                    self.history.append(self.progress)

    def should_stop(self, run: int) -> bool:
        with self._lock:
            return self.stop or run != self.runs

    def status(self) -> dict[str, Any]:
        with self._lock:
            self.touched = time.monotonic()
            return self._status()

    def exit(self) -> None:
        import ray

        ray.actor.exit_actor()

    # -- inside -------------------------------------------------------------------------------------------------
    def _stored(self) -> bool:
        try:
            return ModelStore(*self.dirs).lookup(RunConfig.from_dict(self.config)) is not None
        except Exception:  # an unreadable folder: train again rather than point at nothing
            return False

    def _status(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "state": self.state,
            "reason": self.reason,
            "progress": self.progress,
            "history": list(self.history),
            "worker": dict(self.worker),
            "runs": self.runs,
            "waiters": sorted(self.waiters),
            "gpus": self.run_gpus,
        }

    def _gpus_for_run(self) -> float:
        import ray

        try:
            return self.gpus if 0 < self.gpus <= ray.cluster_resources().get("GPU", 0) else 0.0
        except Exception:  # the cluster's resources could not be read: ask for none
            return 0.0

    def _start(self) -> None:
        """Caller holds the lock."""
        import ray

        self.runs += 1
        self.state, self.reason, self.progress, self.stop = "waiting", "", None, False
        self.history, self.worker = [], {}
        gpus = self.run_gpus = self._gpus_for_run()
        me = ray.get_runtime_context().current_actor
        task = _remote(train_task).options(num_cpus=1, num_gpus=gpus, max_retries=0, name=f"train {self.key}")
        self.ref = task.remote(self.config, self.dirs, me, self.runs, gpus)
        threading.Thread(target=self._watch, args=(self.ref, self.runs), name=f"watch-{self.runs}", daemon=True).start()

    def _watch(self, ref, run: int) -> None:
        import ray

        try:
            outcome = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            outcome = {"status": "cancelled", "reason": "cancelled before a Ray worker took it up"}
        except ray.exceptions.RayTaskError as error:  # the training code raised: its own reason
            cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else error
            if isinstance(cause, MemoryError) or "out of memory" in str(cause).lower():
                reason = "out of memory on the Ray worker: try fewer units, a smaller batch or shorter sequences"
            elif isinstance(cause, ValueError):
                reason = f"bad configuration: {cause}"
            else:
                reason = f"training failed on the Ray worker: {_first_line(cause)}"
            outcome = {"status": "failed", "reason": reason}
        except Exception as error:  # the worker died (killed, OOM-killed, node lost)
            outcome = {
                "status": "failed",
                "reason": f"the Ray worker training it stopped ({_first_line(error)}); ask again to retry",
            }
        with self._lock:
            if run != self.runs:
                return
            self.state = outcome["status"]
            self.reason = outcome.get("reason", "")
            if outcome.get("history"):
                self.history = outcome["history"]
            self.touched = time.monotonic()

    def _linger(self) -> None:
        import ray

        while True:
            time.sleep(min(5.0, max(0.05, self.linger_s / 4)))
            with self._lock:
                idle = time.monotonic() - self.touched
                ended = self.state in ENDED or self.state == "idle"
            if ended and idle >= self.linger_s:
                ray.get_runtime_context().current_actor.exit.remote()
                return


# -- the replica's side -----------------------------------------------------------------------------------------


class RayBackend:
    """A `explorer.jobs.TrainingBackend` that trains on a Ray cluster (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        address: str = "auto",
        gpus: float = 1.0,
        slots: int = 32,
        poll_s: float = POLL_S,
        linger_s: float = LINGER_S,
        namespace: str = NAMESPACE,
        store: ModelStore | None = None,
    ) -> None:
        ray = _ray()
        if why := _reachable(address):
            raise BackendError(f"the Ray cluster at {address} cannot be reached: {why}")
        try:
            ray.init(
                address=address,
                namespace=namespace,
                ignore_reinit_error=True,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except Exception as error:  # whatever Ray raises, the app falls back with this reason
            raise BackendError(f"the Ray cluster at {address} cannot be reached: {_first_line(error)}") from error
        self._ray = ray
        self.address = address
        self.gpus = gpus
        self.slots = slots
        self.poll_s = poll_s
        self.linger_s = linger_s
        self.namespace = namespace
        self.store = store or ModelStore()
        # This replica, as the actors know it: a run stops only when every replica's sessions withdrew.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RayBackend:
        address = environ.get(ADDRESS_ENV) or environ.get("RAY_ADDRESS") or "auto"
        try:
            gpus = float(environ.get(GPUS_ENV, "1"))
        except ValueError as error:
            raise BackendError(f"{GPUS_ENV}={environ.get(GPUS_ENV)!r} is not a number") from error
        return cls(address=address, gpus=max(0.0, gpus))

    def attach(self, store: ModelStore) -> None:
        """The manager's store: its cache folder is where the workers write and the replica reads."""
        self.store = store

    def describe(self) -> str:
        return f"on the Ray cluster at {self.address}"

    def close(self) -> None:
        """The replica leaves; the actors and their runs stay for the other replicas (and for its next start)."""

    def actor(self, config: RunConfig):
        """The coordinator of `config`'s key, got or made."""
        key = config.key()
        dirs = (str(self.store.pretrained_dir), str(self.store.cache_dir))
        return (
            _remote(Coordinator)
            .options(
                name=ACTOR_PREFIX + key,
                namespace=self.namespace,
                get_if_exists=True,
                lifetime="detached",
                num_cpus=0,
                max_concurrency=16,
                max_restarts=0,
            )
            .remote(key, config.to_dict(), dirs, self.gpus, self.linger_s)
        )

    def _call(self, method, *args):
        return self._ray.get(method.remote(*args), timeout=CALL_TIMEOUT_S)

    def _joined(self, config: RunConfig):
        """Join the key's actor, making it anew when the one found was just exiting."""
        ray = self._ray
        last: BaseException | None = None
        for _ in range(3):
            actor = self.actor(config)
            try:
                return actor, self._call(actor.join, self.token)
            except ray.exceptions.RayActorError as error:
                last = error
                time.sleep(0.2)
            except ray.exceptions.GetTimeoutError as error:
                raise BackendError("the Ray cluster did not answer within a minute") from error
        raise BackendError(f"the Ray actor for this job could not be started ({_first_line(last)})")

    def run(
        self,
        config: RunConfig,
        progress: Callable[[Any], None],
        should_stop: Callable[[], bool],
        note: Callable[[str], None],
    ) -> Stored:
        from explorer.training import Progress

        ray = self._ray
        actor, status = self._joined(config)
        withdrawn, shown, epochs_shown = False, None, 0
        try:
            while True:
                if should_stop() and not withdrawn:
                    withdrawn = True
                    if not self._call(actor.withdraw, self.token):
                        return Stored("cancelled", "cancelled here; it trains on for the other servers that want it")
                elif withdrawn and not should_stop():
                    withdrawn = False
                    self._call(actor.join, self.token)
                status = self._call(actor.status)
                if status["state"] in ENDED:
                    return Stored(status["state"], status["reason"], status["history"])
                if status["state"] == "waiting":
                    note("waiting for a free Ray worker" + (" with a GPU" if status["gpus"] else ""))
                else:
                    worker = status["worker"]
                    where = worker.get("node", "a Ray worker") + (" (GPU)" if worker.get("gpus") else "")
                    note(f"training on the Ray cluster, {where}")
                # Every epoch's end in order (the manager's history is made of them), then the latest report.
                for entry in status["history"][epochs_shown:]:
                    progress(Progress(**entry))
                epochs_shown = len(status["history"])
                if status["progress"] and status["progress"] != shown:
                    shown = status["progress"]
                    progress(Progress(**shown))
                time.sleep(self.poll_s)
        except ray.exceptions.RayActorError as error:
            raise BackendError(
                f"the Ray actor running this job went away ({_first_line(error)}); ask again to retry"
            ) from error
        except ray.exceptions.GetTimeoutError as error:
            raise BackendError("the Ray cluster stopped answering; ask again to retry") from error
