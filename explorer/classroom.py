"""A class answering together: class rooms kept in the server process, keyed by a short code.

A teacher opens a room for a lesson (`open_class`) and gets a code such as "K7QM3X"; students who have the code
answer the lesson's questions (`Poll`) from their own browsers (`answer`); the teacher's projector shows the count
per choice as the answers arrive (`tally`), then reveals the model's answer (`reveal`).

What a room holds, and what it does not:
- the lesson's id, the step the teacher is on, and per question the answers as `{voter token: choice}` plus
  whether the answer has been revealed. A voter token is an opaque random id of a browser session; no name, no
  address, nothing about the person. One answer per voter per question: answering again replaces it.
- Nothing can be read or written without the code: every call takes it, and there is no way to list the rooms.
  An unknown code, a malformed one and the code of an expired room all give the same `None` (or `ClassNotFound`
  with the same message), so nobody can probe which codes once existed.
- Rooms expire on their own: after `SEQ2SEQ_CLASS_TTL_S` seconds without use (3 hours by default) or
  `MAX_AGE_S` after they were opened, whichever comes first; expired rooms are swept on access, there is no
  background thread. The registry is bounded so that a hostile client cannot grow the server's memory: at most
  `MAX_ROOMS` rooms (opening one more drops the least recently used), `MAX_VOTERS` voters and `MAX_POLLS`
  questions per room.

`ClassRegistry` is thread-safe (one lock guards it: Streamlit runs every browser session's script in its own
thread); `CLASSES` is the process-wide one the app uses, and the module-level functions are its methods. Time comes
from an injectable clock, so tests expire rooms without sleeping. `qr_png(link)` draws the student link as a QR
code. Nothing here imports Streamlit.
"""

from __future__ import annotations

import functools
import io
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno

# Codes use letters and digits that cannot be mistaken for one another when read off a projector (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# 31**6 is about 890 million codes: with the most rooms open, one guess in about 890,000 finds one.
CODE_LENGTH = 6
# The URL parameter that carries the code in a student's link.
CLASS_PARAM = "class"

TTL_ENV = "SEQ2SEQ_CLASS_TTL_S"
# A room nobody has used for this long is gone: longer than a double lesson, shorter than a school day.
DEFAULT_TTL_S = 3 * 60 * 60
# However busy, a room ends this long after it was opened: a projector left polling overnight does not keep it.
MAX_AGE_S = 12 * 60 * 60
MAX_ROOMS = 1000
MAX_VOTERS = 500
MAX_POLLS = 200
# Longest voter token, poll id and lesson id accepted: the app's are far shorter (a uuid's hex is 32 characters).
MAX_ID_LENGTH = 128

NOT_FOUND_MESSAGE = "No class is open with this code. Check the code, or ask your teacher for the class link."


class ClassroomError(Exception):
    """A request the registry refuses; its message is written for the person on the page, in plain words."""


class ClassNotFound(ClassroomError, LookupError):
    """The code names no open room: it was mistyped, never existed, was closed, or expired (one message for all)."""

    def __init__(self) -> None:
        super().__init__(NOT_FOUND_MESSAGE)


class ClassFull(ClassroomError):
    """The room has as many voters, or questions, as it may hold."""


class AnswerRefused(ClassroomError, ValueError):
    """The answer is not one of the question's choices, or the question's answer has been revealed already."""


@dataclass(frozen=True)
class Poll:
    """One question of a lesson step, as the class answers it."""

    id: str  # unique per lesson step, e.g. "attention-global/2"
    prompt: str  # "Which input step will output step 1 attend to most?"
    choices: tuple[str, ...]  # the labels students pick from, e.g. ("1", "2", "3") or ("yes", "no")
    answer: str | None = None  # the model's answer (one of the choices) once known; None if not computed
    explanation: str = ""  # one sentence shown with the model's answer

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_ID_LENGTH:
            raise ValueError(f"A poll id has 1 to {MAX_ID_LENGTH} characters, not {len(self.id)}.")
        if not self.choices or len(set(self.choices)) != len(self.choices):
            raise ValueError(f"Poll {self.id!r} needs distinct choices, not {self.choices!r}.")
        if self.answer is not None and self.answer not in self.choices:
            raise ValueError(f"Poll {self.id!r}: its answer {self.answer!r} is not one of {self.choices!r}.")


