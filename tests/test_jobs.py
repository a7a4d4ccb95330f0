"""The job manager and the model store under concurrency, corruption and faults."""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config

from explorer.cache import PRETRAINED_DIR, ModelStore
from explorer.decoding import greedy_decode
from explorer.jobs import (
    BACKEND_ENV,
    CANCELLED,
    DONE,
    FAILED,
    BackendError,
    JobManager,
    LocalBackend,
    Stored,
    backend_from_env,
)
from explorer.presets import pretrain_configs
from explorer.storage import CorruptModelError, load_bundle, paths_for, save_bundle
from explorer.training import Progress, train

ROOT = Path(__file__).resolve().parents[1]


class CountingTrainer:
    """The real trainer, counting calls; `gate` lets a test hold jobs inside training."""

    def __init__(self, gate: threading.Event | None = None):
        self.calls: list[str] = []
        self.running = 0
        self.max_running = 0
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, config, progress=None, should_stop=None):
        with self.lock:
            self.calls.append(config.key())
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                while not self.gate.wait(0.01):
                    if should_stop and should_stop():
                        break
            return train(config, progress=progress, should_stop=should_stop)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def store(tmp_path):
    return ModelStore(pretrained_dir=tmp_path / "pretrained", cache_dir=tmp_path / "cache")


