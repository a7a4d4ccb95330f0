"""A class answering together, on the page: the teacher's panel on the projector and the student's on a phone.

The rooms and their answers live in the server process (`explorer.classroom`); this module draws them. The lesson
panel (`explorer.ui.lessons`) decides where:

- `teacher_class_panel(lesson_id, step, poll, student_link)`, in presenter mode while a lesson runs: "Start a
  class" opens a room, whose code is kept in the teacher's session and in the URL (`class`, so a reload keeps the
  class); then the code in large type, the QR code and text of the student link, the answers as they arrive (a bar
  chart redrawn every `TEACHER_EVERY_S` seconds until the reveal), "Reveal the model's answer" and "Close the
  class". The room follows the teacher's step.
- `student_class_panel(poll, lesson_id, step, go_to_step)`, when the student's link carries a class code: the
  question, "Send my answer", then (after the teacher's reveal) the model's answer beside theirs; a button to the
  step the class is on when the student is elsewhere. Their answer is keyed by `session_id()`, a random id of the
  browser session, nothing personal.
- `class_code_param()` / `joined_class()`: the link's code (checked), and the room it names.

Fragments rerun on their own only while something they show can change; when one finds that the teacher revealed
or moved on, it reruns the whole page (the lesson panel then shows the figure, or the way to the class's step), as
`explorer.ui.models.polled` does for training jobs. Whatever goes wrong with a room (a wrong code, an expired or
full class) is said in plain words; no traceback reaches the page.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable

import streamlit as st

from explorer.classroom import (
    CLASS_PARAM,
    CODE_LENGTH,
    NOT_FOUND_MESSAGE,
    TEACHER_PARAM,
    ClassroomError,
    ClassView,
    Poll,
    answer,
    answer_of,
    class_link,
    close_class,
    find_class,
    is_revealed,
    is_teacher,
    normalize_code,
    open_class,
    qr_png,
    reveal,
    set_step,
    tally,
)
from explorer.ui.figures import chart_spec
from explorer.ui.models import session_id
from explorer.ui.pages import PAGES
from explorer.ui.runtime import fragment, fragment_rerun

# Session-state key of the room this (teacher's) session opened.
TEACHER_CODE_KEY = "class_code"
TEACHER_KEY_KEY = "class_teacher_key"
# How often the projector's chart is redrawn while answers come in; a student's page checks for the reveal a little
# less often (thirty phones, one short fragment run each), and once revealed only watches for the teacher moving on.
TEACHER_EVERY_S = 2.0
STUDENT_EVERY_S = 3.0
STEP_WATCH_EVERY_S = 5.0

BAD_CODE_MESSAGE = (
    f"The link's class code is not one: a class code has {CODE_LENGTH} letters and digits. "
    "The lesson works on its own; ask your teacher for the class link to answer with the class."
)
CODE_STYLE = (
    "font-family: monospace; font-size: 4.5rem; font-weight: 700; letter-spacing: 0.25em; line-height: 1.1; "
    "margin: 0.2em 0"
)


def class_code_param() -> str | None:
    """The link's class code (`class`), normalised; None when there is none or it cannot be a code. Draws nothing."""
    raw = st.query_params.get(CLASS_PARAM)
    return normalize_code(raw) if raw else None


def joined_class() -> ClassView | None:
    """The open room the link's code names, or None (no code, a malformed one, or no such open room)."""
    code = class_code_param()
    return find_class(code) if code else None


def absolute_link(link: str) -> str:
    """`link` as a phone must open it: a link relative to the app's root ("/attention?...") joined to the address the
    teacher's browser sees (`st.context.url`, less the current page's path). Unchanged when it is already absolute,
    or when the address is unknown (AppTest)."""
    if "://" in link:
        return link
    url = st.context.url
    if not url:
        return link
    root = url.rstrip("/")
    for page in PAGES:
        if page.url_path and root.endswith(f"/{page.url_path}"):
            root = root.removesuffix(f"/{page.url_path}")
            break
    return f"{root}/{link.lstrip('/')}"


# --- The teacher's panel ------------------------------------------------------------------------------------------