@dataclass(frozen=True)
class ClassView:
    """What the holder of a code may know about its room."""

    code: str
    lesson_id: str
    step: int  # the step the teacher is on, 1-based


@dataclass(frozen=True)
class Tally:
    """The class's answers to one question: a count for every choice (zeros included), in the poll's order."""

    poll_id: str
    counts: dict[str, int]
    voters: int  # how many answered with one of the poll's choices
    revealed: bool


@dataclass
class _Room:
    lesson_id: str
    step: int
    opened_at: float
    used_at: float
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # poll id -> voter token -> choice
    revealed: set[str] = field(default_factory=set)  # poll ids
    voters: set[str] = field(default_factory=set)  # every token that answered any poll, for the bound
    teacher_key: str | None = None  # the secret the teacher's session holds; None: whoever has the code leads


def class_ttl_seconds() -> float:
    """How long a room lives without use: `SEQ2SEQ_CLASS_TTL_S` when set to a positive number, else 3 hours."""
    try:
        seconds = float(os.environ.get(TTL_ENV, DEFAULT_TTL_S))
    except ValueError:
        return DEFAULT_TTL_S
    return seconds if seconds > 0 else DEFAULT_TTL_S


def normalize_code(text: str | None) -> str | None:
    """The code as the registry keys it, from what someone typed ("k7q m3x", " K7QM3X"): upper case, spaces and
    dashes dropped; None when the result cannot be a code (wrong length or a character outside the alphabet)."""
    if not isinstance(text, str) or len(text) > 4 * CODE_LENGTH:
        return None
    code = re.sub(r"[\s-]", "", text).upper()
    if len(code) != CODE_LENGTH or any(character not in CODE_ALPHABET for character in code):
        return None
    return code


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise ValueError(f"A {kind} has 1 to {MAX_ID_LENGTH} characters.")


