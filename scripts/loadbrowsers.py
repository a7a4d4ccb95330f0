"""Real browser users for the classroom load test: a few headless Chromium tabs, driven end to end.

The load test's students are simulated (`scripts/loadclient.py` speaks Streamlit's websocket protocol). Beside
them, a few real browsers walk the same journey, to show that the simulated students behave like browsers: the
same pages, the same script runs. `run_browser_users` is the one entry point; it runs in the caller's asyncio
event loop, next to the simulated students.

Each user is one browser context (its own cookies and Streamlit session) in one shared Chromium process
(Debian's `/usr/bin/chromium`: Playwright's own browser download cannot be fetched here). A user:

1. opens `url + link` and waits until the link's page is ready;
2. switches through `pages` with the sidebar navigation, timing each switch from the click until the new
   page is ready;
3. with `train_label`: waits for `start_event`, so that every user (browser or simulated) presses at once,
   clicks the button with that label and waits until an element whose whole text is `model_text` (the
   trained model's metric label, say) is shown: a sentence that merely mentions it does not count.

"Ready" is measured inside the page, by an init script installed before the app's own: the app's script state is
`notRunning`, no "Running..." icon is shown, and the main area's h1 is the page's heading (the registry's
`AppPage.heading`). The page's own clock is used because the Python side shares its event loop with many
simulated students and would add their scheduling delay to every figure. The same script records every
exception box that ever appeared, even one that a later run removed.

The tab's websocket frames are read too (Playwright reports every frame the page receives): the `new_session`
message that starts every script run carries the Streamlit session id, which the server's run log
(`SEQ2SEQ_RUN_LOG`, see `explorer.ui.runtime.timed_run`) records per run, and the `script_finished` messages
say how each run ended. So the caller can match each browser's runs with the server's lines for its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from loadclient import FINISHED
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer.ui.pages import page_at, page_entry

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
# Wide enough that Streamlit shows the sidebar navigation expanded (a narrow window collapses it).
VIEWPORT = {"width": 1400, "height": 900}
STREAM_PATH = "/_stcore/stream"

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
APP_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
RUNNING_ICON = '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'
EXCEPTION = '[data-testid="stException"]'


# Installed in every page before the app's own scripts. It records, in the page's own clock (performance.now(),
# milliseconds since the navigation started):
#  - the last click (__clickAt),
#  - every transition to "ready" (script state notRunning and no running icon) with the h1 shown at that moment,
#  - every exception box that ever appeared, even one that went away again.
INIT_JS = """
(() => {
  const IDLE = __IDLE__, RUNNING = __RUNNING__, EXC = __EXCEPTION__;
  window.__ready = false;
  window.__readyTimes = [];
  window.__readyTitles = [];
  window.__clickAt = null;
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
        window.__exceptions.push((box.textContent || "").slice(0, 500));
      }
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true,
                                                 attributeFilter: ["data-test-script-state"]});
  document.addEventListener("click", () => { window.__clickAt = performance.now(); }, true);
})();
"""
INIT_JS = (
    INIT_JS.replace("__IDLE__", json.dumps(APP_IDLE))
    .replace("__RUNNING__", json.dumps(RUNNING_ICON))
    .replace("__EXCEPTION__", json.dumps(EXCEPTION))
)


@dataclass
class SeenRun:
    """One script run as the tab saw it on the websocket, from its `new_session` to its `script_finished`."""

    started: float  # time.time() when this process read its `new_session` (later than the server sent it)
    fragment_ids: tuple[str, ...]  # empty for a full run
    outcome: str = "running"  # then a FINISHED value, or "unreported" when the next run began first
    drawn: int = 0  # elements it sent: deltas, or references to elements the tab has cached


@dataclass
class BrowserUser:
    """What one real browser user did and saw."""

    name: str
    switches: list[tuple[str, float]] = field(default_factory=list)  # (page name, seconds from click to ready)
    opened_s: float | None = None  # seconds from the navigation's start (goto) to the link's page ready
    exceptions: list[str] = field(default_factory=list)  # texts of the exception boxes ever shown
    errors: list[str] = field(default_factory=list)  # what went wrong: a timeout, a missing link, ...
    got_model: bool = False  # it saw `model_text` after pressing `train_label` (train journeys only)
    model_s: float | None = None  # seconds from that click until `model_text` was shown
    session_id: str | None = None  # the Streamlit session id, from the first `new_session` message
    # Script runs seen on the websocket: `runs` counts every `new_session` (full runs and fragment runs alike),
    # `fragment_runs` those of fragments on their own, and `fragments_rerun` the fragments those runs were asked
    # to draw (Streamlit folds fragment requests queued together into one run; the server's run log writes a
    # "fragment" line per fragment drawn, a "run" line per full run). `finished` counts the `script_finished`
    # messages by how the run ended ("finished", "rerun", "fragment-finished", ...). These outcomes are the
    # runner's, not the page code's: a run whose code had finished when a rerun request was noticed ends
    # "rerun" here but "finished" in the run log. Compare counts with the log, not outcomes. `seen_runs` has
    # every run in order, to match against the log's lines when the counts differ. Two differences are known:
    # a fragment timer's request that crosses a full run which no longer draws that fragment gives a fragment
    # run in which Streamlit skips the vanished fragment (streamlit/streamlit#9080): it draws nothing and has no
    # log line; and a run still going when the tab closes is logged "stopped" but stays "running" here.
    runs: int = 0
    fragment_runs: int = 0
    fragments_rerun: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    seen_runs: list[SeenRun] = field(default_factory=list)

    @property
    def full_runs(self) -> int:
        return self.runs - self.fragment_runs


class _StreamTap:
    """Reads the ForwardMsgs a tab receives on Streamlit's websocket into its `BrowserUser`."""

    def __init__(self, user: BrowserUser) -> None:
        self.user = user
        self.unreadable = 0

    def attach(self, page: Any) -> None:
        page.on("websocket", self._on_websocket)

    @property
    def runs_in_flight(self) -> int:
        return sum(1 for run in self.user.seen_runs if run.outcome == "running")

    def _on_websocket(self, socket: Any) -> None:
        if urllib.parse.urlsplit(socket.url).path.endswith(STREAM_PATH):
            socket.on("framereceived", self._on_frame)

    def _on_frame(self, payload: bytes | str) -> None:
        # Playwright hands binary frames over as bytes and text frames as str. Streamlit sends only binary
        # frames; a text frame is still given a try, and one that is not a ForwardMsg is counted, not fatal.
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogateescape")
        message = ForwardMsg()
        try:
            message.ParseFromString(data)
        except DecodeError:
            self.unreadable += 1
            return
        kind = message.WhichOneof("type")
        user = self.user
        current = user.seen_runs[-1] if user.seen_runs else None
        if kind in ("delta", "ref_hash"):
            if current is not None:
                current.drawn += 1
        elif kind == "new_session":
            if current is not None and current.outcome == "running":
                # Seen now and then right after a fragment run: the next run began before its `script_finished`.
                current.outcome = "unreported"
            fragment_ids = tuple(message.metadata.run.fragment_ids)
            user.seen_runs.append(SeenRun(time.time(), fragment_ids))
            user.runs += 1
            if fragment_ids:
                user.fragment_runs += 1
                user.fragments_rerun += len(fragment_ids)
            session_id = message.new_session.initialize.session_id
            if session_id and user.session_id is None:
                user.session_id = session_id
            elif session_id and session_id != user.session_id:
                # The tab reconnected and the server did not keep its session: its later runs are logged under
                # another id. Rare enough to report rather than follow.
                user.errors.append(f"session id changed from {user.session_id} to {session_id}")
                user.session_id = session_id
        elif kind == "script_finished":
            outcome = FINISHED.get(message.script_finished, f"status-{message.script_finished}")
            if current is None or current.outcome != "running":
                user.errors.append(f"script_finished ({outcome}) without a run")
                return
            current.outcome = outcome
            user.finished[outcome] = user.finished.get(outcome, 0) + 1

    async def settle(self, timeout_s: float = 3.0) -> None:
        """Wait (a little) until every run this tab saw start has finished, so its counts are complete."""
        deadline = time.monotonic() + timeout_s
        while self.runs_in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