def test_thirty_users_asking_at_once_share_one_training_run(store):
    trainer = CountingTrainer()
    manager = JobManager(store, max_running=2, trainer=trainer)
    config = tiny_config("reverse", "teacher-forcing", epochs=1)
    jobs, barrier = [], threading.Barrier(30)

    def ask():
        barrier.wait()
        job = manager.request(config)
        job.wait(120)
        jobs.append(job)

    threads = [threading.Thread(target=ask) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    assert len(jobs) == 30 and len({id(j) for j in jobs}) == 1
    assert trainer.calls == [config.key()]
    assert all(job.state == DONE and job.bundle is not None for job in jobs)
    # The trained model was saved: a fresh manager loads it instead of training again.
    again = JobManager(store, trainer=trainer).request(config)
    assert again.wait(30) and again.source == "cache" and len(trainer.calls) == 1


@pytest.mark.slow
def test_ten_configs_with_a_bound_of_one_run_one_at_a_time_in_fifo_order(store):
    gate = threading.Event()
    trainer = CountingTrainer(gate)
    manager = JobManager(store, max_running=1, trainer=trainer)
    configs = [
        tiny_config("reverse", "teacher-forcing", epochs=1, samples_per_epoch=128, units=4 + i) for i in range(10)
    ]
    jobs = [manager.request(config) for config in configs]
    deadline = time.time() + 10
    while jobs[0].state != "running" and time.time() < deadline:
        time.sleep(0.01)
    assert jobs[0].state == "running"
    assert [manager.position(job) for job in jobs] == [0, *range(1, 10)]
    gate.set()
    for job in jobs:
        assert job.wait(120)
    assert all(job.state == DONE for job in jobs)
    assert trainer.max_running == 1
    assert trainer.calls == [config.key() for config in configs]


def test_cancel_a_queued_and_a_running_job_then_retry(store):
    gate = threading.Event()
    trainer = CountingTrainer(gate)
    manager = JobManager(store, max_running=1, trainer=trainer)
    first = tiny_config("reverse", "teacher-forcing", epochs=3)
    second = tiny_config("reverse", "teacher-forcing", epochs=3, units=5)
    running, queued = manager.request(first), manager.request(second)
    while running.state != "running":
        time.sleep(0.01)
    assert manager.cancel(second) and queued.state == CANCELLED and manager.position(queued) == 0
    assert manager.cancel(first)
    gate.set()
    assert running.wait(60) and running.state == CANCELLED and "cancel" in running.reason
    retry = manager.request(first)
    assert retry is not running and retry.wait(120) and retry.state == DONE


def test_shutdown_cancels_queued_and_running_jobs_and_its_workers_exit(store):
    """What Streamlit's cache release calls: nothing trains on in a manager that nobody can reach any more."""
    gate = threading.Event()
    trainer = CountingTrainer(gate)
    manager = JobManager(store, max_running=2, trainer=trainer)
    configs = [tiny_config("reverse", "teacher-forcing", epochs=3, units=units) for units in (5, 6, 7)]
    first, second, queued = (manager.request(config) for config in configs)
    while not (first.state == second.state == "running"):
        time.sleep(0.01)
    assert queued.state == "queued"

    manager.shutdown(wait_s=60)

    assert manager.is_shut_down  # both worker threads have exited
    assert queued.state == CANCELLED and "shut down" in queued.reason and manager.position(queued) == 0
    assert first.wait(0) and second.wait(0) and {first.state, second.state} == {CANCELLED}
    assert len(trainer.calls) == 2  # the queued job never started
    late = manager.request(tiny_config("reverse", "teacher-forcing", epochs=1, units=9))
    assert late.state == CANCELLED and "shut down" in late.reason
    assert len(trainer.calls) == 2
    manager.shutdown()  # a second call is harmless


@pytest.mark.slow
def test_a_failed_job_keeps_its_reason_and_can_be_retried(store):
    attempts = []

    def flaky(config, progress=None, should_stop=None):
        attempts.append(1)
        if len(attempts) == 1:
            raise MemoryError
        return train(config, progress=progress, should_stop=should_stop)

    manager = JobManager(store, trainer=flaky)
    config = tiny_config("reverse", "teacher-forcing", epochs=1)
    job = manager.request(config)
    assert job.wait(60) and job.state == FAILED and "out of memory" in job.reason
    assert manager.request(config) is not job
    assert manager.get(config).wait(60) and manager.get(config).state == DONE


def test_progress_is_reported_while_training(store):
    manager = JobManager(store)
    job = manager.request(tiny_config("reverse", "teacher-forcing", epochs=2, samples_per_epoch=1280))
    assert job.wait(60) and job.state == DONE
    assert [h["epoch"] for h in job.history] == [1, 2]
    assert job.progress is not None and job.progress.fraction == 1.0


def test_an_unwritable_cache_still_serves_the_model_and_says_so(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    manager = JobManager(ModelStore(tmp_path / "none", blocked))
    job = manager.request(tiny_config("reverse", "teacher-forcing", epochs=1))
    assert job.wait(60) and job.state == DONE and job.bundle is not None
    assert job.save_error and "could not save" in job.save_error


@pytest.mark.parametrize("stage", ["model file", "sidecar"])
def test_a_full_disk_still_serves_the_model_says_so_and_leaves_nothing_behind(tmp_path, monkeypatch, stage):
    """ENOSPC part-way through the model file, or after it while writing the sidecar."""
    import errno

    import keras

    from explorer import storage

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if stage == "model file":
        real_save = keras.Model.save

        def half_written(model, path, *args, **kwargs):
            real_save(model, path, *args, **kwargs)
            Path(path).write_bytes(Path(path).read_bytes()[:100])  # what fitted on the disk
            no_space()

        monkeypatch.setattr(keras.Model, "save", half_written)
    else:
        monkeypatch.setattr(storage, "atomic_write_bytes", no_space)
    store = ModelStore(tmp_path / "none", tmp_path / "cache")
    config = tiny_config("reverse", "teacher-forcing", epochs=1)
    job = JobManager(store).request(config)
    assert job.wait(60) and job.state == DONE and job.bundle is not None
    assert "No space left on device" in job.save_error
    source = np.arange(1, config.task.input_length + 1)[None] % config.task.cardinality + 1
    assert greedy_decode(job.bundle, source).tokens.shape == (1, config.task.output_length)  # usable in memory
    assert list((tmp_path / "cache").iterdir()) == []  # no temporary, no model without its sidecar
    assert store.lookup(config) is None
    monkeypatch.undo()  # space again: the next request trains and saves
    again = JobManager(store).request(config)
    assert again.wait(60) and again.state == DONE and again.save_error is None
    assert store.lookup(config) is not None


def _saved(store, **overrides):
    config = tiny_config("reverse", "teacher-forcing", epochs=1, **overrides)
    result = train(config)
    save_bundle(result.bundle, store.cache_dir, {"metrics": result.metrics})
    return config


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "sidecar-garbage", "format", "wrong-key"])
def test_corrupt_cache_files_are_skipped_and_rebuilt(store, damage):
    config = _saved(store)
    weights, sidecar = paths_for(store.cache_dir, config.key())
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "garbage":
        weights.write_bytes(os.urandom(5000))
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "sidecar-garbage":
        sidecar.write_text("{not json")
    else:
        data = json.loads(sidecar.read_text())
        if damage == "format":
            data["format"] = 999
        else:
            data["config"]["model"]["units"] = 9  # the config no longer hashes to the file's key
        sidecar.write_text(json.dumps(data))
    with pytest.raises(CorruptModelError):
        load_bundle(store.cache_dir, config.key())
    assert store.lookup(config) is None
    assert not weights.exists()  # discarded, so it will be rebuilt
    trainer = CountingTrainer()
    job = JobManager(store, trainer=trainer).request(config)
    assert job.wait(60) and job.state == DONE and job.source == "trained" and len(trainer.calls) == 1
    assert load_bundle(store.cache_dir, config.key())[0] is not None