class ClassRegistry:
    """The open class rooms of one server process, each reached only through its code.

    `ttl_s=None` reads `SEQ2SEQ_CLASS_TTL_S` on each use (so a test or a server started with it set gets short-lived
    rooms); `clock` returns seconds (monotonic by default); `make_code` is for tests that force a collision.
    """

    def __init__(
        self,
        ttl_s: float | None = None,
        max_age_s: float = MAX_AGE_S,
        max_rooms: int = MAX_ROOMS,
        max_voters: int = MAX_VOTERS,
        max_polls: int = MAX_POLLS,
        clock: Callable[[], float] = time.monotonic,
        make_code: Callable[[], str] | None = None,
    ) -> None:
        self._ttl_s = ttl_s
        self.max_age_s = max_age_s
        self.max_rooms = max_rooms
        self.max_voters = max_voters
        self.max_polls = max_polls
        self._clock = clock
        self._make_code = make_code or _random_code
        self._lock = threading.Lock()
        # Least recently used first: opening a room past the bound drops the first, and the idle sweep stops at the
        # first room still in use.
        self._rooms: OrderedDict[str, _Room] = OrderedDict()

    @property
    def ttl_s(self) -> float:
        return self._ttl_s if self._ttl_s is not None else class_ttl_seconds()

    # --- The teacher's side ------------------------------------------------------------------------------------

    def open_class(self, lesson_id: str, step: int, teacher_key: str | None = None) -> str:
        """Open a room for `lesson_id` at `step` (1-based); its code, unique among the open rooms. With a
        `teacher_key`, only a caller that gives it may move, reveal or close the room (the students have the code,
        and the code alone must not let one of them end the class)."""
        _check_id("lesson id", lesson_id)
        if teacher_key is not None:
            _check_id("teacher key", teacher_key)
        with self._lock:
            now = self._clock()
            self._sweep(now)
            while len(self._rooms) >= self.max_rooms:
                self._rooms.popitem(last=False)
            for _ in range(100):
                code = self._make_code()
                if code not in self._rooms:
                    break
            else:  # only a broken code maker repeats itself this often: 1000 rooms fill a millionth of the codes
                raise RuntimeError("Could not find an unused class code.")
            self._rooms[code] = _Room(
                lesson_id=lesson_id, step=int(step), opened_at=now, used_at=now, teacher_key=teacher_key
            )
            return code

    def is_teacher(self, code: str | None, teacher_key: str | None) -> bool:
        """Whether `teacher_key` leads the open room under `code` (False for a code that names no room)."""
        with self._lock:
            try:
                room = self._room(code)
            except ClassNotFound:
                return False
            return room.teacher_key is None or (
                teacher_key is not None and secrets.compare_digest(room.teacher_key, teacher_key)
            )

    def _teachers_room(self, code: str, teacher_key: str | None) -> _Room:
        """The room under `code` for its teacher; ClassNotFound for anyone else (as if there were none)."""
        room = self._room(code)
        if room.teacher_key is not None and (
            teacher_key is None or not secrets.compare_digest(room.teacher_key, teacher_key)
        ):
            raise ClassNotFound()
        return room

    def set_step(self, code: str, step: int, lesson_id: str | None = None, teacher_key: str | None = None) -> None:
        """Move the room to the teacher's step (and lesson, when the teacher switched lessons)."""
        with self._lock:
            room = self._teachers_room(code, teacher_key)
            room.step = int(step)
            if lesson_id is not None:
                _check_id("lesson id", lesson_id)
                room.lesson_id = lesson_id

    def reveal(self, code: str, poll_id: str, teacher_key: str | None = None) -> None:
        """Show the model's answer to the class: from now on the question takes no answers."""
        _check_id("poll id", poll_id)
        with self._lock:
            room = self._teachers_room(code, teacher_key)
            self._make_room_for_poll(room, poll_id)
            room.revealed.add(poll_id)

    def close(self, code: str, teacher_key: str | None = None) -> bool:
        """End the room now, with its answers; whether it was open (and this caller its teacher)."""
        with self._lock:
            try:
                self._teachers_room(code, teacher_key)
            except ClassNotFound:
                return False
            return self._rooms.pop(normalize_code(code), None) is not None

    def tally(self, code: str, poll: Poll) -> Tally:
        """The class's answers to `poll` so far: a count per choice, zeros included, in the poll's order."""
        with self._lock:
            room = self._room(code)
            answers = room.answers.get(poll.id, {})
            counts = dict.fromkeys(poll.choices, 0)
            for choice in answers.values():
                # An answer given to an earlier version of the question (other choices) is not counted.
                if choice in counts:
                    counts[choice] += 1
            return Tally(poll.id, counts, sum(counts.values()), poll.id in room.revealed)

    # --- The students' side ------------------------------------------------------------------------------------

    def find(self, code: str | None) -> ClassView | None:
        """The room's lesson and step, or None for a code that names no open room (whatever the reason)."""
        with self._lock:
            try:
                room = self._room(code)
            except ClassNotFound:
                return None
            return ClassView(normalize_code(code) or "", room.lesson_id, room.step)

    def answer(self, code: str, poll: Poll, voter: str, choice: str) -> None:
        """Record `voter`'s answer to `poll` (replacing their earlier one). Refused, with a plain message, for a
        choice outside the poll's, after the reveal, or when the room holds as many voters as it may."""
        _check_id("voter token", voter)
        if choice not in poll.choices:
            shown = str(choice)[:40]
            raise AnswerRefused(f"{shown!r} is not one of the answers to choose from: {', '.join(poll.choices)}.")
        with self._lock:
            room = self._room(code)
            if poll.id in room.revealed:
                raise AnswerRefused("The teacher has revealed the answer to this question, so answers are closed.")
            if voter not in room.voters and len(room.voters) >= self.max_voters:
                raise ClassFull(f"This class is full: it takes answers from at most {self.max_voters} devices.")
            answers = self._make_room_for_poll(room, poll.id)
            room.voters.add(voter)
            answers[voter] = choice

    def answer_of(self, code: str, poll_id: str, voter: str) -> str | None:
        """`voter`'s current answer to the question, or None (also for a code that names no open room)."""
        with self._lock:
            try:
                room = self._room(code)
            except ClassNotFound:
                return None
            return room.answers.get(poll_id, {}).get(voter)

    def is_revealed(self, code: str, poll_id: str) -> bool:
        """Whether the teacher has revealed the answer to the question (False for a code that names no room)."""
        with self._lock:
            try:
                return poll_id in self._room(code).revealed
            except ClassNotFound:
                return False

    def open_count(self) -> int:
        """How many rooms are open (a number only: the rooms themselves are reached through their codes)."""
        with self._lock:
            self._sweep(self._clock())
            return len(self._rooms)

    # --- Under the lock ----------------------------------------------------------------------------------------

    def _room(self, code: str | None) -> _Room:
        """The open room under `code`, marked as just used; ClassNotFound otherwise. Call with the lock held."""
        now = self._clock()
        self._sweep(now)
        key = normalize_code(code)
        room = self._rooms.get(key) if key is not None else None
        if room is None:
            raise ClassNotFound()
        if now - room.opened_at >= self.max_age_s:
            del self._rooms[key]
            raise ClassNotFound()
        room.used_at = now
        self._rooms.move_to_end(key)
        return room

    def _sweep(self, now: float) -> None:
        """Drop the rooms idle for longer than the TTL: they sit first in the order of use."""
        ttl = self.ttl_s
        while self._rooms:
            code, room = next(iter(self._rooms.items()))
            if now - room.used_at < ttl:
                return
            del self._rooms[code]

    def _make_room_for_poll(self, room: _Room, poll_id: str) -> dict[str, str]:
        """The answers of `poll_id` in `room`, made if new, within the bound on questions per room."""
        _check_id("poll id", poll_id)
        answers = room.answers.get(poll_id)
        if answers is None:
            if len(room.answers) >= self.max_polls:
                raise ClassFull(f"This class has asked its {self.max_polls} questions; start a new class.")
            answers = room.answers[poll_id] = {}
        return answers


