"""A process-wide job manager: one training job per config key, however many users ask at once.

`JobManager.request(config)` returns the `Job` for that config's key, creating it only if no live job exists:
thirty students pressing "train" on the same configuration share one job. A job first looks the model up
(`pretrained/`, then the cache directory); only on a miss is it queued for training. At most `max_running`
jobs train at once (default 1, suited to a 2-core machine; `SEQ2SEQ_MAX_JOBS` overrides it); the rest wait in
FIFO order and can see their position. Jobs report progress and keep a readable reason when they fail, after
which a new request retries. A job exposes its model only once training has finished, so nobody is ever served
half-updated weights. `shutdown()` retires a manager: it takes no more training, cancels what is queued or
running, and its worker threads exit.

Two guards keep one user from stalling or undoing everyone else's work on a shared server:

- a training budget (`budget_s`, in seconds estimated by `explorer.budget`): a request for a run estimated over
  it is refused with the reason, before anything queues. The app sets it from `SEQ2SEQ_TRAIN_BUDGET_S`; a
  manager made without one (the CLI's, the tests') trains anything;
- cancelling withdraws one session: a job keeps the set of sessions waiting on it, `request(config,
  session=...)` adds one and `cancel(config, session=...)` removes one, and the job stops only when no session
  waits on it any more. Callers without sessions (the command line, scripts, tests) wait as one anonymous
  session, so for them `request` then `cancel` stops the job as before.

A finished job carries what its model's sidecar records (metrics, history, where it came from) from the start,
but its model (`Job.bundle`) is built only when first asked for, and then held in the manager's `ModelMemory`
under a memory budget: a model that was let go is loaded again from its file on its next use. A model that could
not be saved (no copy on disk) is never let go. Importing this module imports no Keras: the app's landing page,
which shows only what sidecars record, is drawn before Keras is loaded.

Training replay: the models this manager trains keep their replay snapshots (`explorer.training.Snapshot`, saved
beside the model). A finished job lists the snapshots its sidecar records (`Job.snapshots`, no Keras needed) and
gives the bundle of one (`Job.snapshot_bundle(epoch)`), loaded on first use and held in the same `ModelMemory`,
under the same budget, as the job's own model. A snapshot that cannot be read is reported (None, and a warning in
the log) without failing the job: the final model is still sound.

Where a run trains is the manager's backend (`TrainingBackend`): the manager keeps the jobs, their sessions, the
budget, the lookup and the models in memory, and hands each queued run to `backend.run(...)` in one of its worker
threads. `LocalBackend` (the default) trains in this process and gives the model back for the manager to save;
`explorer.raybackend.RayBackend` trains on a Ray cluster, where one named actor per config key runs the job for
every replica that asks, and saves the model into the shared cache folder, from which the manager loads it
(`Stored`). `backend_from_env()` picks one from `SEQ2SEQ_JOBS` (`local` or `ray`) and falls back to local, with a
notice, when the setting is unknown or the cluster cannot be reached.

This module knows nothing about Streamlit; the app keeps one manager in `st.cache_resource`, which calls
`shutdown()` when it releases it.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from explorer.budget import over_budget
from explorer.cache import ModelStore
from explorer.config import RunConfig
from explorer.memory import ModelMemory
from explorer.storage import (
    CorruptModelError,
    epoch_label,
    load_snapshot,
    paths_for,
    read_sidecar,
    snapshot_entries,
)
from explorer.trainers import BackendError, LocalBackend, Stored, TrainingBackend, sidecar_metadata

if TYPE_CHECKING:
    from explorer.networks import ModelBundle
    from explorer.training import Progress, TrainResult


log = logging.getLogger(__name__)

BACKEND_ENV = "SEQ2SEQ_JOBS"  # where training runs: "local" (this process, the default) or "ray"
BACKENDS = ("local", "ray")
LOADING, QUEUED, RUNNING, DONE, FAILED, CANCELLED = "loading", "queued", "running", "done", "failed", "cancelled"
LIVE_STATES = (LOADING, QUEUED, RUNNING, DONE)
LOOKUP_WAIT_S = 120.0  # a lookup (a sidecar read, the weights hashed) taking longer is reported as still loading
# The session a request without one waits as: the command line, scripts and tests.
ANONYMOUS = "anonymous"
# How many finished jobs a manager remembers (each is its config, sidecar and history: a few kB; their models are
# under the memory budget apart from this). Beyond it the least recently asked for are forgotten and looked up
# again on their next request.
KEEP_JOBS = 1024
_JOB_IDS = itertools.count(1)


def backend_from_env(environ: dict[str, str] | None = None) -> tuple[TrainingBackend, str | None]:
    """The backend `SEQ2SEQ_JOBS` names, and a notice when it had to fall back to local training: an unknown
    name, Ray not installed, or a cluster that cannot be reached. The notice is also logged, once, here."""
    environ = os.environ if environ is None else environ
    wanted = environ.get(BACKEND_ENV, "local").strip().lower() or "local"
    notice = None
    if wanted == "ray":
        try:
            from explorer.raybackend import RayBackend

            return RayBackend.from_env(environ), None
        except BackendError as error:
            notice = f"{BACKEND_ENV}=ray, but {error}: training runs in this server process instead."
    elif wanted != "local":
        notice = (
            f"{BACKEND_ENV}={environ.get(BACKEND_ENV)!r} is not a training backend (use one of "
            f"{', '.join(BACKENDS)}): training runs in this server process instead."
        )
    if notice:
        log.warning(notice)
    return LocalBackend(), notice


@dataclass
class Job:
    config: RunConfig
    key: str
    state: str = LOADING
    source: str = ""  # "pretrained", "cache" or "trained"
    progress: Progress | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""  # why it failed, was cancelled, diverged, or could not be saved
    note: str = ""  # what a running job waits for, in words, as its backend says (a free Ray worker)
    save_error: str | None = None
    sidecar: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    last_used: float = field(default_factory=time.monotonic)  # when it was last asked for (which to forget first)
    uid: int = field(default_factory=lambda: next(_JOB_IDS))  # its model's name in the manager's memory
    # Set by the manager as the job finishes: returns its model, from memory or loaded again (see `bundle`), and
    # one of its replay snapshots by epoch label (see `snapshot_bundle`).
    _fetch: Callable[[], ModelBundle | None] | None = field(default=None, repr=False)
    _fetch_snapshot: Callable[[str], ModelBundle | None] | None = field(default=None, repr=False)
    cancel_requested: bool = False
    refused: bool = False  # over the training budget: never queued
    # The sessions waiting on this training run; it is cancelled when the last one withdraws. Guarded by the
    # manager's lock: read it through `JobManager.waiting`.
    waiters: set[str] = field(default_factory=set, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _looked_up: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished_ok(self) -> bool:
        return self.state == DONE

    @property
    def bundle(self) -> ModelBundle | None:
        """The finished model: built from its file on first use, and again if the memory budget let it go since.
        None until the job is done, and if its file can no longer be read (the job then fails with the reason,
        and the next request looks the model up, or trains it, again)."""
        if self.state != DONE or self._fetch is None:
            return None
        return self._fetch()

    @property
    def snapshots(self) -> list[dict[str, Any]]:
        """The replay snapshots of the finished model, earliest first, as its sidecar lists them: each with its
        `epoch`, `label` ("2"), `step` and the accuracies recorded then. Empty until done, and for a model kept
        without them (most shipped models)."""
        return snapshot_entries(self.sidecar) if self.state == DONE else []

    def snapshot_bundle(self, epoch: float | str) -> ModelBundle | None:
        """The model's weights at replay `epoch` (a number or its label), built on first use and held under the
        memory budget like the model itself; None when the job is not done, lists no such snapshot, or its file
        cannot be read (the reason goes to the log; the job stays done)."""
        if self.state != DONE or self._fetch_snapshot is None:
            return None
        label = epoch if isinstance(epoch, str) else epoch_label(epoch)
        if label not in {entry["label"] for entry in self.snapshots}:
            return None
        return self._fetch_snapshot(label)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done, failed or cancelled. Returns False on timeout."""
        return self._done.wait(timeout)

    @property
    def metrics(self) -> dict[str, Any]:
        return self.sidecar.get("metrics", {})