def test_pretrained_is_preferred_over_cache(store):
    config = _saved(store)
    result = train(config)
    save_bundle(result.bundle, store.pretrained_dir, {"metrics": result.metrics})
    found = store.lookup(config)
    assert found.source == "pretrained"


# Run with tests/ as the working directory, which `python -c` puts on sys.path: that is where `conftest` lives;
# `explorer` is the installed package.
WRITER = """
from conftest import tiny_config
from explorer import architectures
from explorer.storage import save_bundle
bundle = architectures.build(tiny_config("reverse", "teacher-forcing", units=256, layers=2))
print("ready", flush=True)
while True:
    save_bundle(bundle, {directory!r}, {{"metrics": {{}}}})
"""


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_nothing_a_reader_accepts(tmp_path):
    """Kill a process that keeps saving at many moments; every time, the reader gets a valid model or nothing."""
    directory = tmp_path / "models"
    script = WRITER.format(directory=str(directory))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    key = tiny_config("reverse", "teacher-forcing", units=256, layers=2).key()
    accepted = rejected = 0
    for delay in np.linspace(0.0, 0.6, 6):
        for path in directory.glob("*"):
            path.unlink()
        writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=ROOT / "tests")
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        try:
            load_bundle(directory, key)
            accepted += 1
        except FileNotFoundError:
            rejected += 1
        # CorruptModelError is not caught: atomic renames must never leave a pair that fails verification.
    assert accepted + rejected == 6


def test_a_pretrained_file_deleted_at_runtime_is_retrained_without_a_crash(tmp_path):
    import shutil

    from explorer.cache import PRETRAINED_DIR
    from explorer.presets import default_config

    config = default_config("reverse", "teacher-forcing")
    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    for path in paths_for(PRETRAINED_DIR, config.key()):
        shutil.copy(path, shipped / path.name)
    store = ModelStore(shipped, tmp_path / "cache")
    first = JobManager(store).request(config)
    assert first.wait(30) and first.source == "pretrained"
    for path in paths_for(shipped, config.key()):
        path.unlink()
    fast = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
    trainer = CountingTrainer()
    again = JobManager(store, trainer=lambda c, **kw: trainer(fast, **kw)).request(config)
    assert again.wait(120) and again.state == DONE and again.source == "trained" and len(trainer.calls) == 1