def _random_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# The app's registry: one per server process, shared by every browser session (and by AppTest runs in one process).
CLASSES = ClassRegistry()
open_class = CLASSES.open_class
set_step = CLASSES.set_step
reveal = CLASSES.reveal
close_class = CLASSES.close
tally = CLASSES.tally
find_class = CLASSES.find
answer = CLASSES.answer
answer_of = CLASSES.answer_of
is_revealed = CLASSES.is_revealed
is_teacher = CLASSES.is_teacher


# --- The student link ---------------------------------------------------------------------------------------------

# The URL parameter of the teacher's key, which the projector's link keeps (a reload keeps the lead of the class).
TEACHER_PARAM = "teach"
# Parameters of the teacher's own view that a student's link must not carry: the projector's large type and figure,
# and above all the teacher's key.
TEACHER_ONLY_PARAMS = ("present", "fig", TEACHER_PARAM)


def class_link(link: str, code: str) -> str:
    """`link` with the class code in its query (`class=CODE`, replacing any there) and without presenter mode."""
    parts = urlsplit(link)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name != CLASS_PARAM and name not in TEACHER_ONLY_PARAMS
    ]
    query.append((CLASS_PARAM, code))
    return urlunsplit(parts._replace(query=urlencode(query)))


# Medium error correction survives a projector's glare and a phone held at an angle; larger versions would only make
# the modules smaller. The quiet zone of 4 modules is what the QR standard asks for.
QR_ERROR = "m"
QR_BORDER = 4


def qr_code(link: str) -> segno.QRCode:
    """The QR code of `link` (never a Micro QR: phones' camera apps do not read those)."""
    return segno.make(link, error=QR_ERROR, micro=False)


@functools.lru_cache(maxsize=64)
def qr_png(link: str, scale: int = 10) -> bytes:
    """The QR code of `link` as PNG bytes, `scale` pixels per module; the same link is drawn once per process."""
    buffer = io.BytesIO()
    qr_code(link).save(buffer, kind="png", scale=scale, border=QR_BORDER)
    return buffer.getvalue()
