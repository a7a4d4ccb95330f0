"""Classroom load test: a class of simulated students against one `streamlit run app.py`, measured at the server.

    .venv/bin/python scripts/loadtest.py --scenario follow|explore|stress|train --students N [--browsers K] [--json]

The students are `scripts/loadclient.py` clients: each speaks Streamlit's websocket protocol as a browser tab does
(links, page switches, URL-bound controls, button clicks, fragment timers, cached messages, widget states) and
times every request from the message it sends to the server's `script_finished`, for a few kilobytes and no
rendering. `--browsers K` adds K real Chromium users (`scripts/loadbrowsers.py`) on the same link and pages, to
show the simulated ones cause the same script runs.

The scenarios:

- `follow`: a class following the teacher. Every student opens the same lesson link, then goes through the
  lesson's steps (switch to a page, type a new input sequence, change the beam width), one action every 10 s on
  average (exponential pauses), each at their own pace.
- `explore`: a class exploring on its own: random shipped configurations (a fresh link, as a student would paste
  one), random pages and inputs, one action every 10 s on average.
- `stress`: `explore` with one action every second on average.
- `train`: every student opens the Train page of one configuration that is not shipped, all press "Train this
  configuration" at the same moment, and wait for the model. Exactly one training job may run.

How the server is measured:

1. It runs alone on one core (CPU affinity, `--server-core`), the students and browsers on the others, with a
   fresh, empty model cache. Its resident memory and CPU time (the process and its children) are sampled from
   outside every 0.2 s (psutil).
2. The app writes one line per script run, fragment reruns included (`SEQ2SEQ_RUN_LOG`, see
   `explorer.ui.runtime`): page, session, outcome, wall and CPU time. The students' own record of runs is checked
   against it: each student must have seen exactly the runs the server logged for its session.
3. Cold start: from launching the process to the lesson link's page drawn (asked for as soon as the server
   answers its health check; the landing page shows the shipped model's recorded figures), and to the teacher's
   next page, the first that runs the model (`cold_model_page_s`). The class arrives after that, spread over
   `--ramp` seconds.
4. Training jobs are counted by watching the cache folder (each finished job renames one sidecar into it).

Correctness checks (exit status 1 when one fails): no errors (exception boxes, timeouts, closed connections),
every student saw exactly its logged runs, and in `train`, exactly one training job and every student and
browser got the model. Targets (reported; exit status 2 only with --strict): p95 <= 300 ms for 30 students
following the teacher, p95 <= 1 s at every size, peak RSS <= 1 GB, cold start <= 8 s.

With --json the last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(ROOT), str(Path(__file__).parent)) if p not in sys.path]

from loadbrowsers import CHROMIUM_ARGS  # noqa: E402, F401  (the browser tests launch Chromium with them)
from loadclient import Student, StudentError  # noqa: E402

from explorer.presets import default_config, pairs  # noqa: E402  (after the path is set)
from explorer.tasks import TASKS  # noqa: E402
from explorer.ui.pages import PAGES, page_entry  # noqa: E402
from explorer.urlstate import params_from_config  # noqa: E402

SERVER_START_TIMEOUT_S = 120
SCENARIOS = ("follow", "explore", "stress", "train")

# The lesson: the landing configuration of the attention pages, shipped pretrained.
LESSON = default_config("copy-first-k", "bahdanau")
# A small configuration that is not shipped in pretrained/: with a fresh cache folder it must really train.
TRAIN_CONFIG = default_config("reverse", "teacher-forcing", units=8, epochs=1, batch_size=64)
TRAIN_LABEL = "Train this configuration"
# The first page the teacher opens after the landing page on a cold server: it runs the shipped model.
MODEL_PAGE = "attention"
TEACHER = "teacher"  # the tab that opens the lesson on the cold server, before the class
MODEL_METRIC = "Exact-sequence accuracy"
# The teacher's steps, which every following student takes in order: ("page", page name) or ("query", parameter).
LESSON_STEPS: tuple[tuple[str, str], ...] = (
    ("page", "attention"),
    ("query", "seq"),
    ("page", "states"),
    ("query", "seq"),
    ("page", "decoding"),
    ("query", "beam"),
    ("page", "graph"),
    ("query", "seq"),
    ("page", "train"),
    ("page", "home"),
)
# Pages with a typed input sequence (`seq` in the link); the beam width (`beam`) is the Decoding page's.
SEQUENCE_PAGES = ("graph", "states", "attention", "decoding")
BEAM_WIDTHS = ("1", "2", "3", "4", "5", "8")

TARGET_FOLLOW_30_P95_MS = 300.0
TARGET_P95_MS = 1000.0
TARGET_PEAK_RSS_MB = 1024.0
TARGET_COLD_START_S = 8.0


def link(config, page: str = "home") -> str:
    """The link a teacher shares: the page's path and the configuration's full URL state."""
    return f"/{page_entry(page).url_path}?{urllib.parse.urlencode(params_from_config(config))}"


def random_sequence(config, rng: random.Random) -> str | None:
    """A valid input for a token task (values 1 .. cardinality - 1), or None for a real-valued one."""
    if TASKS[config.task.name].values != "tokens":
        return None
    return ", ".join(str(rng.randint(1, config.task.cardinality - 1)) for _ in range(config.task.input_length))


# -- the server ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
            return response.read().decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError):
        return None


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    cache_dir: Path
    log_path: Path
    launched: float  # time.perf_counter() when the process was started

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's own process group, then SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextlib.contextmanager
def streamlit_server(
    cache_dir: Path,
    log_path: Path,
    timeout_s: float = SERVER_START_TIMEOUT_S,
    extra_args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    cores: set[int] | None = None,
    script: str = "app.py",
) -> Iterator[Server]:
    """`streamlit run <script>` (the app by default) on a free loopback port with `SEQ2SEQ_CACHE_DIR=cache_dir`,
    on `cores` only when given (CPU affinity, inherited by every thread and child); yields once healthy.

    Raises RuntimeError with the server's output when it exits or is not healthy within `timeout_s`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SEQ2SEQ_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    env.update(extra_env or {})
    command = [
        sys.executable, "-m", "streamlit", "run", script,
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # others may edit the tree meanwhile: no "Source file changed"
        *(extra_args or []),
    ]  # fmt: skip
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    with open(log_path, "wb") as log:
        launched = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that all of it can be ended
            preexec_fn=pin,
        )
    server = Server(url, process, cache_dir, log_path, launched)
    try:
        deadline = time.monotonic() + timeout_s
        while health(url) != "ok":
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {process.returncode}:\n{server.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {timeout_s:.0f} s:\n{server.log_text()[-4000:]}")
            time.sleep(0.05)
        yield server
    finally:
        stop_process_group(process)


# -- sampling the server from outside --------------------------------------------------------------------------


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB (MiB); 0 when the process is gone."""
    total = 0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):  # it ended while we counted
            total += process.memory_info().rss
    return total / 2**20


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its descendants."""
    total = 0.0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class Sampler(threading.Thread):
    """Samples the server's tree RSS every `interval_s` until stopped; keeps the peak and the last value."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        super().__init__(name="server-sampler", daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak_mb = 0.0
        self.last_mb = 0.0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            value = tree_rss_mb(self.pid)
            if value:
                self.last_mb = value
                self.peak_mb = max(self.peak_mb, value)
                self.samples += 1
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# -- watching the cache folder for model saves ----------------------------------------------------------------

SIDECAR = re.compile(r"^[0-9a-f]{16}\.json$")
IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x8, 0x80, 0x100
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000


class SaveWatcher(threading.Thread):
    """Counts the model saves into a folder: each finished training job renames one `<key>.json` sidecar into it.

    Uses inotify (every rename is seen, however close together); without it, polls the sidecars' inode and
    mtime every 50 ms.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(name="save-watcher", daemon=True)
        self.directory = directory
        self.saves: list[tuple[float, str]] = []
        self.method = "inotify"
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._fd: int | None = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            if libc.inotify_add_watch(fd, os.fsencode(directory), IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE) < 0:
                os.close(fd)
                raise OSError(ctypes.get_errno(), "inotify_add_watch")
            self._fd = fd
        except (OSError, AttributeError):
            self.method = "polling"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.saves)

    def _record(self, name: str) -> None:
        with self._lock:
            self.saves.append((time.time(), name))

    def run(self) -> None:
        if self._fd is not None:
            self._run_inotify()
        else:
            self._run_polling()

    def _run_inotify(self) -> None:
        assert self._fd is not None
        header = struct.Struct("iIII")
        try:
            while not self._halt.is_set():
                ready, _, _ = select.select([self._fd], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = os.read(self._fd, 65536)
                except BlockingIOError:
                    continue
                offset = 0
                while offset + header.size <= len(data):
                    _, mask, _, length = header.unpack_from(data, offset)
                    raw = data[offset + header.size : offset + header.size + length]
                    name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
                    offset += header.size + length
                    if mask & IN_MOVED_TO and SIDECAR.match(name):
                        self._record(name)
        finally:
            os.close(self._fd)

    def _run_polling(self) -> None:
        seen: dict[str, tuple[int, int]] = {}
        while not self._halt.is_set():
            with contextlib.suppress(OSError):
                for path in self.directory.iterdir():
                    if SIDECAR.match(path.name):
                        with contextlib.suppress(OSError):
                            stat = path.stat()
                            signature = (stat.st_ino, stat.st_mtime_ns)
                            if seen.get(path.name) != signature:
                                seen[path.name] = signature
                                self._record(path.name)
            self._halt.wait(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# -- the class -------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    scenario: str = "follow"
    students: int = 30
    browsers: int = 0
    actions: int = 10  # per student, after opening the link (follow, explore, stress)
    think_s: float | None = None  # mean pause between actions; None: the scenario's (10 s, or 1 s for stress)
    ramp_s: float = 10.0  # the class arrives spread over this many seconds
    timeout_s: float = 120.0  # one request's answer, or the trained model in `train`
    seed: int = 1
    server_core: int | None = 0  # None: no pinning

    @property
    def mean_think_s(self) -> float:
        return self.think_s if self.think_s is not None else (1.0 if self.scenario == "stress" else 10.0)


@dataclass
class Outcome:
    """What the class did and saw, for the report."""

    students: list[Student] = field(default_factory=list)  # every tab a student opened, closed ones included
    got_model: int = 0
    model_seen: list[float] = field(default_factory=list)  # time.time() when each student had the model drawn
    browser_users: list[Any] = field(default_factory=list)
    phase_started: float = 0.0  # time.time() when the class started arriving
    phase_ended: float = 0.0
    clicked_at: float | None = None  # time.time() when the class pressed Train


async def _think(rng: random.Random, mean_s: float) -> None:
    await asyncio.sleep(rng.expovariate(1 / mean_s) if mean_s > 0 else 0)


async def _student(index: int, plan: Plan, url: str, outcome: Outcome, start: asyncio.Event | None) -> None:
    """One student's journey in the plan's scenario; never raises (what went wrong is in its errors)."""
    rng = random.Random(plan.seed * 100_003 + index)
    await asyncio.sleep(rng.uniform(0, plan.ramp_s))
    config = LESSON if plan.scenario != "train" else TRAIN_CONFIG
    first = link(config, "train" if plan.scenario == "train" else "home")
    student = Student(url, f"student {index}", timeout_s=plan.timeout_s)
    outcome.students.append(student)
    try:
        await student.open(first)
        if plan.scenario == "train":
            await _train(student, outcome, start)
            return
        steps = iter(LESSON_STEPS * (1 + plan.actions // len(LESSON_STEPS)))
        for _ in range(plan.actions):
            await _think(rng, plan.mean_think_s)
            if plan.scenario == "follow":
                await _take(student, next(steps), config, rng)
            else:
                student, config = await _explore(student, config, rng, url, plan, outcome)
    except StudentError as error:
        if str(error) not in student.errors:
            student.errors.append(str(error))
    finally:
        await student.close()


async def _take(student: Student, step: tuple[str, str], config, rng: random.Random) -> None:
    """One step of the lesson: a page switch, or a new input sequence or beam width through the URL."""
    action, what = step
    if action == "page":
        await student.switch_page(page_entry(what).url_path)
    elif what == "seq":
        sequence = random_sequence(config, rng)
        if sequence is not None:
            await student.set_query(seq=sequence)
    elif what == "beam":
        await student.set_query(beam=rng.choice(BEAM_WIDTHS))


async def _explore(student: Student, config, rng: random.Random, url: str, plan: Plan, outcome: Outcome):
    """One random action: a new shipped configuration (a fresh link), another page, or a new input."""
    roll = rng.random()
    if roll < 0.2:
        task, arch = rng.choice(pairs())
        config = default_config(task, arch)
        page = rng.choice([page.name for page in PAGES])
        await student.close()
        student = Student(url, student.name, timeout_s=plan.timeout_s)
        outcome.students.append(student)
        await student.open(link(config, page))
    elif roll < 0.7:
        await student.switch_page(rng.choice([page.url_path for page in PAGES]))
    else:
        current = next((page for page in PAGES if student.pages.get(page.url_path) == student.page_hash), None)
        step = ("query", "beam" if current and current.name == "decoding" and rng.random() < 0.5 else "seq")
        await _take(student, step, config, rng)
    return student, config


async def _train(student: Student, outcome: Outcome, start: asyncio.Event | None) -> None:
    """Wait for the whole class, press Train together, and wait for the model."""
    if start is not None:
        await start.wait()
    await student.click(TRAIN_LABEL)
    await student.wait_for("metric", MODEL_METRIC)
    await student.settle()
    outcome.got_model += 1
    outcome.model_seen.append(time.time())


async def _release_when_arrived(outcome: Outcome, expected: int, start: asyncio.Event, browsers_ready) -> None:
    """Let the class press Train once every student has the page open (and the browsers, when there are)."""
    while True:
        opened = sum(1 for s in outcome.students if s.requests and s.requests[0].outcome == "done")
        failed = sum(1 for s in outcome.students if s.errors)
        if opened + failed >= expected and browsers_ready():
            break
        await asyncio.sleep(0.1)
    outcome.clicked_at = time.time()
    start.set()


async def _drive(url: str, plan: Plan, outcome: Outcome, log: Callable[[str], None]) -> None:
    start = asyncio.Event() if plan.scenario == "train" else None
    tasks = [asyncio.create_task(_student(i, plan, url, outcome, start)) for i in range(plan.students)]
    browser_ready = asyncio.Event()
    if plan.browsers:
        from loadbrowsers import run_browser_users  # Playwright is needed only with browsers

        pages = [what for action, what in LESSON_STEPS if action == "page"] if plan.scenario != "train" else []
        browser_start = asyncio.Event()

        async def browsers():
            train = plan.scenario == "train"
            first = link(TRAIN_CONFIG, "train") if train else link(LESSON)
            users = await run_browser_users(
                url,
                plan.browsers,
                first,
                pages,
                think_s=min(plan.mean_think_s, 3.0),
                train_label=TRAIN_LABEL if train else None,
                model_text=MODEL_METRIC if train else None,
                start_event=browser_start,
                ready_event=browser_ready,
                timeout_s=plan.timeout_s,
                log=log,
            )
            outcome.browser_users.extend(users)

        tasks.append(asyncio.create_task(browsers()))
    else:
        browser_ready.set()
    if start is not None:

        async def release():
            await _release_when_arrived(outcome, plan.students, start, browser_ready.is_set)
            if plan.browsers:
                browser_start.set()

        tasks.append(asyncio.create_task(release()))
    await asyncio.gather(*tasks)


async def _cold_start(url: str, launched: float, timeout_s: float) -> tuple[float, float, Student]:
    """The teacher opens the lesson link on a fresh server: seconds from launching it to that first page drawn,
    and to the next page, the first one that runs the shipped model (the landing page shows only what the
    model's sidecar records)."""
    teacher = Student(url, TEACHER, timeout_s=timeout_s)
    await teacher.open(link(LESSON))
    first = time.perf_counter() - launched
    await teacher.switch_page(page_entry(MODEL_PAGE).url_path)
    model_page = time.perf_counter() - launched
    if teacher.find("heading", page_entry(MODEL_PAGE).heading) is None:
        teacher.errors.append(f"the {MODEL_PAGE} page did not draw its heading")
    await teacher.close()
    return first, model_page, teacher


# -- the report ------------------------------------------------------------------------------------------------


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The app's script-run records (explorer.ui.runtime)."""
    runs = []
    with contextlib.suppress(OSError):
        for line in path.read_text("utf-8").splitlines():
            with contextlib.suppress(ValueError):
                runs.append(json.loads(line))
    return runs


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by the nearest-rank method, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency_stats(values: list[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50_ms": _round(percentile(values, 50), 1),
        "p95_ms": _round(percentile(values, 95), 1),
        "max_ms": _round(max(values) if values else None, 1),
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def check_runs(students: list[Student], runs: list[dict[str, Any]]) -> list[str]:
    """Each student's runs against the server's log for its session; returns the mismatches.

    Full runs must match in number. Fragment reruns may differ in one way only: a fragment timer that fires just
    after a full run replaced its fragment asks for a rerun of a fragment that no longer exists, which Streamlit
    answers with an empty run (new_session, then script_finished, no page code, so no log line; the same race
    shows in real browsers, see streamlit/streamlit#9080). So the log's fragment reruns must lie between the
    student's fragment runs that drew something and all of its fragment runs."""
    logged: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        logged.setdefault(run.get("session") or "", []).append(run)
    problems = []
    for student in students:
        if not student.session_id:
            continue
        theirs = logged.get(student.session_id, [])
        ours = student.runs  # a run the student left before its end is in the server's log too
        full = sum(1 for r in ours if not r.is_fragment)
        fragments = sum(1 for r in ours if r.is_fragment)
        drawing = sum(1 for r in ours if r.is_fragment and r.drawn)
        logged_full = sum(1 for r in theirs if r["kind"] == "run")
        logged_fragments = sum(1 for r in theirs if r["kind"] == "fragment")
        if full != logged_full or not drawing <= logged_fragments <= fragments:
            problems.append(
                f"{student.name}: saw {full} full runs and {fragments} fragment reruns ({drawing} drawing), "
                f"the server logged {logged_full} and {logged_fragments}"
            )
    return problems


def fidelity(outcome: Outcome, runs: list[dict[str, Any]], scenario: str) -> dict[str, Any]:
    """Simulated students beside real browsers, from the server's log for each group's sessions.

    In `train` both take the same journey (open the Train page, press Train together, wait for the model), so
    their full runs and fragment reruns per tab are compared. Otherwise the browsers only switch pages while the
    students also change inputs, so full runs per page visit are compared (the student's from its own record
    of which runs answered which request). Both ways, the server's CPU per run, by page.
    """
    groups = {
        "simulated": {s.session_id for s in outcome.students if s.session_id and s.name != TEACHER},
        "browser": {u.session_id for u in outcome.browser_users if u.session_id},
    }
    logged = {group: [run for run in runs if run.get("session") in sessions] for group, sessions in groups.items()}
    result: dict[str, Any] = {}
    if scenario == "train":
        result["runs_per_tab"] = {
            group: {
                "full": _round(sum(1 for r in logged[group] if r["kind"] == "run") / len(sessions), 2),
                "fragment": _round(sum(1 for r in logged[group] if r["kind"] == "fragment") / len(sessions), 2),
            }
            for group, sessions in groups.items()
            if sessions
        }
    else:
        answered = [
            sum(1 for run in s.runs if not run.is_fragment and r.sent <= run.started and (run.ended or 0) <= r.ended)
            for s in outcome.students
            if s.name != TEACHER
            for r in s.requests
            if r.action in ("open", "page") and r.outcome == "done"
        ]
        visits = sum(1 + len(u.switches) for u in outcome.browser_users if u.session_id)
        browser_runs = sum(1 for r in logged["browser"] if r["kind"] == "run")
        result["full_runs_per_visit"] = {
            "simulated": _round(statistics.mean(answered), 2) if answered else None,
            "browser": _round(browser_runs / visits, 2) if visits else None,
        }
    by_page: dict[str, dict[str, Any]] = {}
    for group, group_runs in logged.items():
        for run in group_runs:
            if run["kind"] == "run":
                by_page.setdefault(run["page"], {}).setdefault(group, []).append(run["cpu_seconds"] * 1000)
    result["cpu_ms_per_run_by_page"] = {
        page: {group: {"runs": len(v), "p50_ms": _round(statistics.median(v), 1)} for group, v in entry.items()}
        for page, entry in sorted(by_page.items())
    }
    return result


def summarise(plan: Plan, outcome: Outcome, runs, sampler: Sampler, cpu_s: float, cold_s: float, jobs: int):
    students = [s for s in outcome.students if s.name != TEACHER]  # the teacher's cold start is reported apart
    requests = [r for s in students for r in s.requests]
    done = [r for r in requests if r.outcome == "done"]
    actions = [r.latency_ms for r in done if r.action != "auto"]
    phase_runs = [r for r in runs if outcome.phase_started <= r.get("at", 0) <= outcome.phase_ended + 1]
    errors = [f"{s.name}: {e}" for s in students for e in s.errors]
    errors += [f"{s.name}: exception on the page: {text[:200]}" for s in students for text in s.exceptions]
    for user in outcome.browser_users:
        errors += [f"browser {user.name}: {e}" for e in user.errors]
        errors += [f"browser {user.name}: exception box: {text[:200]}" for text in user.exceptions]
    mismatches = check_runs(outcome.students, runs)
    timed = len(done)
    summary: dict[str, Any] = {
        "scenario": plan.scenario,
        "students": plan.students,
        "browsers": plan.browsers,
        "tabs": len(students),
        "mean_think_s": plan.mean_think_s,
        "requests": len(actions),
        **{key: value for key, value in latency_stats(actions).items() if key != "count"},
        "by_action": {
            action: latency_stats([r.latency_ms for r in done if r.action == action])
            for action in ("open", "page", "query", "click", "auto")
            if any(r.action == action for r in done)
        },
        "superseded_or_absorbed": sum(1 for r in requests if r.outcome in ("superseded", "absorbed")),
        "errors": len(errors),
        "error_details": errors[:10],
        "run_log_mismatches": mismatches[:10],
        "script_runs": len(phase_runs),
        "fragment_runs": sum(1 for r in phase_runs if r["kind"] == "fragment"),
        "script_cpu_ms": latency_stats([r["cpu_seconds"] * 1000 for r in phase_runs]),
        "server_cpu_s": _round(cpu_s, 2),
        "cpu_ms_per_request": _round(cpu_s * 1000 / timed, 1) if timed else None,
        "server_core_busy": _round(cpu_s / max(1e-9, outcome.phase_ended - outcome.phase_started), 3),
        "duration_s": _round(outcome.phase_ended - outcome.phase_started, 1),
        "peak_rss_mb": round(sampler.peak_mb, 1),
        "final_rss_mb": round(sampler.last_mb, 1),
        "cold_start_s": _round(cold_s, 2),
        "training_jobs": jobs,
        "students_with_model": outcome.got_model if plan.scenario == "train" else None,
        # from the class pressing Train together to the first and the last student with the model drawn
        "time_to_model_s": (
            [_round(min(outcome.model_seen) - clicked, 1), _round(max(outcome.model_seen) - clicked, 1)]
            if outcome.model_seen and (clicked := outcome.clicked_at)
            else None
        ),
        "browsers_with_model": sum(1 for u in outcome.browser_users if u.got_model) if plan.browsers else None,
        "kilobytes_received": round(sum(s.received_bytes for s in students) / 1024),
        "server_core": plan.server_core,
    }
    if outcome.browser_users:
        summary["browser_switch_ms"] = latency_stats([1000 * t for u in outcome.browser_users for _, t in u.switches])
        summary["fidelity"] = fidelity(outcome, runs, plan.scenario)
    failures = []
    if errors:
        failures.append(f"{len(errors)} error(s), first: {errors[0]}")
    if mismatches:
        failures.append(f"{len(mismatches)} student(s) saw other runs than the server logged: {mismatches[0]}")
    if plan.scenario == "train":
        if jobs != 1:
            failures.append(f"expected exactly 1 training job, saw {jobs}")
        if outcome.got_model != plan.students:
            failures.append(f"{plan.students - outcome.got_model} of {plan.students} student(s) never got the model")
        if plan.browsers and summary["browsers_with_model"] != plan.browsers:
            failures.append(f"{plan.browsers - summary['browsers_with_model']} browser(s) never got the model")
    elif jobs:
        failures.append(f"{jobs} training job(s) ran in a scenario that trains nothing")
    summary["failures"] = failures
    p95 = summary["p95_ms"]
    limit = TARGET_FOLLOW_30_P95_MS if plan.scenario == "follow" and plan.students <= 30 else TARGET_P95_MS
    summary["targets"] = {
        "p95_ms": {"target": limit, "value": p95, "met": p95 is not None and p95 <= limit},
        "peak_rss_mb": {
            "target": TARGET_PEAK_RSS_MB,
            "value": summary["peak_rss_mb"],
            "met": summary["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
        },
        "cold_start_s": {"target": TARGET_COLD_START_S, "value": summary["cold_start_s"], "met": cold_s <= 8.0},
    }
    return summary


def run_loadtest(plan: Plan, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Start the server pinned to its core, bring in the class, and return every figure plus `failures`."""
    if plan.scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {plan.scenario!r}; choose from {', '.join(SCENARIOS)}")
    if log is None:
        origin = time.perf_counter()

        def log(message: str) -> None:
            print(f"[{time.perf_counter() - origin:6.1f} s] {message}", file=sys.stderr, flush=True)

    cores = sorted(os.sched_getaffinity(0))
    server_cores = client_cores = None
    if plan.server_core is not None and len(cores) > 1 and plan.server_core in cores:
        server_cores = {plan.server_core}
        client_cores = set(cores) - server_cores
        os.sched_setaffinity(0, client_cores)
    else:
        plan.server_core = None
    workdir = Path(tempfile.mkdtemp(prefix="seq2seq-loadtest-"))
    cache_dir = workdir / "cache"
    cache_dir.mkdir()
    run_log = workdir / "script-runs.jsonl"
    outcome = Outcome()
    try:
        watcher = SaveWatcher(cache_dir)
        watcher.start()
        log(f"starting streamlit on core(s) {server_cores or cores}, clients on {client_cores or cores}")
        env = {"SEQ2SEQ_RUN_LOG": str(run_log)}
        with streamlit_server(cache_dir, workdir / "server.log", extra_env=env, cores=server_cores) as server:
            sampler = Sampler(server.process.pid)
            sampler.start()
            try:
                cold_s, model_page_s, teacher = asyncio.run(_cold_start(server.url, server.launched, plan.timeout_s))
                log(f"cold start {cold_s:.1f} s ({MODEL_PAGE} page {model_page_s:.1f} s)")
                log(f"{plan.students} students arrive over {plan.ramp_s:.0f} s")
                cpu_before = tree_cpu_s(server.process.pid)
                outcome.phase_started = time.time()
                asyncio.run(_drive(server.url, plan, outcome, log))
                outcome.phase_ended = time.time()
                cpu_s = tree_cpu_s(server.process.pid) - cpu_before
                if plan.scenario == "train":  # a duplicate job queued behind the first would save after it
                    time.sleep(3.0)
                time.sleep(0.5)  # the last runs' log lines
            finally:
                sampler.stop()
            server_log = server.log_text()
        watcher.stop()
        runs = read_runs(run_log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if client_cores:
            os.sched_setaffinity(0, set(cores))
    outcome.students.insert(0, teacher)
    summary = summarise(plan, outcome, runs, sampler, cpu_s, cold_s, watcher.count)
    summary["cold_model_page_s"] = _round(model_page_s, 2)
    summary["server_tracebacks"] = server_log.count("Traceback (most recent call last)")
    if summary["server_tracebacks"]:
        summary["failures"].append("the server logged a traceback")
        summary["server_log_tail"] = server_log[-3000:]
    return summary


def report(summary: dict[str, Any]) -> str:
    s = summary
    lines = [
        f"{s['scenario']}: {s['students']} students ({s['tabs']} tabs), {s['browsers']} browsers, "
        f"{s['duration_s']} s, server on core {s['server_core']}",
        f"  requests {s['requests']}: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms",
    ]
    for action, stats in s["by_action"].items():
        lines.append(f"    {action:6} {stats['count']:5}: p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms")
    lines += [
        f"  server: {s['script_runs']} script runs ({s['fragment_runs']} fragment reruns), "
        f"{s['server_cpu_s']} s CPU, {s['cpu_ms_per_request']} ms CPU per request, core busy {s['server_core_busy']}",
        f"  peak RSS {s['peak_rss_mb']} MB, cold start {s['cold_start_s']} s (first model page "
        f"{s['cold_model_page_s']} s), training jobs {s['training_jobs']}",
        f"  errors {s['errors']}" + (f": {s['error_details'][:3]}" if s["errors"] else ""),
    ]
    if s.get("fidelity"):
        lines.append(f"  browsers beside: {json.dumps(s['fidelity'])}")
    lines += [f"  FAILED: {failure}" for failure in s["failures"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="follow")
    parser.add_argument("--students", type=int, default=30, help="simulated students (default 30)")
    parser.add_argument("--browsers", type=int, default=0, help="real Chromium users beside them (default 0)")
    parser.add_argument("--actions", type=int, default=10, help="actions per student after opening the link")
    parser.add_argument("--think", type=float, default=None, help="mean pause between actions, s")
    parser.add_argument("--ramp", type=float, default=10.0, help="the class arrives over this many seconds")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for one answer, s")
    parser.add_argument("--server-core", type=int, default=0, help="the core the server runs on (-1: no pinning)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    parser.add_argument("--strict", action="store_true", help="also fail (exit 2) when a target is missed")
    args = parser.parse_args(argv)
    plan = Plan(
        scenario=args.scenario,
        students=args.students,
        browsers=args.browsers,
        actions=args.actions,
        think_s=args.think,
        ramp_s=args.ramp,
        timeout_s=args.timeout,
        seed=args.seed,
        server_core=None if args.server_core < 0 else args.server_core,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`: unwind, so the server is ended
    summary = run_loadtest(plan)
    print(report(summary), flush=True)
    if args.json:
        print(json.dumps(summary, sort_keys=True), flush=True)
    if summary["failures"]:
        return 1
    if args.strict and not all(t["met"] for t in summary["targets"].values()):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
