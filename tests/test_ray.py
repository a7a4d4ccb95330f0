"""The Ray training backend on a real local cluster (`ray start --head --num-cpus=2`), with real app servers.

Marked `ray`: the default runs leave these out; `scripts/test-ray.sh` installs requirements-ray.txt and runs them
(`pytest -m ray`). What they prove:

- two `streamlit run` servers sharing one cache folder, asked for the same new configuration at the same moment
  through their websockets (a simulated tab pressing "Train this configuration" on each), make exactly one Ray
  training run; both pages then show the model, and no file of the model in the folder ever fails its checks;
- a Ray worker killed in the middle of training fails the job with the reason, leaves no file behind, and the next
  request trains it again (a new task of the same actor);
- cancel is per replica: the run goes on while another replica waits on it, and stops when none does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import load_script

from explorer.cache import PRETRAINED_DIR, ModelStore
from explorer.jobs import CANCELLED, DONE, FAILED, RUNNING, JobManager
from explorer.presets import default_config
from explorer.storage import CorruptModelError, paths_for, read_sidecar, verify_stored

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

from explorer.raybackend import ACTOR_PREFIX, NAMESPACE, RayBackend  # noqa: E402

RAY = Path(sys.executable).with_name("ray")
SERVE_TIMEOUT_S = 300.0  # two servers' first runs, one training, on two shared cores


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster of two CPUs and one GPU as Ray counts it (a resource this machine does not really
    have: a task given it sees CUDA_VISIBLE_DEVICES=0 and Keras trains on the CPU), in its own temp folder; this
    process joins it as a driver."""
    loadtest = load_script("loadtest")
    port = loadtest.free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_USAGE_STATS_ENABLED": "0"}
    command = [
        str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=1",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
    ]  # fmt: skip
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    if started.returncode:
        pytest.fail(f"ray start failed:\n{started.stdout}\n{started.stderr}")
    address = f"127.0.0.1:{port}"
    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    try:
        yield address
    finally:
        ray.shutdown()
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def _status(config) -> dict:
    return ray.get(ray.get_actor(ACTOR_PREFIX + config.key(), namespace=NAMESPACE).status.remote(), timeout=60)


class FolderAuditor(threading.Thread):
    """Checks a model's files in a folder every 20 ms while it runs: any state of the folder in which the model's
    sidecar and weights are both there but fail their checks (a half-written file a server could load) is kept."""

    def __init__(self, directory: Path, key: str) -> None:
        super().__init__(daemon=True)
        self.directory, self.key = directory, key
        self.bad: list[str] = []
        self.sound = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.02):
            try:
                verify_stored(self.directory, self.key)
                self.sound += 1
            except FileNotFoundError:
                pass
            except CorruptModelError as error:
                self.bad.append(str(error))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def test_two_app_servers_asking_at_once_share_one_ray_training(cluster, tmp_path):
    loadtest, loadclient = load_script("loadtest"), load_script("loadclient")
    config = loadtest.TRAIN_CONFIG  # small, and not shipped: with a fresh cache folder it must really train
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {"SEQ2SEQ_JOBS": "ray", "SEQ2SEQ_RAY_ADDRESS": cluster, "SEQ2SEQ_RAY_GPUS": "0"}  # 0: never ask for one
    auditor = FolderAuditor(cache, config.key())
    saves = loadtest.SaveWatcher(cache)
    figures: dict = {}

    async def press_train_on_both(urls: list[str]) -> list:
        tabs = [loadclient.Student(url, f"tab on server {i}", timeout_s=SERVE_TIMEOUT_S) for i, url in enumerate(urls)]
        try:
            await asyncio.gather(*(tab.open(loadtest.link(config, "train")) for tab in tabs))
            clicked = time.perf_counter()
            await asyncio.gather(*(tab.click(loadtest.TRAIN_LABEL) for tab in tabs))
            await asyncio.gather(*(tab.wait_for("metric", loadtest.MODEL_METRIC) for tab in tabs))
            figures["click_to_model_on_both_s"] = round(time.perf_counter() - clicked, 2)
            await asyncio.gather(*(tab.settle() for tab in tabs))
            return tabs
        finally:
            await asyncio.gather(*(tab.close() for tab in tabs))

    with (
        loadtest.streamlit_server(cache, tmp_path / "a.log", extra_env=env) as first,
        loadtest.streamlit_server(cache, tmp_path / "b.log", extra_env=env) as second,
    ):
        auditor.start()
        saves.start()
        try:
            tabs = asyncio.run(press_train_on_both([first.url, second.url]))
        finally:
            auditor.stop()
            saves.stop()
        logs = first.log_text() + second.log_text()

    for tab in tabs:
        assert not tab.errors and not tab.exceptions, (tab.errors, tab.exceptions, logs[-3000:])
        shown = " ".join(element.text for element in tab.shown())
        assert "Ray cluster" in shown, shown[-2000:]  # where the model was trained, as the page says it
    status = _status(config)
    assert status["runs"] == 1 and status["state"] == "done", status  # exactly one training run
    assert len(status["waiters"]) == 2, status  # both servers joined that one run
    assert saves.count == 1, saves.saves  # and one model was written into the shared folder
    assert not auditor.bad and auditor.sound > 0, auditor.bad
    sidecar = read_sidecar(paths_for(cache, config.key())[1])
    assert sidecar["trained_by"]["jobs"] == "ray"
    assert sidecar["trained_by"]["asked_gpus"] == 0 and sidecar["trained_by"]["gpus"] == []
    assert "instead" not in logs  # no fallback notice: both servers used the cluster
    figures |= {"train_seconds": round(sidecar["train_seconds"], 2), "folder_checks": auditor.sound + len(auditor.bad)}
    print(f"ray figures, two servers: {figures}")  # README's figures (pytest -s)


