"""Simulated students: one browser tab each, as the server sees it, for a few kilobytes and no rendering.

A `Student` speaks Streamlit's own protocol: the protobuf messages Streamlit ships (`streamlit.proto`) over the
websocket at `/_stcore/stream`, with the `websockets` client Streamlit already depends on. What it sends is what
the browser's app sends (see Streamlit's `frontend/app/src/App.tsx`, `sendRerunBackMsg`, `handleAutoRerun`):

- **Opening a link** connects and asks for a run with the link's query string and page name (the path).
- **Switching pages** asks for a run of the page's script hash, from the `navigation` message.
- **Widget states.** Like the browser, the student reports the value of every widget the last run drew with
  every request: the value the server last set (`set_value`), else the widget's default, as the browser's
  widgets register theirs when drawn. Without them the server resets every widget to its default on the next
  run (measured: the sidebar's picked task and architecture were lost on the first page switch).
- **Changing a control** asks for a rerun of the same page with a changed query string and without the state of
  the widget bound to that parameter (`query_param_key`), so the server seeds the widget from the URL: this
  app binds its page controls to the URL, which is how a shared link sets them.
- **Clicking a button** sends its trigger; a button drawn inside a fragment reruns only that fragment.
- **Fragment timers.** The server sends `auto_rerun` for a fragment with `run_every`; the student then asks for
  that fragment's rerun at that interval, as the browser does, until the next full run or page switch clears it.
- **Cached messages.** Elements of 10 kB or more carry a hash; the student keeps them, reports the hashes with
  every request, and resolves the server's `ref_hash` references from its cache (dropping what no full run
  used for `max_cached_message_age` runs, as the browser does, but never a hash a pending request sent). A
  reference it cannot resolve is an error.
- The URL follows the server: `page_info_changed` replaces the query string, as it does the browser's address.

Every request is timed from the message sent to the server's `script_finished` that completes it: a full run for
a link, page or control, the fragment's run for a fragment timer or a button in a fragment. A request that a
later one supersedes before its run finished (the server folds them into one run) is counted as superseded, not
timed; a fragment timer that fires while a full run is due is absorbed into it. Every script run is recorded
(`new_session` starts one, `script_finished` ends it), so a test can check the client saw exactly the runs the
server logged (`explorer.ui.runtime`'s `SEQ2SEQ_RUN_LOG`). A closed connection, a page not found and a run that
ends badly are recorded in `errors`; a request or a wait that times out raises `StudentError`; exception boxes
the page shows are in `exceptions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

STREAM_PATH = "/_stcore/stream"
# How a run ended, by `ForwardMsg.ScriptFinishedStatus`.
FINISHED = {
    ForwardMsg.FINISHED_SUCCESSFULLY: "finished",
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR: "compile-error",
    ForwardMsg.FINISHED_EARLY_FOR_RERUN: "rerun",
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY: "fragment-finished",
}
# What a page is asked for: a link opened, a page switch, a changed control (query), a click, a fragment timer.
ACTIONS = ("open", "page", "query", "click", "auto")
DEFAULT_CACHED_MESSAGE_AGE = 2


@dataclass
class Element:
    """One element the page shows: its type ("button", "metric", "exception", ...) and its text."""

    kind: str
    text: str = ""
    widget_id: str = ""
    fragment_id: str = ""
    value: str = ""  # a metric's value


@dataclass
class ScriptRun:
    """One script run the server made for this student: a full run, or fragments' reruns on their own."""

    fragment_ids: tuple[str, ...]
    started: float
    ended: float | None = None
    outcome: str = "running"  # then a FINISHED value
    drawn: int = 0  # delta messages it sent (a fragment's rerun asked for after its fragment went draws none)

    @property
    def is_fragment(self) -> bool:
        return bool(self.fragment_ids)


