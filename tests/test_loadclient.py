"""The load test's simulated student (`scripts/loadclient.py`) against a real `streamlit run` of a tiny app.

The app (`tests/loadapp/app.py`) logs every script run through `explorer.ui.runtime`, as the real app does
(`SEQ2SEQ_RUN_LOG`), so these tests can hold the client to its promise: it reports the runs the server logs, no
more, no fewer, for one student or several at once. The others check what it shows against what the page drew:
a control changed through the URL, a click's run, a button inside a fragment, page headings, an element the
browser keeps in its cache, an exception box, and fragment timers that stop when their fragment goes.

Nothing here asserts a duration: waits have generous time limits and only fail when something never happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
APP = Path("tests") / "loadapp" / "app.py"  # from ROOT, where Streamlit reads `.streamlit/config.toml`
SERVER_START_TIMEOUT_S = 90
FIRST_RUN_TIMEOUT_S = 90  # the app's first run imports Keras through `explorer`
STEP_TIMEOUT_S = 30  # a request, or something the page should come to show
TIMER_INTERVAL_S = 0.3  # the app's fragment timers (`run_every`)


loadtest = load_script("loadtest")  # its server helpers start the tiny app
loadclient = load_script("loadclient")


# ---- the server ------------------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    run_log: Path
    output: Path

    def student(self, name: str = "student") -> Any:
        return loadclient.Student(self.url, name=name, timeout_s=STEP_TIMEOUT_S)

    def output_tail(self) -> str:
        return self.output.read_text(errors="replace")[-4000:] if self.output.exists() else ""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run tests/loadapp/app.py` on a free loopback port, logging its runs to a file of its own; its
    first run (which imports Keras) is made here, so that no test waits for it."""
    folder = tmp_path_factory.mktemp("loadclient-server")
    env = {
        "SEQ2SEQ_RUN_LOG": str(folder / "runs.jsonl"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:  # the cache folder: the app makes the job manager, which would look there
        with loadtest.streamlit_server(
            folder / "models", folder / "streamlit.log", SERVER_START_TIMEOUT_S, extra_env=env, script=str(APP)
        ) as up:
            served = Server(up.url, folder / "runs.jsonl", up.log_path)
            asyncio.run(first_run(served))
            yield served
    except RuntimeError as error:  # it exited, or never answered its health check
        pytest.fail(str(error))


async def first_run(server: Server) -> None:
    student = loadclient.Student(server.url, name="warm-up", timeout_s=FIRST_RUN_TIMEOUT_S)
    try:
        await student.open("/plain")
    except loadclient.StudentError as error:
        pytest.fail(f"the app's first run failed: {error}\n{server.output_tail()}")
    finally:
        await student.close()


# ---- the server's log ------------------------------------------------------------------------------------------


def logged_runs(server: Server, session_id: str, quiet_s: float = 0.5, timeout_s: float = 15) -> list[dict]:
    """The log's lines for one browser session, once no new one has come for `quiet_s`.

    The server writes a run's line as the run ends, a moment before or after the client hears of it; a run
    that a later request stopped ends at its next Streamlit call, after the client has moved on."""
    assert session_id, "the client never learned its session id"

    def read() -> list[dict]:
        if not server.run_log.exists():
            return []
        lines = (json.loads(line) for line in server.run_log.read_text().splitlines() if line.strip())
        return [line for line in lines if line["session"] == session_id]

    lines, quiet_since, deadline = read(), time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        latest = read()
        if len(latest) != len(lines):
            lines, quiet_since = latest, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
    return lines


# What each of the client's outcomes can stand for in the log, best match first (the log's "error" counts as
# "finished": Streamlit draws an uncaught exception in the page, and the run still ends as finished):
# - A run that finished finished.
# - "rerun" (FINISHED_EARLY_FOR_RERUN): a run that `st.rerun` ended early, or one that finished while the next
#   run started before its message went out: Streamlit then rewrites the unsent status to early-for-rerun
#   (`forward_msg_queue._update_script_finished_message`).
# - "running" (no script_finished ever came): a request for a full run arrived while this run was going, and
#   the server replaced its script runner ("fast reruns") and dropped the old runner's end: the old run then
#   stops at its next Streamlit call, or had just finished, or had just asked for a rerun.
STANDS_FOR = {
    "finished": ("finished",),
    "fragment-finished": ("finished",),
    "rerun": ("rerun", "finished"),
    "running": ("stopped", "rerun", "finished"),
}


def unpaired(client_outcomes: list[str], logged_outcomes: list[str]) -> tuple[list[str], list[str]]:
    """Pair each of the client's runs with a log line its outcome can stand for; returns what is left on each side.

    Each outcome's choices include those of the outcomes before it in `STANDS_FOR`, so pairing the most
    constrained runs first, each with its best match, pairs as many as any pairing can."""
    left = Counter(logged_outcomes)
    unmatched = []
    for outcome in sorted(client_outcomes, key=list(STANDS_FOR).index):
        match = next((logged for logged in STANDS_FOR[outcome] if left[logged] > 0), None)
        if match is None:
            unmatched.append(outcome)
        else:
            left[match] -= 1
    return unmatched, sorted(left.elements())


def assert_same_runs(student, lines: list[dict]) -> None:
    """The issue's promise: the student reports the runs the server logged for its session, no more, no fewer,
    full runs and fragments' own reruns each, with outcomes that agree (see `STANDS_FOR`)."""
    assert student.errors == [], student.errors
    for logged_kind, is_fragment in (("run", False), ("fragment", True)):
        client = [run.outcome for run in student.runs if run.is_fragment == is_fragment]
        logged = [line["outcome"] for line in lines if line["kind"] == logged_kind]
        seen_and_logged = f"{student.name}: {logged_kind}s seen {Counter(client)}, logged {Counter(logged)}"
        assert len(client) == len(logged), seen_and_logged
        ended = ["finished" if outcome == "error" else outcome for outcome in logged]
        assert unpaired(client, ended) == ([], []), seen_and_logged


# ---- what a student waits for ----------------------------------------------------------------------------------


async def until(student, condition: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
    """Wait until `condition()` holds; fails when the connection broke, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert student.errors == [], f"{student.name}, waiting for {what}: {student.errors}"
        assert time.monotonic() < deadline, f"{student.name}: {what} did not happen in {timeout_s} s"
        await asyncio.sleep(0.02)


def metric(student, label: str) -> str | None:
    shown = student.find("metric", label)
    return None if shown is None else shown.value


def ticks(student) -> int:
    """The clock's own reruns so far, as the page shows them (0 off the home page)."""
    return int(metric(student, "Ticks") or 0)


def heading(student) -> str | None:
    shown = student.find("heading")
    return None if shown is None else shown.text


async def wait_for_ticks(student, more: int) -> None:
    target = ticks(student) + more
    await until(student, lambda: ticks(student) >= target, f"the clock's {target}th tick")


async def journey(student) -> None:
    """A student's visit, with every kind of run: a link with a control in it, a changed control, a click, the
    clock's timer and its one rerun of the app, pages back and forth, a button inside a fragment. It ends on a
    page without a fragment, so that no timer's run can be under way when the tab closes."""
    try:
        await student.open("?colour=green")
        await student.wait_for("markdown", "The clock has rerun the app.")
        await wait_for_ticks(student, 1)
        await student.set_query(colour="blue")
        await student.click("Count")
        await student.switch_page("big")
        await student.click("Tap")
        await student.switch_page("")
        await wait_for_ticks(student, 2)
        await student.switch_page("plain")
    finally:
        await student.close()


# ---- the tests -------------------------------------------------------------------------------------------------


def test_a_student_reports_the_runs_the_server_logs(server):
    student = server.student()
    asyncio.run(journey(student))

    lines = logged_runs(server, student.session_id)
    assert_same_runs(student, lines)
    # The journey had every kind of run in it, the clock's one rerun of the app included.
    assert Counter((line["kind"], line["fragment"]) for line in lines)["fragment", "tapper"] == 1
    assert [line["outcome"] for line in lines if line["fragment"] == "clock"].count("rerun") == 1
    assert {line["page"] for line in lines} == {"Home", "Big", "Plain"}
    for request in student.requests:
        if request.action == "auto":  # a timer's request; a full run may draw the fragment before it is answered
            assert request.outcome in ("done", "absorbed"), request
        else:
            assert request.outcome == "done", request
            assert request.latency_ms > 0


def test_several_students_at_once_each_report_their_own_runs(server):
    students = [server.student(f"student {number}") for number in range(5)]

    async def together() -> None:
        await asyncio.gather(*(journey(student) for student in students))

    asyncio.run(together())

    assert len({student.session_id for student in students}) == len(students)
    for student in students:
        lines = logged_runs(server, student.session_id)
        assert_same_runs(student, lines)
        assert [line["outcome"] for line in lines if line["fragment"] == "clock"].count("rerun") == 1


def test_a_control_changed_through_the_url_changes_the_page(server):
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("?colour=green")
            assert metric(student, "Chosen colour") == "green"
            request = await student.set_query(colour="blue")
            assert request.outcome == "done"
            assert metric(student, "Chosen colour") == "blue"
            assert "colour=blue" in student.query
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []


def test_a_click_is_answered_by_the_full_run_it_causes(server):
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("")
            assert metric(student, "Clicks") == "0"
            request = await student.click("Count")
            assert request.outcome == "done"
            assert request.latency_ms > 0
            assert metric(student, "Clicks") == "1"
            answering = [run for run in student.runs if run.ended == request.ended]
            assert len(answering) == 1 and not answering[0].is_fragment, answering
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []


def test_a_button_inside_a_fragment_is_answered_by_that_fragment_s_run(server):
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("/big")
            runs_before = len(student.runs)
            request = await student.click("Tap")
            assert request.outcome == "done"
            assert request.latency_ms > 0
            assert request.fragment_id, "the button was drawn inside a fragment"
            assert metric(student, "Taps") == "1"
            # Only the fragment reran, and the rest of the page is still there.
            new_runs = student.runs[runs_before:]
            assert [run.fragment_ids for run in new_runs] == [(request.fragment_id,)]
            assert heading(student) == "Big"
        finally:
            await student.close()

    asyncio.run(visit())
    lines = logged_runs(server, student.session_id)
    assert [(line["kind"], line["fragment"], line["outcome"]) for line in lines] == [
        ("run", None, "finished"),
        ("fragment", "tapper", "finished"),
    ]


def test_switching_pages_changes_the_heading(server):
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("")
            assert set(student.pages) == {"", "big", "plain", "nested"}
            assert heading(student) == "Home"
            await student.switch_page("big")
            assert heading(student) == "Big"
            assert student.find("selectbox", "Colour") is None, "the home page's control is gone"
            await student.switch_page("")
            assert heading(student) == "Home"
            assert student.find("text", "Big:") is None
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []


def test_a_revisited_big_element_comes_from_the_tab_s_cache(server):
    """Streamlit sends a message of 10 kB or more once; while the tab says it still has it, the server sends
    only its hash, and the page must show it all the same. A browser keeps such a message until the script has
    finished `max_cached_message_age` (2) more full runs than when it last used it, so one page between
    visits keeps it."""
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("")
            before = student.received_bytes
            await student.switch_page("big")
            first_visit = student.received_bytes - before
            big_text = student.find("text", "Big:").text
            assert len(big_text) > 10_000
            assert first_visit > len(big_text)

            await student.switch_page("plain")
            before = student.received_bytes
            await student.switch_page("big")
            revisit = student.received_bytes - before
            assert student.find("text", "Big:").text == big_text
            assert revisit < len(big_text), "the text came over the wire again, not from the tab's cache"
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []


def test_a_big_element_is_shown_whether_or_not_the_tab_still_has_it(server):
    """Two full runs between visits: whether the tab still says it has the message or not, the page shows it.
    (A tab that says it has a message and then drops it before the server's reference arrives breaks.)"""
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("/big")
            big_text = student.find("text", "Big:").text
            await student.switch_page("")
            await student.set_query(colour="blue")
            await student.switch_page("big")
            assert student.find("text", "Big:").text == big_text
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []


def test_an_exception_on_the_page_is_reported(server):
    student = server.student()

    async def visit() -> None:
        try:
            request = await student.open("/plain?fail=yes")
            assert request.outcome == "done"
            assert student.exceptions == ["asked to fail"]
            await student.set_query(fail=None)
            assert student.exceptions == [], "the box goes once the page draws without failing"
            assert heading(student) == "Plain"
        finally:
            await student.close()

    asyncio.run(visit())
    lines = logged_runs(server, student.session_id)
    assert [(line["page"], line["outcome"]) for line in lines] == [("Plain", "error"), ("Plain", "finished")]
    # Streamlit draws an uncaught exception in the page and ends the run as finished.
    assert [run.outcome for run in student.runs] == ["finished", "finished"]


def test_fragment_timers_stop_after_switching_to_a_page_without_one(server):
    student = server.student()
    after_switch: dict[str, int] = {}

    async def visit() -> None:
        try:
            await student.open("")
            await wait_for_ticks(student, 2)  # the timer is running; the switch goes out just after a tick
            await student.switch_page("plain")
            after_switch["runs"], after_switch["requests"] = len(student.runs), len(student.requests)
            await asyncio.sleep(5 * TIMER_INTERVAL_S)  # several timer intervals
            assert len(student.runs) == after_switch["runs"]
            assert len(student.requests) == after_switch["requests"], "a timer still asked for a run"
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []
    lines = logged_runs(server, student.session_id)
    assert sum(line["kind"] == "fragment" for line in lines) >= 2
    assert (lines[-1]["kind"], lines[-1]["page"]) == ("run", "Plain"), "a fragment ran after the switch"
    assert len(lines) == after_switch["runs"]


def test_what_a_fragment_s_rerun_no_longer_draws_leaves_the_page(server):
    """After a fragment's own rerun a browser removes what the fragment drew before and no longer draws, as it
    does after a full run; a stale element would let `wait_for` find what the page no longer shows."""
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("/big")
            assert student.find("markdown", "Not tapped yet.") is not None
            await student.click("Tap")
            assert metric(student, "Taps") == "1"
            assert student.find("markdown", "Not tapped yet.") is None, "the note the fragment no longer draws"
        finally:
            await student.close()

    asyncio.run(visit())


def test_a_timer_stops_when_the_server_evicts_its_fragment(server):
    """The nested page's button stops drawing a timer fragment inside another fragment; the server tells the
    tab to stop that timer (`stop_auto_rerun`), and a browser then asks for no more of its runs."""
    student = server.student()

    async def visit() -> None:
        try:
            await student.open("/nested")
            # Clicked just after a pulse, the button's run is over well before the timer's next request.
            await until(student, lambda: int(metric(student, "Pulses") or 0) >= 2, "two pulses")
            request = await student.click("Hide the pulse")
            assert request.outcome == "done"
            await asyncio.sleep(5 * TIMER_INTERVAL_S)  # several timer intervals
            late = [asked for asked in student.requests if asked.action == "auto" and asked.sent > request.ended]
            assert late == [], "the evicted fragment's timer still fired"
        finally:
            await student.close()

    asyncio.run(visit())
    assert student.errors == []
    lines = logged_runs(server, student.session_id)
    assert (lines[-1]["fragment"], lines[-1]["outcome"]) == ("panel", "finished")