def test_users_arriving_while_a_model_loads_get_it_loaded_not_missing(tmp_path):
    """Thirty sessions open a shipped model at once: the ones that come while the first reads it from disk wait
    for that read; none is told the model is missing, and it is read once."""
    store = ModelStore(tmp_path / "none", tmp_path / "cache")
    config = _saved(store)
    reads = []
    real_lookup = store.lookup

    def slow_lookup(asked):
        reads.append(asked.key())
        time.sleep(0.5)
        return real_lookup(asked)

    store.lookup = slow_lookup
    manager = JobManager(store)
    seen: list[str] = []

    def user(index):
        job = manager.get(config) if index % 2 else None
        job = job or manager.request(config, train_if_missing=False)
        seen.append(job.state)

    first = threading.Thread(target=user, args=(0,))
    first.start()
    time.sleep(0.1)  # the first user is reading the model now
    others = [threading.Thread(target=user, args=(i,)) for i in range(1, 30)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(60)
    assert seen == [DONE] * 30
    assert reads == [config.key()]


# -- one user cannot undo another's request, nor stall the class -------------------------------------------------


def _running(job, timeout_s: float = 30.0) -> None:
    """Wait until the worker has picked `job` up (a gated trainer then holds it there)."""
    deadline = time.monotonic() + timeout_s
    while job.state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.state == "running"


def test_one_of_two_sessions_cancels_and_the_job_trains_on_for_the_other(store):
    gate = threading.Event()
    trainer = CountingTrainer(gate)
    manager = JobManager(store, trainer=trainer)
    config = tiny_config("reverse", "teacher-forcing", epochs=1)
    job = manager.request(config, session="alice")
    assert manager.request(config, session="bob") is job
    _running(job)
    assert manager.waiting(job) == {"alice", "bob"}

    assert manager.cancel(config, session="alice")
    assert manager.waiting(job) == {"bob"} and job.state == "running" and not job.cancel_requested
    assert not manager.cancel(config, session="mallory")  # never asked: cannot withdraw anyone
    assert not manager.cancel(config, session="alice")  # already withdrawn
    gate.set()
    assert job.wait(120) and job.state == DONE and job.bundle is not None
    assert trainer.calls == [config.key()]


def test_when_every_waiting_session_cancels_the_job_stops(store):
    gate = threading.Event()
    trainer = CountingTrainer(gate)
    manager = JobManager(store, max_running=1, trainer=trainer)
    running_config = tiny_config("reverse", "teacher-forcing", epochs=3)
    queued_config = tiny_config("reverse", "teacher-forcing", epochs=3, units=5)
    running = manager.request(running_config, session="alice")
    manager.request(running_config, session="bob")
    queued = manager.request(queued_config, session="alice")
    manager.request(queued_config, session="bob")
    _running(running)

    assert manager.cancel(queued_config, session="bob") and queued.state == "queued" and manager.position(queued) == 1
    assert manager.cancel(queued_config, session="alice")
    assert queued.state == CANCELLED and manager.position(queued) == 0  # out of the queue at once
    assert manager.cancel(running_config, session="alice") and not running.cancel_requested
    assert manager.cancel(running_config, session="bob") and running.cancel_requested
    gate.set()
    assert running.wait(60) and running.state == CANCELLED and "cancel" in running.reason
    assert trainer.calls == [running_config.key()]  # the queued job never trained


def test_a_request_without_a_session_is_its_own_waiter(store):
    """The command line and scripts pass no session: their cancel stops their job, and a session's request
    beside theirs keeps it going."""
    gate = threading.Event()
    manager = JobManager(store, trainer=CountingTrainer(gate))
    config = tiny_config("reverse", "teacher-forcing", epochs=3)
    job = manager.request(config)
    manager.request(config, session="alice")
    _running(job)
    assert manager.cancel(config) and job.state == "running" and manager.waiting(job) == {"alice"}
    assert manager.cancel(config, session="alice") and job.cancel_requested
    gate.set()
    assert job.wait(60) and job.state == CANCELLED


def test_a_run_over_the_training_budget_is_refused_before_it_queues_with_the_limit_and_the_estimate(store):
    from explorer.budget import BUDGET_ENV, estimate_seconds
    from explorer.presets import default_config

    trainer = CountingTrainer()
    manager = JobManager(store, trainer=trainer, budget_s=600)
    huge = default_config("reverse", "teacher-forcing", input_length=60, units=256, epochs=200)  # the link
    job = manager.request(huge, session="alice")

    assert job.wait(0) and job.state == FAILED and job.refused
    assert f"{estimate_seconds(huge):,.0f} s" in job.reason and "600 s" in job.reason and BUDGET_ENV in job.reason
    assert manager.refusal(huge) == job.reason
    assert manager.position(job) == 0 and [row["state"] for row in manager.snapshot()] == [FAILED]
    assert trainer.calls == []
    small = tiny_config("reverse", "teacher-forcing", epochs=1)
    assert manager.refusal(small) is None
    assert manager.request(small).wait(120) and trainer.calls == [small.key()]


def test_the_budget_refuses_training_never_a_stored_model(store):
    config = _saved(store)
    manager = JobManager(store, trainer=CountingTrainer(), budget_s=0.001)
    assert manager.refusal(config) is not None
    job = manager.request(config, session="alice")
    assert job.state == DONE and job.source == "cache"


# -- the backend seam ------------------------------------------------------------------------------------------


def test_the_default_backend_trains_in_this_process_with_the_given_trainer(store):
    trainer = CountingTrainer()
    manager = JobManager(store, trainer=trainer)
    assert isinstance(manager.backend, LocalBackend) and manager.backend.trainer is trainer
    assert manager.notice is None
    job = manager.request(tiny_config("reverse", "teacher-forcing", epochs=1))
    assert job.wait(120) and job.state == DONE
    assert trainer.calls == [job.key]
    assert job.sidecar["trained_by"]["jobs"] == "local"


def _shipped_config():
    """A configuration shipped in pretrained/ (its files are what the fake backends below 'train')."""
    return next(config for config in pretrain_configs() if PRETRAINED_DIR.joinpath(f"{config.key()}.json").exists())


class StoringBackend:
    """A backend that saves the model into the manager's store itself, as a Ray worker does, by copying a shipped
    model's files there; or ends the way it is told to."""

    name = "storing"
    slots = 1

    def __init__(self, outcome: Stored | Exception, copy: bool = True):
        self.outcome, self.copy = outcome, copy
        self.store: ModelStore | None = None
        self.notes: list[str] = []

    def attach(self, store):
        self.store = store

    def run(self, config, progress, should_stop, note):
        note("waiting for a free worker")
        self.notes.append("asked")
        progress(Progress(epoch=1, epochs=1, step=5, steps=5, loss=0.5, token_accuracy=1.0, sequence_accuracy=1.0))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if self.copy:
            self.store.cache_dir.mkdir(parents=True, exist_ok=True)
            for path in paths_for(PRETRAINED_DIR, config.key()):
                shutil.copy(path, self.store.cache_dir / path.name)
        return self.outcome

    def describe(self):
        return "elsewhere"

    def close(self):
        pass


def test_a_model_the_backend_stored_itself_is_served_from_the_store(store):
    config = _shipped_config()
    backend = StoringBackend(Stored("done"))
    manager = JobManager(store, backend=backend)  # store has no pretrained models: the lookup misses
    job = manager.request(config)
    assert job.wait(60) and job.state == DONE, job.reason
    assert backend.store is store and backend.notes == ["asked"]
    assert job.source == "trained" and job.note == ""  # the note is cleared once the run ended
    assert job.history[0]["sequence_accuracy"] == 1.0  # as the stored sidecar records it
    assert job.bundle is not None and job.bundle.config.key() == config.key()


@pytest.mark.parametrize(
    ("outcome", "state", "reason"),
    [
        (Stored("cancelled", "withdrawn"), CANCELLED, "withdrawn"),
        (Stored("diverged", "the loss became NaN at step 3"), FAILED, "NaN"),
        (Stored("failed", "the worker died"), FAILED, "the worker died"),
        (BackendError("the Ray cluster stopped answering"), FAILED, "stopped answering"),
    ],
)
def test_a_backend_run_that_did_not_finish_ends_the_job_with_its_reason(store, outcome, state, reason):
    manager = JobManager(store, backend=StoringBackend(outcome, copy=False))
    job = manager.request(_shipped_config())
    assert job.wait(60) and job.state == state
    assert reason in job.reason
    assert job.bundle is None
    again = manager.request(_shipped_config())  # and a new request tries again
    assert again is not job


def test_a_stored_run_whose_model_is_not_in_this_servers_folder_fails_and_says_why(store):
    manager = JobManager(store, backend=StoringBackend(Stored("done"), copy=False))
    job = manager.request(_shipped_config())
    assert job.wait(60) and job.state == FAILED
    assert "share that folder" in job.reason and str(store.cache_dir) in job.reason


def test_an_unknown_backend_name_falls_back_to_local_training_with_one_notice(caplog):
    with caplog.at_level("WARNING", logger="explorer.jobs"):
        backend, notice = backend_from_env({BACKEND_ENV: "spark"})
    assert isinstance(backend, LocalBackend)
    assert "'spark'" in notice and "local, ray" in notice and "in this server process instead" in notice
    assert [record.getMessage() for record in caplog.records] == [notice]
    default, none = backend_from_env({})
    assert isinstance(default, LocalBackend) and none is None


def test_an_unreachable_ray_cluster_falls_back_to_local_training_quickly_with_a_notice():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    backend, notice = backend_from_env({BACKEND_ENV: "ray", "SEQ2SEQ_RAY_ADDRESS": f"127.0.0.1:{port}"})
    assert isinstance(backend, LocalBackend)
    assert notice.startswith("SEQ2SEQ_JOBS=ray, but ") and notice.endswith("in this server process instead.")
    try:
        import ray  # noqa: F401
    except ImportError:
        assert "Ray is not installed" in notice
    else:
        assert f"cannot be reached: nothing answers at 127.0.0.1:{port}" in notice
        assert time.monotonic() - started < 30  # one refused connect, not Ray's minute of retries