def teacher_class_panel(lesson_id: str, step: int, poll: Poll | None, student_link: str) -> str | None:
    """The class panel on the projector for step `step` (1-based) of lesson `lesson_id`; `poll` is the step's
    question (None for a step without one), `student_link` the step's link for students (relative to the app's root,
    or absolute). Returns the open class's code, or None while no class is open."""
    try:
        return _teacher_panel(lesson_id, step, poll, student_link)
    except ClassroomError as error:  # the room expired or filled up between two calls
        st.warning(str(error))
        return None


def _teacher_panel(lesson_id: str, step: int, poll: Poll | None, student_link: str) -> str | None:
    state = st.session_state
    code = state.get(TEACHER_CODE_KEY) or class_code_param()
    key = state.get(TEACHER_KEY_KEY) or st.query_params.get(TEACHER_PARAM)
    room = find_class(code) if code else None
    if room is not None and not is_teacher(code, key):
        # A student's link with presenter mode added: the class is led from the teacher's projector alone.
        st.info(f"You are in class {room.code} as a student; the teacher leads it from the projector.")
        return None
    if code and room is None:
        st.info(f"The class {code} has ended (classes end after a few idle hours). Start a new one for this lesson.")
        _forget_class()
    if room is None:
        st.button(
            "Start a class",
            key="class_start",
            on_click=_start_class,
            args=(lesson_id, step),
            icon=":material/groups:",
            help="Students join with a code or a QR code and answer this lesson's questions on their own devices; "
            "nothing personal is stored, and the class ends on its own after a few idle hours.",
        )
        return None
    if (room.lesson_id, room.step) != (lesson_id, step):
        set_step(room.code, step, lesson_id, teacher_key=key)
    state[TEACHER_CODE_KEY], state[TEACHER_KEY_KEY] = room.code, key
    for param, value in ((CLASS_PARAM, room.code), (TEACHER_PARAM, key)):
        if value and st.query_params.get(param) != value:
            st.query_params[param] = value

    link = class_link(absolute_link(student_link), room.code)
    words, picture = st.columns([3, 2], vertical_alignment="center")
    with words:
        st.markdown("**Class code** — join with the QR code or the link below:")
        st.html(f'<div style="{CODE_STYLE}">{room.code}</div>')  # the code is made of the code alphabet only
        st.code(link, language=None, wrap_lines=True)
    picture.image(qr_png(link), caption="Scan to answer with the class", width=240)

    if poll is not None:
        revealed = tally(room.code, poll).revealed
        st.markdown(f"**{poll.prompt}**")
        fragment(_live_answers, run_every=None if revealed else TEACHER_EVERY_S)(room.code, poll)
        if revealed:
            _model_answer(poll)
        else:
            st.button(
                "Reveal the model's answer",
                key="class_reveal",
                on_click=_reveal,
                args=(room.code, poll.id, key),
                type="primary",
                icon=":material/visibility:",
            )
    st.button(
        "Close the class", key="class_close", on_click=_close_class, args=(room.code, key), icon=":material/close:"
    )
    return room.code


def _live_answers(code: str, poll: Poll) -> None:
    """The chart of the class's answers, redrawn on a timer until the reveal (then the page reruns once, without the
    timer, and shows the model's answer)."""
    from explorer.classviz import class_answers_chart, class_answers_frame  # pandas: not for the landing page

    try:
        counted = tally(code, poll)
    except ClassroomError as error:
        if fragment_rerun():  # the room ended while the chart watched it: the whole page says so
            st.rerun(scope="app")
        st.warning(str(error))
        return
    if fragment_rerun() and counted.revealed:
        st.rerun(scope="app")
    shown_answer = poll.answer if counted.revealed else None
    chart = class_answers_chart(class_answers_frame(counted), answer=shown_answer)
    st.vega_lite_chart(chart_spec(chart), width="stretch")
    people = "student has" if counted.voters == 1 else "students have"
    st.markdown(f"**{counted.voters} {people} answered.**")


def _model_answer(poll: Poll) -> None:
    if poll.answer is None:
        st.info("The model's answer to this question could not be worked out here; the page's figure shows it.")
    else:
        st.success(f"The model's answer: **{poll.answer}**. {poll.explanation}".strip())


def _start_class(lesson_id: str, step: int) -> None:
    key = secrets.token_urlsafe(12)  # the teacher's alone: kept in this session and the projector's URL
    code = open_class(lesson_id, step, teacher_key=key)
    st.session_state[TEACHER_CODE_KEY], st.session_state[TEACHER_KEY_KEY] = code, key
    st.query_params[CLASS_PARAM], st.query_params[TEACHER_PARAM] = code, key