def _described(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


async def _wait_ready(page: Any, timeout_ms: int) -> None:
    """Connected, script state notRunning, no running icon (as tests/browser/conftest.py's wait_for_app)."""
    await page.wait_for_selector(APP_CONNECTED, state="attached", timeout=timeout_ms)
    await page.wait_for_selector(APP_IDLE, state="attached", timeout=timeout_ms)
    await page.wait_for_selector(RUNNING_ICON, state="detached", timeout=timeout_ms)


async def _ready_with_heading(page: Any, start: int, heading: str, timeout_ms: int) -> float:
    """performance.now() (ms) of the first ready transition at index >= `start` whose h1 is `heading`."""
    predicate = f"window.__readyTitles.slice({start}).some((t) => t.startsWith({json.dumps(heading)}))"
    await page.wait_for_function(predicate, timeout=timeout_ms)
    times, titles = await page.evaluate("[window.__readyTimes, window.__readyTitles]")
    return next(
        float(when) for when, shown in zip(times[start:], titles[start:], strict=True) if shown.startswith(heading)
    )


async def _open(page: Any, url: str, heading: str, timeout_ms: int) -> float:
    """Open `url`; return seconds from the navigation's start until the page was ready showing `heading`."""
    await page.goto(url, timeout=timeout_ms)
    ready_at = await _ready_with_heading(page, 0, heading, timeout_ms)
    await _wait_ready(page, timeout_ms)
    return ready_at / 1000  # the new document's clock starts with its navigation


async def _switch(page: Any, name: str, timeout_ms: int) -> float:
    """Click the sidebar entry of page `name`; return seconds from the click until that page was ready."""
    entry = page_entry(name)
    start = await page.evaluate("window.__readyTimes.length")
    link = page.get_by_test_id("stSidebarNav").get_by_text(entry.title, exact=True)
    await link.click(timeout=timeout_ms)
    clicked = await page.evaluate("window.__clickAt")
    ready_at = await _ready_with_heading(page, start, entry.heading, timeout_ms)
    await _wait_ready(page, timeout_ms)  # and it is still ready (nothing reran since)
    heading = page.get_by_test_id("stMain").locator("h1").first
    shown = (await heading.text_content(timeout=timeout_ms) or "").strip()
    if not shown.startswith(entry.heading):
        raise AssertionError(f"after clicking {entry.title!r} the page shows {shown!r}, not {entry.heading!r}")
    return max(0.0, (ready_at - float(clicked)) / 1000)


async def _journey(
    user: BrowserUser,
    page: Any,
    tap: _StreamTap,
    *,
    url: str,
    heading: str,
    pages: list[str],
    think: Callable[[], float],
    train_label: str | None,
    model_text: str | None,
    start_event: asyncio.Event | None,
    arrived: Callable[[], None],
    timeout_s: float,
    log: Callable[[str], None],
) -> None:
    """One user's walk; every failure ends the walk and is recorded in `user.errors`, never raised. `arrived` is
    called once, when the user waits for the start signal or has failed before it."""
    timeout_ms = int(timeout_s * 1000)
    step = "open the link"
    try:
        await asyncio.sleep(think())  # the users do not all arrive in the same instant
        user.opened_s = await _open(page, url, heading, timeout_ms)
        for name in pages:
            await asyncio.sleep(think())
            step = f"switch to {name}"
            user.switches.append((name, await _switch(page, name, timeout_ms)))
        if train_label is not None:
            step = "wait for the start signal"
            arrived()
            if start_event is not None:
                await start_event.wait()
            main = page.get_by_test_id("stMain")
            # The element whose whole text is `model_text` (a metric's label): prose that mentions it is no model.
            model = main.get_by_text(model_text or "", exact=True)
            step = f"click {train_label!r}"
            if model_text and await model.count():
                user.errors.append(f"{model_text!r} was shown before anyone pressed {train_label!r}")
            await main.get_by_role("button", name=train_label).click(timeout=timeout_ms)
            clicked = time.perf_counter()
            if model_text:
                step = f"wait for {model_text!r}"
                await model.first.wait_for(state="visible", timeout=timeout_ms)
                user.model_s = time.perf_counter() - clicked
                user.got_model = True
    except asyncio.CancelledError:
        raise
    except Exception as error:  # one user's failure is a finding, not the end of the test
        user.errors.append(f"{step}: {_described(error)}")
        log(f"{user.name}: {user.errors[-1]}")
    finally:
        arrived()
    with contextlib.suppress(Exception):  # the page may be gone: then its boxes are lost with it
        user.exceptions.extend(await page.evaluate("window.__exceptions || []"))
    await tap.settle()
    if tap.unreadable:
        user.errors.append(f"{tap.unreadable} websocket frame(s) were not ForwardMsgs")


async def _then_close(journey: Awaitable[None], context: Any) -> None:
    """Await the user's journey, then close its browser context (its tab and websocket) whatever happened."""
    try:
        await journey
    finally:
        with contextlib.suppress(Exception):
            await context.close()


async def run_browser_users(
    url: str,
    count: int,
    link: str,
    pages: list[str],
    *,
    think_s: float,
    train_label: str | None = None,
    model_text: str | None = None,
    start_event: asyncio.Event | None = None,
    ready_event: asyncio.Event | None = None,
    timeout_s: float = 120.0,
    log: Callable[[str], None] = print,
) -> list[BrowserUser]:
    """Drive `count` real browser users through `url + link`, then `pages`, then (optionally) training.

    `url` is the server ("http://127.0.0.1:8501"), `link` what a student opens ("/?task=copy-first-k&arch=bahdanau"
    or "/train?task=..."), `pages` page names from `explorer.ui.pages.PAGES`, visited in order with the sidebar
    navigation. Users pause `think_s` (±50 %, at random) before each action. With `train_label`, each user waits
    for `start_event` (when given; `ready_event` is set once every user waits for it or has failed), presses that
    button and waits up to `timeout_s` until an element whose text
    is exactly `model_text` (a metric's label; not prose that mentions it) shows. `timeout_s` also bounds every
    other wait. Each user's tab is closed as soon as its journey ends, so that its fragment timers stop loading
    the server while the others go on.

    Returns one `BrowserUser` per user, in order. A user's failure is recorded in its `errors`; this raises only
    when the browser itself cannot start (or on a `link`/`pages` name the registry does not know).
    """
    from playwright.async_api import async_playwright

    link_path = urllib.parse.urlsplit(link).path.strip("/")
    heading = page_at(link_path).heading  # a KeyError for a link to no page
    for name in pages:
        page_entry(name)  # a KeyError naming the valid ones
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")

    users = [BrowserUser(f"browser-{index + 1}") for index in range(count)]
    waiting: set[str] = set()

    def arrival(user: BrowserUser) -> Callable[[], None]:
        def arrived() -> None:
            waiting.add(user.name)
            if ready_event is not None and len(waiting) == count:
                ready_event.set()

        return arrived

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            walks = []
            for index, user in enumerate(users):
                try:
                    context = await browser.new_context(viewport=VIEWPORT)
                    await context.add_init_script(INIT_JS)
                    page = await context.new_page()
                except Exception as error:  # this user cannot start; the others go on
                    user.errors.append(f"open a browser context: {_described(error)}")
                    arrival(user)()
                    continue
                tap = _StreamTap(user)
                tap.attach(page)
                rng = random.Random(index)
                journey = _journey(
                    user,
                    page,
                    tap,
                    url=url.rstrip("/") + link,
                    heading=heading,
                    pages=pages,
                    think=lambda rng=rng: rng.uniform(0.5, 1.5) * think_s,
                    train_label=train_label,
                    model_text=model_text,
                    start_event=start_event,
                    arrived=arrival(user),
                    timeout_s=timeout_s,
                    log=log,
                )
                walks.append(_then_close(journey, context))
            log(f"{len(walks)} browser user(s) open {link} and visit {', '.join(pages) or 'no other page'}")
            await asyncio.gather(*walks)
        finally:
            await browser.close()
    done = sum(1 for user in users if not user.errors)
    log(f"browser users done: {done}/{count} without errors")
    return users