@dataclass
class Request:
    """One thing the student asked the server for, and how long until the run that answers it finished."""

    action: str
    target: str
    sent: float
    fragment_id: str = ""
    ended: float | None = None
    outcome: str = "pending"  # then "done", "superseded", "absorbed", "timeout" or "error"

    @property
    def latency_ms(self) -> float | None:
        return None if self.ended is None or self.outcome != "done" else (self.ended - self.sent) * 1000


class StudentError(RuntimeError):
    """The server did something a browser would show as broken (or never answered)."""


@dataclass
class Student:
    """One simulated browser tab on `base_url` (e.g. "http://127.0.0.1:8501"); see the module docstring."""

    base_url: str
    name: str = "student"
    timeout_s: float = 120.0
    clock: Callable[[], float] = time.perf_counter
    session_id: str = ""
    query: str = ""
    page_hash: str = ""
    pages: dict[str, str] = field(default_factory=dict)  # url path ("" for the default page) -> script hash
    elements: dict[tuple[int, ...], Element] = field(default_factory=dict)
    runs: list[ScriptRun] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    received_bytes: int = 0

    def __post_init__(self) -> None:
        self._socket = None
        self._widgets: dict[str, WidgetState] = {}  # id -> the value the browser would report
        self._bound: dict[str, str] = {}  # query parameter -> id of the widget bound to it
        self._drawn_widgets: set[str] = set()  # widgets the current full run drew
        self._common_widgets: set[str] = set()  # widgets the main script draws (kept across page switches)
        self._main_hash = ""
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, asyncio.Task] = {}
        self._cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash -> (message, full runs since last used)
        self._max_age = DEFAULT_CACHED_MESSAGE_AGE
        self._touched: set[tuple[int, ...]] = set()  # what the full run under way drew
        self._run_touched: set[tuple[int, ...]] = set()  # what the run under way (full or fragment) drew
        self._changed = asyncio.Event()

    # ---- what the student does ---------------------------------------------------------------------------------

    async def open(self, link: str = "") -> Request:
        """Open `link` ("/attention?task=..." or "?task=...") in a fresh tab and wait for the page to be drawn."""
        parsed = urllib.parse.urlsplit(link)
        url = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if url.scheme == "https" else "ws"
        self._socket = await websockets.connect(
            f"{scheme}://{url.netloc}{STREAM_PATH}", subprotocols=["streamlit"], max_size=None, open_timeout=30
        )
        self._reader = asyncio.create_task(self._read())
        self.query = parsed.query
        return await self._ask("open", link, page_name=parsed.path.strip("/"))

    async def switch_page(self, url_path: str) -> Request:
        """Click the navigation's entry for the page at `url_path` ("" is the default page)."""
        if url_path not in self.pages:
            raise StudentError(f"{self.name}: no page at /{url_path} (pages: {sorted(self.pages)})")
        self._stop_timers()
        return await self._ask("page", url_path, page_hash=self.pages[url_path])

    async def set_query(self, **changes: str | None) -> Request:
        """Change page controls through the URL (None removes a parameter) and wait for the page's rerun."""
        params = dict(urllib.parse.parse_qsl(self.query, keep_blank_values=True))
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        self.query = urllib.parse.urlencode(params)
        for name in changes:
            self._widgets.pop(self._bound.get(name, ""), None)
        return await self._ask("query", self.query, page_hash=self.page_hash)

    async def click(self, label: str) -> Request:
        """Press the button labelled `label` (its first one on the page) and wait for the run it causes."""
        button = self.find("button", label)
        if button is None:
            raise StudentError(f"{self.name}: no button {label!r} on the page")
        trigger = WidgetState(id=button.widget_id, trigger_value=True)
        return await self._ask(
            "click", label, page_hash=self.page_hash, fragment_id=button.fragment_id, trigger=trigger
        )

    async def wait_for(self, kind: str, text: str, timeout_s: float | None = None) -> Element:
        """Wait until the page shows an element of `kind` whose text starts with `text` (e.g. a metric)."""
        await self._until(lambda: self.find(kind, text) is not None, f"no {kind} {text!r}", timeout_s)
        return self.find(kind, text)

    async def settle(self, timeout_s: float | None = None) -> None:
        """Wait until the run under way (if any) has finished, e.g. the one that drew what `wait_for` found."""
        await self._until(lambda: not self.runs or self.runs[-1].ended is not None, "a run still under way", timeout_s)

    async def _until(self, done: Callable[[], bool], failure: str, timeout_s: float | None = None) -> None:
        """Wait for the messages to make `done()` true; StudentError(failure) after the timeout or on a closed
        connection."""
        limit = timeout_s or self.timeout_s
        deadline = self.clock() + limit
        while not done():
            self._raise_if_closed()
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise StudentError(f"{self.name}: {failure} after {limit:.0f} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))

    async def close(self) -> None:
        """Close the tab: stop the timers and the connection."""
        self._stop_timers()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # ---- what the page shows -----------------------------------------------------------------------------------

    def find(self, kind: str, text: str = "") -> Element | None:
        """The first element of `kind` on the page whose text starts with `text`."""
        return next((e for e in self.shown() if e.kind == kind and e.text.startswith(text)), None)

    def shown(self) -> list[Element]:
        """The page's elements in drawing order."""
        return [self.elements[path] for path in sorted(self.elements)]

    @property
    def exceptions(self) -> list[str]:
        return [e.text for e in self.shown() if e.kind == "exception"]

    # ---- requests and their runs -------------------------------------------------------------------------------

    async def _ask(
        self,
        action: str,
        target: str,
        *,
        page_name: str = "",
        page_hash: str = "",
        fragment_id: str = "",
        trigger: WidgetState | None = None,
        wait: bool = True,
    ) -> Request:
        request = Request(action, target, self.clock(), fragment_id)
        if not fragment_id:  # a new full run supersedes what is still pending
            for pending in self.requests:
                if pending.outcome == "pending" and not pending.fragment_id:
                    pending.outcome = "superseded"
        self.requests.append(request)
        message = BackMsg()
        rerun = message.rerun_script
        rerun.query_string = self.query
        rerun.page_name = page_name
        rerun.page_script_hash = page_hash
        rerun.fragment_id = fragment_id
        rerun.is_auto_rerun = action == "auto"
        switching = bool(page_hash) and page_hash != self.page_hash
        rerun.widget_states.widgets.extend(  # a page switch keeps only the main script's widgets (the sidebar's)
            state
            for key, state in self._widgets.items()
            if (trigger is None or key != trigger.id) and (not switching or key in self._common_widgets)
        )
        if trigger is not None:
            rerun.widget_states.widgets.append(trigger)
        rerun.cached_message_hashes.extend(self._cache)
        self._raise_if_closed()
        await self._socket.send(message.SerializeToString())
        if wait:
            await self._answered(request)
        return request

    async def _answered(self, request: Request) -> None:
        try:
            await self._until(lambda: request.outcome != "pending", f"{request.action} {request.target}: no answer")
        except StudentError:
            if request.outcome == "pending":
                request.outcome = "timeout"
            raise

    def _settle(self, run: ScriptRun, next_fragments: tuple[str, ...] | None = None) -> None:
        """A run finished: answer the requests it answers.

        A run that ended early for a rerun leaves its requests to the next run, which `_new_run` passes in once
        it starts: Streamlit also says "early for rerun" of a run that did finish when the next run started
        before that status went out (`forward_msg_queue`), and a next run of other fragments answers none of
        its requests, so they are answered by this one."""
        if run.outcome == "rerun" and next_fragments is None:
            return
        ok = run.outcome in ("finished", "fragment-finished", "rerun")
        for request in self.requests:
            if request.outcome != "pending" or request.sent > run.started:
                continue
            if next_fragments is not None and (not next_fragments or request.fragment_id in next_fragments):
                continue  # the next run answers it
            if run.is_fragment and request.fragment_id in run.fragment_ids:
                request.outcome, request.ended = ("done" if ok else "error"), run.ended
            elif not run.is_fragment:
                if request.fragment_id:
                    request.outcome = "absorbed"  # the full run drew the fragment anew
                else:
                    request.outcome, request.ended = ("done" if ok else "error"), run.ended
        if not ok:
            self.errors.append(f"script run ended with {run.outcome}")

    # ---- fragment timers ---------------------------------------------------------------------------------------

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        old = self._timers.pop(fragment_id, None)
        if old is not None:
            old.cancel()
        self._timers[fragment_id] = asyncio.create_task(self._tick(fragment_id, interval))

    async def _tick(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._socket is None or self._closed():
                return
            await self._ask("auto", fragment_id, page_hash=self.page_hash, fragment_id=fragment_id, wait=False)

    def _stop_timers(self, fragment_id: str | None = None) -> None:
        for key in [fragment_id] if fragment_id else list(self._timers):
            task = self._timers.pop(key, None)
            if task is not None:
                task.cancel()

    # ---- the message loop --------------------------------------------------------------------------------------

    def _closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    def _raise_if_closed(self) -> None:
        if self._socket is None or self._closed():
            raise StudentError(f"{self.name}: the connection is closed ({'; '.join(self.errors) or 'by the server'})")

    async def _read(self) -> None:
        try:
            async for data in self._socket:
                self.received_bytes += len(data)
                message = ForwardMsg()
                message.ParseFromString(data)
                self._handle(message)
                self._changed.set()
        except websockets.ConnectionClosed as closed:
            self.errors.append(f"connection closed: {closed}")
        except Exception as error:  # a message this client cannot follow is the test's finding
            self.errors.append(f"{type(error).__name__}: {error}")
        finally:
            self._stop_timers()
            self._changed.set()

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "ref_hash":
            cached = self._cache.get(message.ref_hash)
            if cached is None:
                raise StudentError(f"the server referred to message {message.ref_hash}, which this tab never had")
            self._cache[message.ref_hash] = (cached[0], 0)
            resolved = ForwardMsg()
            resolved.CopyFrom(cached[0])
            resolved.metadata.CopyFrom(message.metadata)
            message, kind = resolved, resolved.WhichOneof("type")
        elif message.metadata.cacheable and message.hash:
            self._cache[message.hash] = (message, 0)
        if kind == "new_session":
            self._new_run(message)
        elif kind == "script_finished":
            run = self.runs[-1] if self.runs else None
            if run is None or run.ended is not None:
                raise StudentError("script_finished without a run")
            run.ended, run.outcome = self.clock(), FINISHED.get(message.script_finished, "unknown")
            if run.outcome == "finished":
                for path in set(self.elements) - self._touched:  # what this full run no longer draws
                    del self.elements[path]
                for key in set(self._widgets) - self._drawn_widgets:
                    del self._widgets[key]
                self._common_widgets &= self._drawn_widgets
            elif run.outcome == "fragment-finished":  # what the fragments drew before and no longer draw
                self._drop_stale(run.fragment_ids)
            self._settle(run)
            if run.outcome == "finished":
                self._age_cache()
        elif kind == "delta":
            self._delta(message)
        elif kind == "navigation":
            self.pages = {page.url_pathname: page.page_script_hash for page in message.navigation.app_pages}
            self.page_hash = message.navigation.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query = message.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._start_timer(message.auto_rerun.fragment_id, message.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            evicted = tuple(message.stop_auto_rerun.fragment_ids)  # fragments the server no longer has
            for fragment_id in evicted:
                self._stop_timers(fragment_id)
            self._drop_stale(evicted)
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {message.page_not_found.page_name}")

    def _new_run(self, message: ForwardMsg) -> None:
        session = message.new_session
        fragments = tuple(message.metadata.run.fragment_ids)
        if self.runs and self.runs[-1].outcome == "rerun":
            self._settle(self.runs[-1], next_fragments=fragments)
        self._run_touched = set()
        self.runs.append(ScriptRun(fragments, self.clock()))
        self.session_id = session.initialize.session_id or self.session_id
        self.page_hash = session.page_script_hash or self.page_hash
        self._main_hash = session.main_script_hash or self._main_hash
        if session.config.max_cached_message_age:
            self._max_age = session.config.max_cached_message_age
        if not fragments:  # a full run: it redraws everything and sets its fragments' timers anew
            self._stop_timers()
            self._touched = set()
            self._drawn_widgets = set()

    def _drop_stale(self, fragment_ids: tuple[str, ...]) -> None:
        """Forget the elements of `fragment_ids` that the run under way has not drawn."""
        stale = [p for p, e in self.elements.items() if e.fragment_id in fragment_ids and p not in self._run_touched]
        for path in stale:
            del self.elements[path]

    def _age_cache(self) -> None:
        """After a full run: forget the cached messages no run used for `max_cached_message_age` full runs. Not
        while a request is pending: it promised the server the hashes it sent, and the server may still refer
        to them."""
        if any(request.outcome == "pending" for request in self.requests):
            return
        for key, (cached, age) in list(self._cache.items()):
            if age + 1 > self._max_age:
                del self._cache[key]
            else:
                self._cache[key] = (cached, age + 1)

    def _delta(self, message: ForwardMsg) -> None:
        delta = message.delta
        if self.runs:
            self.runs[-1].drawn += 1
        path = tuple(message.metadata.delta_path)
        self._touched.add(path)
        self._run_touched.add(path)
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type") or ""
        body = getattr(element, kind, None)
        text = ""
        for name in ("label", "body", "message", "text"):
            value = getattr(body, name, None)
            if isinstance(value, str) and value:
                text = value
                break
        widget_id = getattr(body, "id", "")
        widget_id = widget_id if isinstance(widget_id, str) else ""
        value = body.body if kind == "metric" else ""
        if kind == "metric":
            text = body.label
        self.elements[path] = Element(kind, text, widget_id, delta.fragment_id, value)
        if widget_id:
            self._widget_drawn(kind, body, widget_id)
            if message.metadata.active_script_hash == self._main_hash:
                self._common_widgets.add(widget_id)

    def _widget_drawn(self, kind: str, body, widget_id: str) -> None:
        """Keep the value the browser's widget would report: its first value, then whatever the server sets."""
        self._drawn_widgets.add(widget_id)
        key = getattr(body, "query_param_key", "")
        if key:
            self._bound[key] = widget_id
        if widget_id in self._widgets and not getattr(body, "set_value", False):
            return
        state = widget_value(kind, body)
        if state is not None:
            state.id = widget_id
            self._widgets[widget_id] = state


def _has(body, name: str) -> bool:
    try:
        return body.HasField(name)
    except ValueError:  # a repeated or non-optional field
        return bool(getattr(body, name, None))


def widget_value(kind: str, body) -> WidgetState | None:
    """The state a browser reports for a widget the server drew (None for those that report only when used:
    buttons, downloads, chart and table selections)."""
    state = WidgetState()
    if kind in ("selectbox", "radio"):
        if _has(body, "raw_value"):
            state.string_value = body.raw_value
        elif _has(body, "default") and body.options:
            state.string_value = body.options[body.default]
        else:
            return None
    elif kind == "number_input":
        state.double_value = body.value if _has(body, "value") else body.default
    elif kind == "slider":
        if body.type == body.SELECT_SLIDER:
            values = list(body.raw_value) if body.set_value else [body.options[int(i)] for i in body.default]
            state.string_array_value.data.extend(values)
        else:
            state.double_array_value.data.extend(list(body.value) if body.set_value else list(body.default))
    elif kind == "multiselect":
        values = list(body.raw_values) if body.set_value else [body.options[i] for i in body.default]
        state.string_array_value.data.extend(values)
    elif kind == "checkbox":
        state.bool_value = body.value if body.set_value else body.default
    elif kind in ("text_input", "text_area"):
        state.string_value = body.value if _has(body, "value") else body.default
    else:
        return None
    return state
