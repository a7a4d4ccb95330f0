"""Classroom load test: N browser users against one `streamlit run app.py`, then all of them train one model.

    .venv/bin/python scripts/loadtest.py [--users 30] [--json] [--strict]

What it does, in order:

1. Starts `streamlit run app.py --server.headless true` on a free loopback port with a fresh, empty model cache
   (`SEQ2SEQ_CACHE_DIR` in a temporary folder) and waits for `/_stcore/health`.
2. Opens one headless Chromium (Debian's `/usr/bin/chromium`) with N browser contexts, one per user, started
   over a short ramp. Each user opens the home page with a pretrained configuration in the link, then switches
   through the pages with the sidebar navigation. A page switch is timed in the browser, from the click to the
   moment the app's script state is `notRunning` with no "Running..." icon while the new page's title is shown
   (the signal `tests/browser/conftest.py::wait_for_app` uses).
3. Every user opens the same small configuration that is not in `pretrained/` (a shared link), and all of them
   click "Train this configuration" at the same moment. Each must end up seeing the trained model's
   "Exact-sequence accuracy" metric.
4. Meanwhile the server's resident memory (the streamlit process and its children, through psutil) is sampled every
   0.2 s, and the cache folder is watched (inotify) for model saves: every training job that finishes writes
   `<key>.keras` and then its `<key>.json` sidecar, atomically renamed into place, and nothing else writes into
   a fresh cache folder. The number of sidecar writes is the number of training jobs. After the last user has
   the model, the watch goes on for a grace period as long as the training took, so that a duplicate job
   queued behind the first one would be seen too.

5. The app writes one line per script run (`SEQ2SEQ_RUN_LOG`, see `explorer.ui.runtime.timed_run`): the
   page, the run's wall time and its thread's CPU time. Those of the browsing phase are reported beside the
   browser-timed switches, to tell the server's share from the browsers' (which share this machine's cores).

Correctness checks (exit status 1 when one fails): exactly one training job, every user saw the trained model,
no user ever saw an exception box (`data-testid="stException"`), and every user finished its journey.
Targets (reported; exit status 2 only with --strict): p95 page switch <= 1 s, peak server RSS <= 1.5 GB.

With --json the last line of stdout is one JSON object with every figure. Note that on a small machine the
browsers share the CPU with the server, so latencies include the client's own rendering under contention.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import json
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
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from explorer.ui.pages import PAGES, page_entry

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed when running as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Many pages in one browser: do not let Chromium slow down the ones it thinks are in the background.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
SERVER_START_TIMEOUT_S = 120

# A pretrained attention model, so that every page has something to show (as in tests/browser/test_pages.py).
PRETRAINED_QUERY = "task=copy-first-k&arch=bahdanau"
# A small configuration that is not shipped in pretrained/: with a fresh cache folder it must really train.
TRAIN_QUERY = "task=reverse&arch=teacher-forcing&units=8&ep=1&bs=64"

# The page registry names every page, its navigation label and its heading. The users visit every page in
# navigation order, starting after the landing page (opened by link) and ending back on it.
LANDING = next(page for page in PAGES if page.is_default)
DEFAULT_PAGES = [page.name for page in PAGES if page is not LANDING] + [LANDING.name]
# The page with the "Train this configuration" button.
TRAIN_PAGE = page_entry("train")

TARGET_P95_S = 1.0
TARGET_PEAK_RSS_MB = 1536.0

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
APP_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
RUNNING_ICON = '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'
EXCEPTION = '[data-testid="stException"]'
ACCURACY_LABEL = "Exact-sequence accuracy"
PERCENT = re.compile(r"^\d+(\.\d+)?%$")

# Installed in every page before the app's own scripts. It records, in the page's own clock:
#  - every click (__clickEpoch, Date.now() so that clicks in different pages compare),
#  - every transition to "ready" (script state notRunning and no running icon) with the h1 shown at that moment,
#  - every exception box that ever appeared, even one that went away again.
INIT_JS = """
(() => {
  const IDLE = __IDLE__, RUNNING = __RUNNING__, EXC = __EXCEPTION__;
  window.__stRunStateChanges = 0;
  window.__ready = false;
  window.__readyTimes = [];
  window.__readyTitles = [];
  window.__clickAt = null;
  window.__clickEpoch = null;
  window.__exceptions = [];
  const check = () => {
    const ready = !!document.querySelector(IDLE) && !document.querySelector(RUNNING);
    if (ready) {
      // A new entry when the app becomes ready, and also when the title changes while it stays ready: a
      // short rerun can start and finish between two observer callbacks, and stale elements of the previous
      // page can outlive the state change by a render. Either way the entry is stamped when the new title shows.
      const h1 = document.querySelector('[data-testid="stMain"] h1');
      const title = h1 ? h1.textContent.trim() : "";
      const last = window.__readyTitles.length - 1;
      if (!window.__ready || last < 0 || window.__readyTitles[last] !== title) {
        window.__readyTimes.push(performance.now());
        window.__readyTitles.push(title);
      }
    }
    window.__ready = ready;
    for (const box of document.querySelectorAll(EXC)) {
      if (!box.__loadtestSeen) {
        box.__loadtestSeen = true;
        window.__exceptions.push({page: location.pathname, text: (box.textContent || "").slice(0, 500)});
      }
    }
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") window.__stRunStateChanges += 1;
    }
    check();
  }).observe(document, {subtree: true, childList: true, attributes: true,
                        attributeFilter: ["data-test-script-state"]});
  document.addEventListener("click", () => {
    window.__clickAt = performance.now();
    window.__clickEpoch = Date.now();
  }, true);
})();
"""
INIT_JS = (
    INIT_JS.replace("__IDLE__", json.dumps(APP_IDLE))
    .replace("__RUNNING__", json.dumps(RUNNING_ICON))
    .replace("__EXCEPTION__", json.dumps(EXCEPTION))
)


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
) -> Iterator[Server]:
    """`streamlit run app.py` on a free loopback port with `SEQ2SEQ_CACHE_DIR=cache_dir`; yields once healthy.

    Raises RuntimeError with the server's output when it exits or is not healthy within `timeout_s`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SEQ2SEQ_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    env.update(extra_env or {})
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",  # others may edit the tree meanwhile: no "Source file changed"
        *(extra_args or []),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that all of it can be ended
        )
    server = Server(url, process, cache_dir, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while health(url) != "ok":
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {process.returncode}:\n{server.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {timeout_s:.0f} s:\n{server.log_text()[-4000:]}")
            time.sleep(0.25)
        yield server
    finally:
        stop_process_group(process)


# -- memory ----------------------------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB (MiB); 0 when the process is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):  # it ended while we counted
            total += process.memory_info().rss
    return total / 2**20


class RssSampler(threading.Thread):
    """Samples the server's tree RSS every `interval_s` until stopped; keeps the peak and the last value."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        super().__init__(name="rss-sampler", daemon=True)
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
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000


class SaveWatcher(threading.Thread):
    """Counts the model saves into a folder: each finished training job renames one `<key>.json` sidecar into it.

    Uses inotify (every rename is seen, however close together); without it, polls the sidecars' inode and
    mtime every 50 ms. `saves` lists (time, sidecar name); `starts` counts temporary weights files created
    (a save that began).
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(name="save-watcher", daemon=True)
        self.directory = directory
        self.saves: list[tuple[float, str]] = []
        self.starts = 0
        self.method = "inotify"
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._libc = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            if libc.inotify_add_watch(fd, os.fsencode(directory), IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE) < 0:
                os.close(fd)
                raise OSError(ctypes.get_errno(), "inotify_add_watch")
            self._fd, self._libc = fd, libc
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
                    elif mask & IN_CREATE and name.startswith(".tmp-") and name.endswith(".keras"):
                        with self._lock:
                            self.starts += 1
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


# -- the users -------------------------------------------------------------------------------------------------


@dataclass
class UserResult:
    index: int
    initial_load_s: float | None = None
    switches: list[dict[str, Any]] = field(default_factory=list)  # {"page", "seconds"}
    click_epoch_ms: float | None = None
    model_seen_at: float | None = None  # time.time() when the accuracy metric showed
    accuracy: str | None = None
    exceptions: list[dict[str, str]] = field(default_factory=list)
    browse_error: str | None = None  # the page-switch phase failed; the user still takes part in the training
    error: str | None = None
    phase: str = "start"


async def _wait_ready(page, timeout_ms: int) -> None:
    """As conftest.wait_for_app: connected, script state notRunning, no running icon."""
    await page.wait_for_selector(APP_CONNECTED, state="attached", timeout=timeout_ms)
    await page.wait_for_selector(APP_IDLE, state="attached", timeout=timeout_ms)
    await page.wait_for_selector(RUNNING_ICON, state="detached", timeout=timeout_ms)


async def _first_ready_with_title(page, start: int, title: str, timeout_ms: int) -> float:
    """performance.now() of the first ready transition at index >= start whose h1 is `title` (waits for it)."""
    predicate = f"window.__readyTitles.slice({start}).some((t) => t.startsWith({json.dumps(title)}))"
    await page.wait_for_function(predicate, timeout=timeout_ms)
    times, titles = await page.evaluate("[window.__readyTimes, window.__readyTitles]")
    for when, shown in zip(times[start:], titles[start:], strict=True):
        if shown.startswith(title):
            return float(when)
    raise AssertionError("ready transition vanished")  # cannot happen: the predicate held


async def _switch(page, name: str, timeout_ms: int) -> float:
    """Click the sidebar link to page `name`; return seconds from the click until that page was ready."""
    entry = page_entry(name)
    label, title = entry.title, entry.heading
    start = await page.evaluate("window.__readyTimes.length")
    link = page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True)
    await link.click(timeout=timeout_ms)
    clicked = await page.evaluate("window.__clickAt")
    ready_at = await _first_ready_with_title(page, start, title, timeout_ms)
    await _wait_ready(page, timeout_ms)  # and it is still ready (nothing rerun since)
    heading = page.get_by_test_id("stMain").locator("h1").first
    text = (await heading.text_content(timeout=timeout_ms) or "").strip()
    if not text.startswith(title):
        raise AssertionError(f"after clicking {label!r} the page shows {text!r}, not {title!r}")
    return max(0.0, (ready_at - float(clicked)) / 1000)


async def _collect_exceptions(page, result: UserResult) -> None:
    """Add the exception boxes this document has seen (call before leaving it: a new document starts afresh)."""
    with contextlib.suppress(Exception):
        result.exceptions.extend(await page.evaluate("window.__exceptions || []"))


@dataclass
class Plan:
    users: int = 30
    pages: list[str] = field(default_factory=lambda: list(DEFAULT_PAGES))
    rounds: int = 1
    ramp_s: float = 5.0
    think_s: float = 1.0
    pretrained_query: str = PRETRAINED_QUERY
    train_query: str = TRAIN_QUERY
    timeout_s: float = 240.0
    train_timeout_s: float = 600.0
    # True: after clicking Train every user stays on the Train page and watches the live progress (the worst
    # case for the server). False: every user goes to the home page and comes back to the Train page every
    # `poll_s` seconds until the model is there ("you can keep exploring other pages meanwhile").
    watch_training: bool = True
    poll_s: float = 3.0
    grace_min_s: float = 3.0
    grace_max_s: float = 60.0
    viewport: tuple[int, int] = (1400, 900)
    seed: int = 1


async def _drive(url: str, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    from playwright.async_api import async_playwright, expect

    rng = random.Random(plan.seed)
    timeout_ms = int(plan.timeout_s * 1000)
    train_timeout_ms = int(plan.train_timeout_s * 1000)
    results = [UserResult(i) for i in range(plan.users)]
    phase_times: dict[str, float] = {}

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(plan.users):
                context = await browser.new_context(viewport={"width": plan.viewport[0], "height": plan.viewport[1]})
                context.set_default_timeout(timeout_ms)
                context.set_default_navigation_timeout(timeout_ms)
                await context.add_init_script(INIT_JS)
                pages.append(await context.new_page())

            async def browse(result: UserResult, page, delay: float, thinks: list[float]) -> None:
                try:
                    result.phase = "initial load"
                    await asyncio.sleep(delay)
                    started = time.perf_counter()
                    await page.goto(f"{url}/?{plan.pretrained_query}")
                    await _first_ready_with_title(page, 0, LANDING.heading, timeout_ms)
                    await _wait_ready(page, timeout_ms)
                    result.initial_load_s = time.perf_counter() - started
                    for _ in range(plan.rounds):
                        for name, think in zip(plan.pages, thinks, strict=False):
                            await asyncio.sleep(think)
                            result.phase = f"switch to {name}"
                            seconds = await _switch(page, name, timeout_ms)
                            result.switches.append({"page": name, "seconds": seconds})
                    result.phase = "browsed"
                except Exception as error:
                    result.browse_error = f"{result.phase}: {type(error).__name__}: {str(error).splitlines()[0][:300]}"
                await _collect_exceptions(page, result)

            log(f"phase 1: {plan.users} users browse {len(plan.pages)} page(s) x {plan.rounds} round(s)")
            started = time.perf_counter()
            phase_times["browse_started_epoch"] = time.time()
            await asyncio.gather(
                *(
                    browse(
                        result,
                        page,
                        rng.uniform(0, plan.ramp_s),
                        [rng.uniform(0.5, 1.5) * plan.think_s for _ in range(len(plan.pages))],
                    )
                    for result, page in zip(results, pages, strict=True)
                )
            )
            phase_times["browse_s"] = time.perf_counter() - started
            phase_times["browse_ended_epoch"] = time.time()

            async def open_untrained(result: UserResult, page) -> None:
                if result.error:
                    return
                try:
                    result.phase = "open the untrained configuration"
                    await page.goto(f"{url}/{TRAIN_PAGE.url_path}?{plan.train_query}")
                    await _first_ready_with_title(page, 0, TRAIN_PAGE.heading, timeout_ms)
                    await _wait_ready(page, timeout_ms)
                    main = page.get_by_test_id("stMain")
                    await expect(main.get_by_role("button", name="Train this configuration")).to_be_visible(
                        timeout=timeout_ms
                    )
                    accuracy = main.get_by_test_id("stMetric").filter(has_text=ACCURACY_LABEL)
                    if await accuracy.count():
                        raise AssertionError("the configuration already has a model before anyone trained it")
                    result.phase = "ready to train"
                except Exception as error:
                    result.error = f"{result.phase}: {type(error).__name__}: {str(error).splitlines()[0][:300]}"

            log("phase 2: every user opens the same untrained configuration")
            await asyncio.gather(*(open_untrained(r, p) for r, p in zip(results, pages, strict=True)))

            async def click_train(result: UserResult, page) -> None:
                if result.error:
                    return
                try:
                    result.phase = "click Train"
                    button = page.get_by_test_id("stMain").get_by_role("button", name="Train this configuration")
                    await button.click(timeout=timeout_ms)
                    result.click_epoch_ms = await page.evaluate("window.__clickEpoch")
                except Exception as error:
                    result.error = f"{result.phase}: {type(error).__name__}: {str(error).splitlines()[0][:300]}"

            async def wait_model(result: UserResult, page) -> None:
                if result.error:
                    return
                try:
                    main = page.get_by_test_id("stMain")
                    accuracy = main.get_by_test_id("stMetric").filter(has_text=ACCURACY_LABEL)
                    if plan.watch_training:
                        result.phase = "watch the training"
                        await expect(accuracy).to_be_visible(timeout=train_timeout_ms)
                    else:
                        result.phase = "wait for the click to take"
                        train_button = main.get_by_role("button", name="Train this configuration")
                        await expect(train_button).to_have_count(0, timeout=timeout_ms)
                        result.phase = "explore other pages meanwhile"
                        deadline = time.monotonic() + plan.train_timeout_s
                        while True:
                            await _switch(page, LANDING.name, timeout_ms)
                            await asyncio.sleep(plan.poll_s)
                            await _switch(page, TRAIN_PAGE.name, timeout_ms)
                            if await accuracy.count():
                                break
                            if time.monotonic() > deadline:
                                raise TimeoutError(f"no trained model after {plan.train_timeout_s:.0f} s")
                    result.model_seen_at = time.time()
                    result.phase = "read the trained model's accuracy"
                    await _wait_ready(page, timeout_ms)
                    value = (await accuracy.get_by_test_id("stMetricValue").text_content() or "").strip()
                    if not PERCENT.match(value):
                        raise AssertionError(f"the accuracy metric reads {value!r}")
                    result.accuracy = value
                    result.phase = "done"
                except Exception as error:
                    result.error = f"{result.phase}: {type(error).__name__}: {str(error).splitlines()[0][:300]}"

            ready = sum(1 for r in results if not r.error)
            log(f"phase 3: {ready} user(s) click 'Train this configuration' at once")
            clicks_started = time.time()
            await asyncio.gather(*(click_train(r, p) for r, p in zip(results, pages, strict=True)))
            phase_times["clicks_started"] = clicks_started
            await asyncio.gather(*(wait_model(r, p) for r, p in zip(results, pages, strict=True)))
            phase_times["models_seen"] = time.time()

            for result, page in zip(results, pages, strict=True):
                await _collect_exceptions(page, result)
            return {"results": results, "phase_times": phase_times}
        finally:
            await browser.close()


def _stats(values: list[float]) -> dict[str, float | None]:
    """Count, median, 95th percentile (linear interpolation between the closest ranks), max and mean."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None, "mean": None}
    # statistics.quantiles needs two values; "inclusive" treats them as the whole population, as numpy does.
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {
        "count": len(values),
        "p50": cuts[49],
        "p95": cuts[94],
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def _run_in_thread(coroutine_factory: Callable[[], Any]) -> Any:
    """asyncio.run in a fresh thread, so it also works where the caller's thread has an event loop (pytest)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine_factory())
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target, name="loadtest-driver", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_loadtest(plan: Plan | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Start the server, drive the users, and return every figure plus `failures` (the correctness checks)."""
    plan = plan or Plan()
    if log is None:
        origin = time.perf_counter()

        def log(message: str) -> None:
            print(f"[{time.perf_counter() - origin:6.1f} s] {message}", file=sys.stderr, flush=True)

    known = [page.name for page in PAGES]
    unknown = [name for name in plan.pages if name not in known]
    if unknown:
        raise ValueError(f"unknown page(s) {unknown}; known: {known}")
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")

    workdir = Path(tempfile.mkdtemp(prefix="seq2seq-loadtest-"))
    cache_dir = workdir / "cache"
    cache_dir.mkdir()
    begun = time.perf_counter()
    try:
        watcher = SaveWatcher(cache_dir)
        watcher.start()
        log(f"starting streamlit (fresh cache {cache_dir}) ...")
        run_log = workdir / "script-runs.jsonl"  # one line per script run, written by the app (timed_run)
        with streamlit_server(cache_dir, workdir / "server.log", extra_env={"SEQ2SEQ_RUN_LOG": str(run_log)}) as server:
            started_s = time.perf_counter() - begun
            sampler = RssSampler(server.process.pid)
            sampler.start()
            log(f"server healthy at {server.url} after {started_s:.1f} s, RSS {tree_rss_mb(server.process.pid):.0f} MB")
            try:
                driven = _run_in_thread(lambda: _drive(server.url, plan, log))
                results: list[UserResult] = driven["results"]
                phase_times = driven["phase_times"]
                # A duplicate job queued behind the first would start once it ended: keep watching that long.
                train_seconds = None
                sidecars = sorted(cache_dir.glob("*.json"))
                for path in sidecars:
                    with contextlib.suppress(OSError, ValueError):
                        value = json.loads(path.read_text("utf-8")).get("train_seconds")
                        if isinstance(value, (int, float)):
                            train_seconds = max(train_seconds or 0.0, float(value))
                grace = min(plan.grace_max_s, max(plan.grace_min_s, 1.5 * (train_seconds or 0.0) + 2.0))
                log(f"all users done; watching the cache folder {grace:.1f} s more for duplicate training jobs")
                time.sleep(grace)
            finally:
                sampler.stop()
            server_log = server.log_text()
        watcher.stop()
        sidecars = sorted(p.name for p in cache_dir.glob("*.json"))
        runs = read_script_runs(run_log, phase_times.get("browse_started_epoch"), phase_times.get("browse_ended_epoch"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    switch_times = [s["seconds"] for r in results for s in r.switches]
    per_page: dict[str, list[float]] = {}
    for r in results:
        for s in r.switches:
            per_page.setdefault(s["page"], []).append(s["seconds"])
    initial = [r.initial_load_s for r in results if r.initial_load_s is not None]
    seen = [r.model_seen_at for r in results if r.model_seen_at is not None]
    clicks = [r.click_epoch_ms for r in results if r.click_epoch_ms is not None]
    exceptions = [{"user": r.index, **e} for r in results for e in r.exceptions]
    errors = [{"user": r.index, "error": r.browse_error} for r in results if r.browse_error]
    errors += [{"user": r.index, "error": r.error} for r in results if r.error]
    users_with_model = sum(1 for r in results if r.accuracy is not None)
    clicks_started = phase_times.get("clicks_started")
    summary: dict[str, Any] = {
        "users": plan.users,
        "pages": plan.pages,
        "rounds": plan.rounds,
        "pretrained_query": plan.pretrained_query,
        "train_query": plan.train_query,
        "watch_training": plan.watch_training,
        "server_start_s": round(started_s, 2),
        "page_switch_s": {k: _round(v) for k, v in _stats(switch_times).items()},
        "page_switch_by_page_s": {
            name: {k: _round(v) for k, v in _stats(values).items()} for name, values in per_page.items()
        },
        # The server's own share: how long each script run took in the server while the users browsed, wall
        # and CPU (the thread's CPU time; the rest is waiting, mostly for the GIL other sessions hold).
        "server_script_run_s": {k: _round(v) for k, v in _stats([r["seconds"] for r in runs]).items()},
        "server_script_cpu_s": {k: _round(v) for k, v in _stats([r["cpu_seconds"] for r in runs]).items()},
        "server_script_run_by_page_s": {
            name: {k: _round(v) for k, v in _stats([r["seconds"] for r in runs if r["page"] == name]).items()}
            for name in sorted({r["page"] for r in runs})
        },
        "initial_load_s": {k: _round(v) for k, v in _stats(initial).items()},
        "browse_phase_s": _round(phase_times.get("browse_s")),
        "click_spread_s": _round((max(clicks) - min(clicks)) / 1000) if clicks else None,
        "time_to_model_all_users_s": _round(max(seen) - clicks_started) if seen and clicks_started else None,
        "time_to_model_first_user_s": _round(min(seen) - clicks_started) if seen and clicks_started else None,
        "train_seconds_in_sidecar": _round(train_seconds),
        "training_jobs": watcher.count,
        "saves_started": watcher.starts,
        "save_watch": watcher.method,
        "models_in_cache": len(sidecars),
        "users_with_model": users_with_model,
        "accuracies": sorted({r.accuracy for r in results if r.accuracy}),
        "exceptions": len(exceptions),
        "exception_details": exceptions[:10],
        "user_errors": errors[:10],
        "user_error_count": len(errors),
        "server_tracebacks": server_log.count("Traceback (most recent call last)"),
        "server_log_tail": server_log[-2000:] if "Traceback" in server_log else "",
        "peak_rss_mb": round(sampler.peak_mb, 1),
        "final_rss_mb": round(sampler.last_mb, 1),
        "rss_samples": sampler.samples,
        "total_s": round(time.perf_counter() - begun, 1),
    }
    failures = []
    if summary["training_jobs"] != 1:
        failures.append(f"expected exactly 1 training job, saw {summary['training_jobs']} model save(s)")
    if users_with_model != plan.users:
        failures.append(f"{plan.users - users_with_model} of {plan.users} user(s) never saw the trained model")
    if exceptions:
        failures.append(f"{len(exceptions)} exception box(es) seen by users")
    if errors:
        failures.append(f"{len(errors)} user step(s) failed, first: {errors[0]['error']}")
    summary["failures"] = failures
    p95 = summary["page_switch_s"]["p95"]
    summary["targets"] = {
        "p95_page_switch_s": {"target": TARGET_P95_S, "value": p95, "met": p95 is not None and p95 <= TARGET_P95_S},
        "peak_rss_mb": {
            "target": TARGET_PEAK_RSS_MB,
            "value": summary["peak_rss_mb"],
            "met": summary["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
        },
    }
    return summary


def read_script_runs(path: Path, start: float | None, end: float | None) -> list[dict[str, Any]]:
    """The app's script-run records (explorer.ui.runtime.timed_run) that ended within [start, end]."""
    runs = []
    with contextlib.suppress(OSError):
        for line in path.read_text("utf-8").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if (start is None or record["at"] >= start) and (end is None or record["at"] <= end):
                    runs.append(record)
    return runs


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def report(summary: dict[str, Any]) -> str:
    """The figures in plain lines."""
    switch = summary["page_switch_s"]
    initial = summary["initial_load_s"]

    def s(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f} s"

    lines = [
        f"users: {summary['users']}, pages: {', '.join(summary['pages'])} x {summary['rounds']} round(s); "
        f"during training the users {'watch the live progress' if summary['watch_training'] else 'browse away'}",
        f"page switch (pretrained {summary['pretrained_query']}, {switch['count']} switches): "
        f"p50 {s(switch['p50'])}, p95 {s(switch['p95'])}, max {s(switch['max'])}",
        f"first page load per user: p50 {s(initial['p50'])}, p95 {s(initial['p95'])}, max {s(initial['max'])}",
    ]
    for name, stats in summary["page_switch_by_page_s"].items():
        lines.append(f"  -> {name:<11} p50 {s(stats['p50'])}  p95 {s(stats['p95'])}  max {s(stats['max'])}")
    run, cpu = summary["server_script_run_s"], summary["server_script_cpu_s"]
    lines.append(
        f"server script runs meanwhile ({run['count']}): p50 {s(run['p50'])}, p95 {s(run['p95'])}, "
        f"max {s(run['max'])}; CPU p50 {s(cpu['p50'])}, p95 {s(cpu['p95'])} (the rest of a switch is the browsers)"
    )
    lines += [
        f"train clicks spread over {s(summary['click_spread_s'])}; "
        f"first user had the model after {s(summary['time_to_model_first_user_s'])}, "
        f"all users after {s(summary['time_to_model_all_users_s'])} "
        f"(training itself {s(summary['train_seconds_in_sidecar'])})",
        f"training jobs: {summary['training_jobs']} (saves started {summary['saves_started']}, "
        f"models in cache {summary['models_in_cache']}, watched by {summary['save_watch']})",
        f"users with the trained model: {summary['users_with_model']}/{summary['users']} "
        f"(accuracy shown: {', '.join(summary['accuracies']) or '–'})",
        f"exceptions seen: {summary['exceptions']}; user errors (timeouts ...): {summary['user_error_count']}; "
        f"server tracebacks: {summary['server_tracebacks']}",
        f"peak server RSS: {summary['peak_rss_mb']:.0f} MB (final {summary['final_rss_mb']:.0f} MB, "
        f"{summary['rss_samples']} samples)",
    ]
    for name, target in summary["targets"].items():
        lines.append(f"target {name} <= {target['target']}: {'met' if target['met'] else 'MISSED'} ({target['value']})")
    for detail in summary["exception_details"]:
        lines.append(f"exception (user {detail['user']}, {detail.get('page')}): {detail.get('text', '')[:200]}")
    for detail in summary["user_errors"]:
        lines.append(f"user {detail['user']} error: {detail['error']}")
    if summary["server_log_tail"]:
        lines.append("server log tail:\n" + summary["server_log_tail"])
    lines.append("RESULT: " + ("FAIL: " + "; ".join(summary["failures"]) if summary["failures"] else "PASS"))
    lines.append(f"total {summary['total_s']:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=30, help="concurrent browser users (default 30)")
    parser.add_argument("--pages", default=",".join(DEFAULT_PAGES), help="pages to switch through, in order")
    parser.add_argument("--rounds", type=int, default=1, help="times each user goes through the pages")
    parser.add_argument("--ramp", type=float, default=5.0, help="users start spread over this many seconds")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between page switches (s)")
    parser.add_argument("--train-query", default=TRAIN_QUERY, help="URL query of the configuration to train")
    parser.add_argument(
        "--away",
        action="store_true",
        help="after clicking Train, users go to the home page and come back every few seconds, instead of "
        "watching the live progress on the Train page",
    )
    parser.add_argument("--train-timeout", type=float, default=600.0, help="how long users wait for the model (s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    parser.add_argument("--strict", action="store_true", help="also fail (exit 2) when a target is missed")
    args = parser.parse_args(argv)
    plan = Plan(
        users=args.users,
        pages=[p.strip() for p in args.pages.split(",") if p.strip()],
        rounds=args.rounds,
        ramp_s=args.ramp,
        think_s=args.think,
        train_query=args.train_query,
        watch_training=not args.away,
        train_timeout_s=args.train_timeout,
    )
    # `timeout` or Ctrl-C: unwind normally, so that the server's process group is ended.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