def test_a_model_already_stored_is_not_trained_again_and_the_idle_actor_leaves(cluster, tmp_path):
    """The task looks in the shared folder first (another replica's run may have just saved the model): a shipped
    model is found there, nothing trains. An actor whose run ended exits after lingering, freeing its name."""
    config = default_config("copy-first-k", "bahdanau")  # shipped in pretrained/
    backend = RayBackend(address=cluster, poll_s=0.1, linger_s=1.0, store=ModelStore(PRETRAINED_DIR, tmp_path / "c"))
    reports: list = []
    outcome = backend.run(config, reports.append, lambda: False, lambda note: None)
    assert outcome.status == "done" and reports == []
    status = _status(config)
    assert status["runs"] == 1 and status["worker"] == {}, status  # no worker ever reported training

    def gone() -> bool:
        try:
            ray.get_actor(ACTOR_PREFIX + config.key(), namespace=NAMESPACE)
        except ValueError:
            return True
        return False

    _wait_until(gone, timeout_s=60, what="the idle actor to exit")


def _long_config(epochs: int = 6):
    # ~1 s an epoch on this machine: long enough to be killed in the middle, short enough to be retried in full.
    return default_config("reverse", "teacher-forcing", units=8, epochs=epochs, batch_size=64, samples_per_epoch=2048)


def _wait_until(condition, timeout_s: float = 180.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_killed_ray_worker_fails_the_job_with_a_reason_and_a_retry_trains_it(cluster, tmp_path):
    store = ModelStore(PRETRAINED_DIR, tmp_path / "cache")
    manager = JobManager(store, backend=RayBackend(address=cluster, poll_s=0.1, linger_s=60))
    config = _long_config()
    try:
        job = manager.request(config)
        _wait_until(lambda: job.state == RUNNING and job.progress is not None, what="the first progress report")
        killed = _status(config)["worker"]["pid"]
        os.kill(killed, signal.SIGKILL)
        at = time.perf_counter()
        assert job.wait(120)
        reported_s = time.perf_counter() - at
        assert job.state == FAILED, (job.state, job.reason)
        assert "Ray worker" in job.reason and "retry" in job.reason, job.reason
        assert job.bundle is None
        assert store.lookup(config) is None
        assert not list(store.cache_dir.glob(f"{config.key()}*")), list(store.cache_dir.iterdir())

        at = time.perf_counter()
        again = manager.request(config)
        assert again is not job
        assert again.wait(240) and again.state == DONE, (again.state, again.reason)
        retried_s = time.perf_counter() - at
        print(
            f"ray figures, killed worker: reported failed {reported_s:.2f} s after the kill; retry done in "
            f"{retried_s:.1f} s (training {again.sidecar['train_seconds']:.1f} s): {job.reason}"
        )
        assert again.bundle is not None
        assert again.sidecar["trained_by"]["pid"] != killed
        # The cluster has a GPU: the job asked for it and Ray gave it one (the default SEQ2SEQ_RAY_GPUS=1).
        assert again.sidecar["trained_by"]["asked_gpus"] == 1 and again.sidecar["trained_by"]["gpus"] == ["0"]
        assert _status(config)["runs"] == 2  # the same actor ran a second task
    finally:
        manager.shutdown()


def test_cancel_stops_a_ray_run_only_when_no_replica_waits_on_it(cluster, tmp_path):
    store = ModelStore(PRETRAINED_DIR, tmp_path / "cache")
    # Two replicas: two managers, each with its own backend (its own name to the actors). Each job asks for two
    # GPUs, more than the cluster has: it asks for none and trains on a CPU rather than wait for ever.
    first = JobManager(store, backend=RayBackend(address=cluster, gpus=2, poll_s=0.1, linger_s=60))
    second = JobManager(store, backend=RayBackend(address=cluster, gpus=2, poll_s=0.1, linger_s=60))
    config = _long_config(epochs=40)
    try:
        mine, theirs = first.request(config, session="a"), second.request(config, session="b")
        _wait_until(lambda: mine.progress is not None and theirs.progress is not None, what="both to see progress")
        assert first.cancel(config, session="a")
        assert mine.wait(30) and mine.state == CANCELLED
        assert "other servers" in mine.reason, mine.reason
        status = _status(config)
        assert status["state"] == "running" and status["gpus"] == 0, status  # the other replica still wants it
        assert second.cancel(config, session="b")
        assert theirs.wait(60) and theirs.state == CANCELLED, (theirs.state, theirs.reason)
        assert _status(config)["state"] == "cancelled"
        assert store.lookup(config) is None
    finally:
        first.shutdown()
        second.shutdown()