class JobManager:
    def __init__(
        self,
        store: ModelStore | None = None,
        max_running: int | None = None,
        trainer: Callable[..., TrainResult] | None = None,
        keep_jobs: int = KEEP_JOBS,
        budget_s: float | None = None,
        models: ModelMemory | None = None,
        backend: TrainingBackend | None = None,
        notice: str | None = None,
    ) -> None:
        self.store = store or ModelStore()
        self.backend = backend or (LocalBackend(trainer) if trainer else LocalBackend())
        self.backend.attach(self.store)
        self.notice = notice  # why the backend asked for could not be used, for the app to show; None if it was
        self.max_running = max_running or self.backend.slots
        self.keep_jobs = keep_jobs
        self.budget_s = budget_s  # estimated seconds a run may take; None trains anything
        self.models = models or ModelMemory()  # the finished jobs' loaded models, under the memory budget
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._shut_down = False
        self._workers = [
            threading.Thread(target=self._work, name=f"trainer-{i}", daemon=True) for i in range(self.max_running)
        ]
        for worker in self._workers:
            worker.start()

    @property
    def trainer(self) -> Callable[..., TrainResult] | None:
        """The function the local backend trains with (None for a backend that trains elsewhere); setting it
        swaps the local backend's, as the tests do to hold runs."""
        return getattr(self.backend, "trainer", None)

    @trainer.setter
    def trainer(self, trainer: Callable[..., TrainResult]) -> None:
        if not isinstance(self.backend, LocalBackend):
            raise TypeError(f"the {self.backend.name} backend does not train in this process")
        self.backend.trainer = trainer

    # -- asking -------------------------------------------------------------------------------------------------
    def request(self, config: RunConfig, train_if_missing: bool = True, session: str | None = None) -> Job:
        """The live job for `config`, made on first request. Looks the model up before training it.

        With `train_if_missing`, `session` (None: the anonymous caller) joins the sessions waiting on the
        training run, and a run that one session withdrew from and no other waits on is kept going for it if it
        has not stopped yet. A run over the budget is refused: the job fails at once with the reason.
        """
        key = config.key()
        waiter = session or ANONYMOUS
        with self._lock:
            existing = self._jobs.get(key)
            if existing is None or existing.state not in LIVE_STATES:
                existing = None
                job = self._jobs[key] = Job(config=config, key=key)
            else:
                existing.last_used = time.monotonic()
            if train_if_missing:
                (existing or job).waiters.add(waiter)
                if existing is not None and existing.state == RUNNING and not self._shut_down:
                    existing.cancel_requested = False  # withdrawn by its last waiter, wanted again before it stopped
        if existing is not None:
            return self._after_lookup(existing)
        # Only the thread that created the job looks on disk; everyone else holds the same Job and waits.
        try:
            found = self.store.lookup(config)
        except Exception as error:  # a broken store must not stop a model from being trained
            log.warning("model lookup failed for %s: %s", key, error)
            found = None
        except BaseException:  # interrupted: leave no job "loading" for ever
            with self._lock:
                job.reason = "the model lookup was interrupted"
                self._finish(job, FAILED)
            raise
        with self._lock:
            if found is not None:
                job.sidecar, job.source = found.sidecar, found.source
                job.history = list(found.sidecar.get("history", []))
                job._fetch = self._fetcher(job, found.load)
                job._fetch_snapshot = self._snapshot_fetcher(job, found.load_snapshot)
                self._finish(job, DONE)
            elif train_if_missing and self._shut_down:
                job.reason = "the job manager was shut down; reload the page to train"
                self._finish(job, CANCELLED)
            elif train_if_missing and (refusal := self.refusal(config)):
                job.reason, job.refused = refusal, True
                self._finish(job, FAILED)
            elif train_if_missing:
                job.state = QUEUED
                self._queue.append(job)
                self._wakeup.notify()
            else:
                job.reason = "not trained yet"
                self._finish(job, CANCELLED)
            job._looked_up.set()
        return job

    def get(self, config: RunConfig) -> Job | None:
        with self._lock:
            job = self._jobs.get(config.key())
            if job is not None:
                job.last_used = time.monotonic()
        return None if job is None else self._after_lookup(job)

    @staticmethod
    def _after_lookup(job: Job) -> Job:
        """Wait (outside the lock) while another thread reads the job's model from disk: for a second or two,
        a job is "loading", and a page must not tell one of thirty users that a shipped model is missing."""
        job._looked_up.wait(LOOKUP_WAIT_S)
        return job

    def position(self, job: Job) -> int:
        """1-based place in the queue; 0 when not queued."""
        with self._lock:
            try:
                return self._queue.index(job) + 1
            except ValueError:
                return 0

    def refusal(self, config: RunConfig) -> str | None:
        """Why training `config` would be refused under this manager's budget, in words; None if it would not."""
        return over_budget(config, self.budget_s)

    def waiting(self, job: Job) -> frozenset[str]:
        """The sessions waiting on `job`'s training run (empty once it has ended)."""
        with self._lock:
            return frozenset(job.waiters) if job.state in (QUEUED, RUNNING) else frozenset()

    def cancel(self, config: RunConfig, session: str | None = None) -> bool:
        """Withdraw `session` (None: the anonymous caller) from `config`'s training run; stop the run when no
        session waits on it any more. True when the session was waiting on a queued or running job."""
        with self._lock:
            job = self._jobs.get(config.key())
            if job is None or job.state not in (QUEUED, RUNNING) or (session or ANONYMOUS) not in job.waiters:
                return False
            job.waiters.discard(session or ANONYMOUS)
            if job.waiters:
                return True  # others still wait on it: it trains on for them
            if job.state == QUEUED:
                self._queue.remove(job)
                job.reason = "cancelled while waiting in the queue"
                self._finish(job, CANCELLED)
            else:
                job.cancel_requested = True
            return True

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Retire this manager: no new training, queued jobs cancelled, running ones asked to stop, workers exit.

        Models already loaded stay readable, and a lookup still finds stored models. Safe to call more than
        once. Waits up to `wait_s` seconds in all for the worker threads to exit (a running epoch finishes first).
        """
        with self._lock:
            self._shut_down = True
            while self._queue:
                job = self._queue.popleft()
                job.reason = "cancelled: the job manager was shut down"
                self._finish(job, CANCELLED)
            for job in self._jobs.values():
                if job.state == RUNNING:
                    job.cancel_requested = True
            self._wakeup.notify_all()
        deadline = time.monotonic() + wait_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.backend.close()

    @property
    def is_shut_down(self) -> bool:
        """True once `shutdown()` was called and every worker thread has exited."""
        return self._shut_down and not any(worker.is_alive() for worker in self._workers)

    def snapshot(self) -> list[dict[str, Any]]:
        """A summary of every job, for a status panel."""
        with self._lock:
            queue = list(self._queue)
            return [
                {
                    "key": job.key,
                    "task": job.config.task.name,
                    "arch": job.config.model.arch,
                    "state": job.state,
                    "source": job.source,
                    "position": queue.index(job) + 1 if job in queue else 0,
                    "waiting": len(job.waiters) if job.state in (QUEUED, RUNNING) else 0,
                    "reason": job.reason,
                }
                for job in self._jobs.values()
            ]

    # -- working ------------------------------------------------------------------------------------------------
    def _finish(self, job: Job, state: str) -> None:
        """Caller holds the lock."""
        job.state = state
        job.finished = time.time()
        job._done.set()
        job._looked_up.set()
        self._evict()

    def _evict(self) -> None:
        """Forget the least recently asked for finished jobs beyond `keep_jobs`, and let their models go. Caller
        holds the lock."""
        finished = [job for job in self._jobs.values() if job.state == DONE]
        if len(finished) <= self.keep_jobs:
            return
        for job in sorted(finished, key=lambda j: j.last_used)[: len(finished) - self.keep_jobs]:
            del self._jobs[job.key]
            self.models.discard(job.uid)
            for entry in job.snapshots:
                self.models.discard((job.uid, entry["label"]))

    def _fetcher(self, job: Job, load: Callable[[], ModelBundle]) -> Callable[[], ModelBundle | None]:
        """What `job.bundle` calls: the model from memory, or `load()`ed into it; None, with the job failed and
        the reason on it, when the file it comes from can no longer be read."""

        def fetch() -> ModelBundle | None:
            try:
                return self.models.fetch(job.uid, load)
            except (CorruptModelError, OSError) as error:
                self._lost(job, error)
                return None

        return fetch

    def _snapshot_fetcher(self, job: Job, load: Callable[[str], ModelBundle]) -> Callable[[str], ModelBundle | None]:
        """What `job.snapshot_bundle` calls: the snapshot from memory (named by the job's uid and the epoch label,
        like the model by its uid, so a model retrained under the same key never gets the old one's), or `load`ed
        into it; None when its file cannot be read."""

        def fetch(label: str) -> ModelBundle | None:
            try:
                return self.models.fetch((job.uid, label), lambda: load(label))
            except (CorruptModelError, OSError) as error:
                log.warning("the replay snapshot at epoch %s of %s could not be read: %s", label, job.key, error)
                return None

        return fetch

    def _lost(self, job: Job, error: Exception) -> None:
        log.warning("the stored model of %s could not be read again: %s", job.key, error)
        if job.source == "cache" and isinstance(error, CorruptModelError):
            self.store.discard(job.key)  # rebuilt on the next request, as a lookup would have done
        with self._lock:
            if job.state == DONE:
                job.reason = f"its stored model could not be read again ({error}); ask for it again"
                self._finish(job, FAILED)

    def _reload_trained(self, config: RunConfig) -> ModelBundle:
        """A model this manager trained and saved, loaded again from the store after the budget let it go."""
        found = self.store.lookup(config)
        if found is None:
            raise FileNotFoundError(f"the saved model {config.key()} is gone")
        return found.load()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._shut_down:
                    self._wakeup.wait()
                if self._shut_down:
                    return
                job = self._queue.popleft()
                job.state = RUNNING
            self._run(job)

    def _run(self, job: Job) -> None:
        def on_progress(report: Progress) -> None:
            job.progress = report
            if report.sequence_accuracy is not None and report.epoch > len(job.history):
                job.history.append(
                    {
                        "epoch": report.epoch,
                        "loss": report.loss,
                        "sequence_accuracy": report.sequence_accuracy,
                        "token_accuracy": report.token_accuracy,
                        "seconds": report.elapsed,
                    }
                )

        def on_note(text: str) -> None:
            job.note = text

        try:
            result = self.backend.run(job.config, on_progress, lambda: job.cancel_requested, on_note)
        except BackendError as error:
            self._fail(job, str(error))
            return
        except MemoryError:
            self._fail(job, "out of memory: try fewer units, a smaller batch or shorter sequences")
            return
        except ValueError as error:
            self._fail(job, f"bad configuration: {error}")
            return
        except Exception as error:  # the job must end with a reason, whatever broke
            name = type(error).__name__
            if "ResourceExhausted" in name or "out of memory" in str(error).lower():
                self._fail(job, "out of memory: try fewer units, a smaller batch or shorter sequences")
            else:
                log.exception("training job %s failed", job.key)
                self._fail(job, f"training failed: {name}: {str(error)[:300]}")
            return
        finally:
            job.note = ""
        if isinstance(result, Stored):
            self._publish_stored(job, result)
            return

        metadata = sidecar_metadata(result, LocalBackend.trained_by())
        if result.status == "cancelled":
            with self._lock:
                job.reason = result.reason
                job.history = result.history
                self._finish(job, CANCELLED)
            return
        if result.status == "diverged":
            with self._lock:
                job.reason = result.reason
                job.history = result.history
                job.sidecar = metadata
                self._finish(job, FAILED)
            return
        save_error = self.store.save(result.bundle, metadata, getattr(result, "snapshots", None))
        # A model with no copy on disk cannot be loaded again: the memory holds it for good.
        self.models.keep(job.uid, result.bundle, pinned=save_error is not None)
        # The snapshots as the saved sidecar lists them (files and digests); a model that could not be saved has
        # none to offer, since they would have no file to be loaded from.
        snapshots = self._saved_snapshots(job.key) if save_error is None else []
        sidecar = {**metadata, "key": job.key, "config": job.config.to_dict(), "snapshots": snapshots}
        with self._lock:
            job.history = result.history
            job.sidecar = sidecar
            job.save_error = save_error
            job.source = "trained"
            job._fetch = self._fetcher(job, lambda: self._reload_trained(job.config))
            job._fetch_snapshot = self._snapshot_fetcher(
                job, lambda label: load_snapshot(self.store.cache_dir, job.key, sidecar, label)
            )
            self._finish(job, DONE)  # published last: readers see either no model or the finished one

    def _publish_stored(self, job: Job, result: Stored) -> None:
        """A run the backend saved into the store itself: its model is loaded from there like any stored one."""
        if result.status != "done":
            with self._lock:
                job.reason = result.reason or f"training {result.status}"
                job.history = result.history
                self._finish(job, CANCELLED if result.status == "cancelled" else FAILED)
            return
        try:
            found = self.store.lookup(job.config)
        except Exception as error:  # reported as the job's reason
            found, why = None, f"{type(error).__name__}: {error}"
        else:
            why = "no such file"
        if found is None:
            self._fail(
                job,
                f"it was trained, but its model is not in this server's cache folder {self.store.cache_dir} "
                f"({why}): the servers and the training workers must share that folder",
            )
            return
        with self._lock:
            job.sidecar, job.source = found.sidecar, "trained"
            job.history = list(found.sidecar.get("history", result.history))
            job._fetch = self._fetcher(job, found.load)
            job._fetch_snapshot = self._snapshot_fetcher(job, found.load_snapshot)
            self._finish(job, DONE)

    def _saved_snapshots(self, key: str) -> list[dict[str, Any]]:
        """The snapshot list of the sidecar just saved into the cache folder (empty when it cannot be read)."""
        try:
            return list(read_sidecar(paths_for(self.store.cache_dir, key)[1]).get("snapshots") or [])
        except CorruptModelError as error:
            log.warning("could not read back the sidecar of %s: %s", key, error)
            return []

    def _fail(self, job: Job, reason: str) -> None:
        with self._lock:
            job.reason = reason
            self._finish(job, FAILED)