def _reveal(code: str, poll_id: str, key: str | None) -> None:
    # A room that ended meanwhile is no error here: the run this click starts says so.
    with contextlib.suppress(ClassroomError):
        reveal(code, poll_id, teacher_key=key)


def _close_class(code: str, key: str | None) -> None:
    close_class(code, teacher_key=key)
    _forget_class()


def _forget_class() -> None:
    for name in (TEACHER_CODE_KEY, TEACHER_KEY_KEY):
        st.session_state.pop(name, None)
    for param in (CLASS_PARAM, TEACHER_PARAM):
        st.query_params.pop(param, None)


# --- The student's panel ------------------------------------------------------------------------------------------


def student_class_panel(
    poll: Poll | None,
    lesson_id: str | None = None,
    step: int | None = None,
    go_to_step: Callable[[str, int], None] | None = None,
) -> str | None:
    """The class panel of a student whose link carries a class code; draws nothing without one.

    `poll` is the question of the step the student is on (None for a step without one), `lesson_id` and `step`
    where the student is, and `go_to_step(lesson_id, step)` a button callback that opens a step (the lesson panel's
    `go_to_step`): when the class is elsewhere, a button "Go to the step the class is on" calls it. Returns the
    student's answer as the room holds it, or None (no class, no question, not answered yet).
    """
    raw = st.query_params.get(CLASS_PARAM)
    if not raw:
        return None
    code = normalize_code(raw)
    if code is None:
        st.warning(BAD_CODE_MESSAGE)
        return None
    room = find_class(code)
    if room is None:
        st.warning(f"{NOT_FOUND_MESSAGE} The lesson works on its own meanwhile.")
        return None
    elsewhere = lesson_id is not None and step is not None and (room.lesson_id, room.step) != (lesson_id, step)
    if elsewhere and go_to_step is not None:
        st.button(
            "Go to the step the class is on",
            key="class_follow",
            on_click=go_to_step,
            args=(room.lesson_id, room.step),
            icon=":material/groups:",
        )
    voter = session_id()
    revealed = poll is not None and is_revealed(code, poll.id)
    if elsewhere:
        every = None  # the button above shows the way; nothing here changes until the student follows it
    elif poll is not None and not revealed:
        every = STUDENT_EVERY_S
    else:
        every = STEP_WATCH_EVERY_S
    seen = (room.lesson_id, room.step, revealed)
    fragment(_student_answer, run_every=every)(code, poll, voter, seen)
    return answer_of(code, poll.id, voter) if poll is not None else None


def _student_answer(code: str, poll: Poll | None, voter: str, seen: tuple[str, int, bool]) -> None:
    """The question and the student's answer; on its own reruns, a page rerun once the teacher revealed or moved."""
    room = find_class(code)
    revealed = poll is not None and is_revealed(code, poll.id)
    if fragment_rerun() and (room is None or (room.lesson_id, room.step, revealed) != seen):
        st.rerun(scope="app")
    if room is None:
        st.warning(f"{NOT_FOUND_MESSAGE} The lesson works on its own meanwhile.")
        return
    st.caption(f"You are answering with class **{code}**.")
    if poll is None:
        return
    mine = answer_of(code, poll.id, voter)
    if revealed:
        _model_answer(poll)
        if mine is None:
            st.info("You did not answer this one.")
        elif poll.answer is not None:
            verdict = "It matches the model's." if mine == poll.answer else "The model answered otherwise."
            st.markdown(f"Your answer: **{mine}**. {verdict}")
        else:
            st.markdown(f"Your answer: **{mine}**.")
        return
    choice = st.radio(
        poll.prompt,
        poll.choices,
        index=poll.choices.index(mine) if mine in poll.choices else None,
        horizontal=True,
        key=f"class_choice_{poll.id}",
    )
    if st.button("Send my answer", key=f"class_send_{poll.id}", icon=":material/send:"):
        if choice is None:
            st.warning("Pick an answer first.")
        else:
            try:
                answer(code, poll, voter, choice)
            except ClassroomError as error:
                st.warning(str(error))
            mine = answer_of(code, poll.id, voter)
    if mine is not None:
        st.success(f"Sent: **{mine}**. You can change it until the teacher reveals.")
