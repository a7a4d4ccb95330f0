"""A class answering together (`explorer.classroom`, `explorer.ui.classroom`).

- the registry: codes are unique and readable, lookups forgive case and spaces, one answer per voter per question,
  choices are checked, tallies count every choice, reveal closes a question, rooms expire on their own (an injected
  clock) and stay within their bounds, and an expired code looks exactly like one that never existed;
- thirty students answering at the same moment lose no answer (repeated, since a race shows only sometimes);
- nothing is readable or writable without the code;
- the student link and its QR code;
- the chart of the answers;
- the app: a teacher's panel and several students' sessions (separate AppTests, one registry) answering, the
  teacher's chart counting them, the reveal reaching the students, and plain words for a bad or ended code.
"""

from __future__ import annotations

import io
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from explorer.classroom import (
    CLASS_PARAM,
    CODE_ALPHABET,
    CODE_LENGTH,
    NOT_FOUND_MESSAGE,
    AnswerRefused,
    ClassFull,
    ClassNotFound,
    ClassRegistry,
    Poll,
    class_link,
    class_ttl_seconds,
    normalize_code,
    qr_code,
    qr_png,
)

POLL = Poll("lesson-a/2", "Which input step will output step 1 attend to most?", ("1", "2", "3", "4"), answer="3")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> ClassRegistry:
    return ClassRegistry(ttl_s=60, max_age_s=600, max_rooms=5, max_voters=40, max_polls=3, clock=clock)


# --- The registry ---------------------------------------------------------------------------------------------


def test_codes_are_unique_and_made_of_the_readable_alphabet():
    registry = ClassRegistry(max_rooms=1000)
    codes = [registry.open_class("lesson-a", 1) for _ in range(500)]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert not set("01IOL") & set(CODE_ALPHABET)


def test_a_code_already_open_is_never_handed_out_again(clock):
    made = iter(["AAAAAA", "AAAAAA", "AAAAAA", "BBBBBB"])
    registry = ClassRegistry(clock=clock, make_code=lambda: next(made))
    assert registry.open_class("lesson-a", 1) == "AAAAAA"
    assert registry.open_class("lesson-a", 1) == "BBBBBB"


def test_lookups_forgive_case_spaces_and_dashes(registry):
    code = registry.open_class("lesson-a", 2)
    for typed in (code.lower(), f"  {code[:3]} {code[3:]} ", f"{code[:3]}-{code[3:]}"):
        view = registry.find(typed)
        assert view is not None and (view.code, view.lesson_id, view.step) == (code, "lesson-a", 2)
    registry.answer(code.lower(), POLL, "voter-1", "2")
    assert registry.tally(f" {code} ", POLL).counts["2"] == 1
    assert normalize_code("ABC") is None and normalize_code("ABCDE0") is None and normalize_code(None) is None


def test_answering_again_replaces_the_answer(registry):
    code = registry.open_class("lesson-a", 2)
    registry.answer(code, POLL, "voter-1", "1")
    registry.answer(code, POLL, "voter-1", "4")
    registry.answer(code, POLL, "voter-2", "4")
    counted = registry.tally(code, POLL)
    assert counted.counts == {"1": 0, "2": 0, "3": 0, "4": 2} and counted.voters == 2
    assert registry.answer_of(code, POLL.id, "voter-1") == "4"
    assert registry.answer_of(code, POLL.id, "nobody") is None


def test_a_choice_outside_the_question_is_refused_and_not_stored(registry):
    code = registry.open_class("lesson-a", 2)
    for wrong in ("5", "", "1; drop", None, 3):
        with pytest.raises(AnswerRefused, match="not one of the answers"):
            registry.answer(code, POLL, "voter-1", wrong)
    assert registry.tally(code, POLL).voters == 0
    assert registry.answer_of(code, POLL.id, "voter-1") is None
    with pytest.raises(ValueError):
        registry.answer(code, POLL, "", "1")  # a voter token is never empty
    with pytest.raises(ValueError):
        registry.answer(code, POLL, "x" * 1000, "1")


def test_a_tally_lists_every_choice_in_order_zeros_included(registry):
    code = registry.open_class("lesson-a", 2)
    counted = registry.tally(code, POLL)
    assert list(counted.counts) == list(POLL.choices) and set(counted.counts.values()) == {0}
    assert counted.voters == 0 and not counted.revealed
    registry.answer(code, POLL, "voter-1", "3")
    assert registry.tally(code, POLL).counts == {"1": 0, "2": 0, "3": 1, "4": 0}


def test_reveal_closes_the_question_and_keeps_the_answers(registry):
    code = registry.open_class("lesson-a", 2)
    registry.answer(code, POLL, "voter-1", "3")
    assert not registry.is_revealed(code, POLL.id)
    registry.reveal(code, POLL.id)
    assert registry.is_revealed(code, POLL.id) and registry.tally(code, POLL).revealed
    with pytest.raises(AnswerRefused, match="revealed"):
        registry.answer(code, POLL, "voter-1", "1")
    assert registry.tally(code, POLL).counts["3"] == 1
    other = Poll("lesson-a/3", "Will the decodes agree?", ("yes", "no"))
    registry.answer(code, other, "voter-1", "no")  # another question of the same class is still open


def test_the_teacher_moves_the_class_along(registry):
    code = registry.open_class("lesson-a", 1)
    registry.set_step(code, 3)
    assert registry.find(code).step == 3
    registry.set_step(code, 1, lesson_id="lesson-b")
    assert (registry.find(code).lesson_id, registry.find(code).step) == ("lesson-b", 1)


def test_a_room_expires_after_its_idle_time_and_use_keeps_it(registry, clock):
    code = registry.open_class("lesson-a", 1)
    clock.now += 50
    registry.answer(code, POLL, "voter-1", "1")  # use within the idle time keeps the room
    clock.now += 50
    assert registry.find(code) is not None
    clock.now += 61
    assert registry.find(code) is None
    assert registry.open_count() == 0
    with pytest.raises(ClassNotFound):
        registry.answer(code, POLL, "voter-1", "1")


def test_a_busy_room_still_ends_at_its_maximum_age(registry, clock):
    code = registry.open_class("lesson-a", 1)
    for _ in range(10):  # used every 55 s, so never idle for the 60 s TTL, until 550 s after it opened
        clock.now += 55
        registry.tally(code, POLL)
    clock.now += 55  # 605 s: past the 600 s maximum age
    with pytest.raises(ClassNotFound):
        registry.tally(code, POLL)


def test_idle_rooms_are_swept_when_anyone_uses_the_registry(registry, clock):
    old = [registry.open_class("lesson-a", 1) for _ in range(3)]
    clock.now += 61
    kept = registry.open_class("lesson-a", 1)
    assert registry.open_count() == 1
    assert registry.find(kept) is not None and all(registry.find(code) is None for code in old)


def test_the_ttl_comes_from_the_environment(monkeypatch, clock):
    monkeypatch.setenv("SEQ2SEQ_CLASS_TTL_S", "5")
    assert class_ttl_seconds() == 5
    registry = ClassRegistry(clock=clock)
    code = registry.open_class("lesson-a", 1)
    clock.now += 6
    assert registry.find(code) is None
    for wrong in ("soon", "-3", "0"):
        monkeypatch.setenv("SEQ2SEQ_CLASS_TTL_S", wrong)
        assert class_ttl_seconds() == 3 * 60 * 60
    monkeypatch.delenv("SEQ2SEQ_CLASS_TTL_S")
    assert class_ttl_seconds() == 3 * 60 * 60


def test_an_expired_code_looks_exactly_like_one_that_never_existed(registry, clock):
    expired = registry.open_class("lesson-a", 1)
    clock.now += 61
    closed = registry.open_class("lesson-a", 1)
    assert registry.close(closed)
    never = next(code for code in ("ZZZZZZ", "YYYYYY") if code not in (expired, closed))
    outcomes = []
    for code in (expired, closed, never, "bad", "", None):
        assert registry.find(code) is None
        assert registry.answer_of(code, POLL.id, "voter-1") is None and not registry.is_revealed(code, POLL.id)
        messages = set()
        for call in (
            lambda code=code: registry.answer(code, POLL, "voter-1", "1"),
            lambda code=code: registry.tally(code, POLL),
            lambda code=code: registry.reveal(code, POLL.id),
            lambda code=code: registry.set_step(code, 2),
        ):
            with pytest.raises(ClassNotFound) as error:
                call()
            messages.add(str(error.value))
        outcomes.append(messages)
    assert all(messages == {NOT_FOUND_MESSAGE} for messages in outcomes)


def test_opening_past_the_bound_drops_the_least_recently_used_room(registry, clock):
    codes = [registry.open_class("lesson-a", 1) for _ in range(5)]
    clock.now += 1
    registry.tally(codes[0], POLL)  # the first room is in use; the second is now the least recently used
    newest = registry.open_class("lesson-a", 1)
    assert registry.open_count() == 5
    assert registry.find(codes[1]) is None
    assert all(registry.find(code) is not None for code in [codes[0], *codes[2:], newest])


def test_a_room_takes_a_bounded_number_of_voters_and_questions(registry):
    code = registry.open_class("lesson-a", 1)
    for number in range(40):
        registry.answer(code, POLL, f"voter-{number}", "1")
    with pytest.raises(ClassFull, match="at most 40"):
        registry.answer(code, POLL, "voter-40", "1")
    registry.answer(code, POLL, "voter-0", "2")  # a voter already in the class may still change their answer
    assert registry.tally(code, POLL).voters == 40
    for number in (3, 4):  # with POLL's, three questions: as many as this registry allows a room
        registry.answer(code, Poll(f"lesson-a/{number}", "?", ("a", "b")), "voter-0", "a")
    with pytest.raises(ClassFull, match="questions"):
        registry.answer(code, Poll("lesson-a/9", "?", ("a", "b")), "voter-0", "a")
    with pytest.raises(ClassFull):
        registry.reveal(code, "lesson-a/10")


def test_a_poll_checks_itself():
    with pytest.raises(ValueError, match="distinct"):
        Poll("p", "?", ("a", "a"))
    with pytest.raises(ValueError, match="not one of"):
        Poll("p", "?", ("a", "b"), answer="c")
    with pytest.raises(ValueError, match="poll id"):
        Poll("", "?", ("a",))


# --- Thirty at once -----------------------------------------------------------------------------------------------


class WitnessClock:
    """A real clock that also counts the threads inside the registry at once.

    The registry reads its clock once per call, under its lock, and this clock dawdles while read: were the lock
    missing (or skipped by some path), the thirty threads would be seen inside together. In CPython a lost answer
    needs an unlucky thread switch, which the count of answers alone might not catch in twenty attempts; this does.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.inside = 0
        self.most_inside = 0

    def __call__(self) -> float:
        with self._guard:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.0002)
        with self._guard:
            self.inside -= 1
        return time.monotonic()


@pytest.mark.parametrize("attempt", range(20))
def test_thirty_students_answering_at_once_lose_no_answer(attempt):
    clock = WitnessClock()
    registry = ClassRegistry(clock=clock)
    code = registry.open_class("lesson-a", 2)
    students = 30
    barrier = threading.Barrier(students)
    errors: list[BaseException] = []

    def student(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            # Each student answers, changes their mind, and reads the tally, all at the same time as the others.
            registry.answer(code, POLL, f"student-{number}", POLL.choices[(number + 1) % 4])
            registry.tally(code, POLL)
            registry.answer(code, POLL, f"student-{number}", POLL.choices[number % 4])
        except BaseException as error:  # a thread's failure must fail the test, not vanish with the thread
            errors.append(error)

    threads = [threading.Thread(target=student, args=(number,)) for number in range(students)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    assert clock.most_inside == 1
    counted = registry.tally(code, POLL)
    assert counted.voters == students
    expected = {choice: sum(1 for n in range(students) if n % 4 == index) for index, choice in enumerate(POLL.choices)}
    assert counted.counts == expected
    assert all(registry.answer_of(code, POLL.id, f"student-{n}") == POLL.choices[n % 4] for n in range(students))


def test_thirty_teachers_opening_classes_at_once_get_thirty_codes():
    registry = ClassRegistry()
    barrier = threading.Barrier(30)
    codes: list[str] = []

    def teacher() -> None:
        barrier.wait(timeout=10)
        codes.append(registry.open_class("lesson-a", 1))

    threads = [threading.Thread(target=teacher) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(set(codes)) == 30 and registry.open_count() == 30


# --- Nothing without the code -------------------------------------------------------------------------------------


def test_nothing_is_readable_or_writable_without_the_code(registry):
    code = registry.open_class("lesson-a", 2)
    registry.answer(code, POLL, "voter-1", "3")
    # The registry offers no way to list rooms or codes: its public face is calls that take a code, and a count.
    public = {name for name in dir(registry) if not name.startswith("_")}
    assert public == {
        "open_class",
        "set_step",
        "reveal",
        "close",
        "tally",
        "find",
        "answer",
        "answer_of",
        "is_revealed",
        "is_teacher",
        "open_count",
        "ttl_s",
        "max_age_s",
        "max_rooms",
        "max_voters",
        "max_polls",
    }
    wrong = next(candidate for candidate in ("ZZZZZZ", "YYYYYY") if candidate != code)
    assert registry.find(wrong) is None and registry.answer_of(wrong, POLL.id, "voter-1") is None
    with pytest.raises(ClassNotFound):
        registry.tally(wrong, POLL)
    with pytest.raises(ClassNotFound):
        registry.answer(wrong, POLL, "voter-2", "1")
    assert registry.tally(code, POLL).voters == 1  # the wrong code wrote nothing into the right room
    assert not registry.close(wrong) and registry.find(code) is not None


def test_the_stored_answers_hold_nothing_but_tokens_and_choices(registry):
    code = registry.open_class("lesson-a", 2)
    registry.answer(code, POLL, "3f2a9c", "3")
    room = registry._rooms[code]  # looking inside, as only a test may
    assert room.answers == {POLL.id: {"3f2a9c": "3"}} and room.voters == {"3f2a9c"}


# --- The student link and its QR code -----------------------------------------------------------------------------


def test_the_student_link_carries_the_code_and_not_presenter_mode():
    link = class_link("https://seq2seq.example/attention?task=a&lesson=l&lstep=2&present=1&fig=3&class=OLD", "K7QM3X")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "seq2seq.example", "/attention")
    assert parse_qs(parts.query) == {"task": ["a"], "lesson": ["l"], "lstep": ["2"], CLASS_PARAM: ["K7QM3X"]}
    assert class_link("/attention", "K7QM3X") == "/attention?class=K7QM3X"


def _png_modules(png: bytes, scale: int, border: int) -> list[list[int]]:
    """The dark (1) and light (0) modules of a QR code drawn as PNG, read at each module's centre."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    size = image.width // scale - 2 * border
    assert image.width == image.height == (size + 2 * border) * scale
    return [
        [
            int(image.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2)) < 128)
            for x in range(size)
        ]
        for y in range(size)
    ]


def test_the_qr_code_is_the_student_link():
    link = class_link("https://seq2seq.example/attention?task=reverse&lesson=attention-global&lstep=2", "K7QM3X")
    code = qr_code(link)
    # Byte mode holds the link's exact characters; a regular (not Micro) QR code, small enough for a phone at the
    # back of a room to read off a projector.
    assert code.mode == "byte" and not code.is_micro and 1 <= code.version <= 10
    png = qr_png(link, scale=6)
    assert png.startswith(b"\x89PNG")
    # The picture is exactly this link's code, module for module (segno itself cannot decode).
    assert _png_modules(png, scale=6, border=4) == [list(row) for row in code.matrix]
    assert _png_modules(png, scale=6, border=4) != [list(row) for row in qr_code(link + "x").matrix]


# --- The chart ----------------------------------------------------------------------------------------------------


def test_the_answers_chart_counts_every_choice_and_marks_the_models_answer(registry):
    from explorer.classviz import MODEL_BAR, class_answers_chart, class_answers_frame

    code = registry.open_class("lesson-a", 2)
    for voter, choice in enumerate(["3", "3", "1"]):
        registry.answer(code, POLL, str(voter), choice)
    frame = class_answers_frame(registry.tally(code, POLL))
    assert list(frame["choice"]) == list(POLL.choices) and list(frame["count"]) == [1, 0, 2, 0]
    assert frame["share"].sum() == pytest.approx(1)
    spec = class_answers_chart(frame, answer="3").to_dict(validate=True)
    rows = next(iter(spec["datasets"].values()))
    assert [row["bar"] == MODEL_BAR for row in rows] == [False, False, True, False]
    empty = class_answers_frame(registry.tally(registry.open_class("lesson-a", 2), POLL))
    assert list(empty["count"]) == [0, 0, 0, 0]
    class_answers_chart(empty).to_dict(validate=True)


# --- The app: a teacher and a class -------------------------------------------------------------------------------

LESSON_ID = "lesson-apptest"


def _teacher_script() -> None:
    from explorer.classroom import Poll
    from explorer.ui.classroom import teacher_class_panel

    poll = Poll("lesson-apptest/2", "Which input step?", ("1", "2", "3"), answer="2", explanation="Look at row 1.")
    teacher_class_panel("lesson-apptest", 2, poll, "/attention?lesson=lesson-apptest&lstep=2&present=1")


def _student_script() -> None:
    import streamlit as st

    from explorer.classroom import Poll
    from explorer.ui.classroom import student_class_panel

    def go_to_step(lesson_id: str, step: int) -> None:
        st.session_state["went_to"] = (lesson_id, step)

    poll = Poll("lesson-apptest/2", "Which input step?", ("1", "2", "3"), answer="2", explanation="Look at row 1.")
    step = int(st.query_params.get("lstep", "2"))
    st.session_state["returned"] = student_class_panel(poll, "lesson-apptest", step, go_to_step=go_to_step)


def _app(script, **params):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(script, default_timeout=60)
    for name, value in params.items():
        app.query_params[name] = value
    return app


def _text(app) -> str:
    parts = [
        element.value
        for kind in ("markdown", "caption", "success", "info", "warning")
        for element in app.get(kind)
        if isinstance(getattr(element, "value", None), str)
    ]
    return " ".join(parts)


def _chart_counts(app) -> dict[str, int]:
    """The counts the teacher's chart shows, per choice (the chart ships its rows inside its spec)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    (chart,) = app.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    rows = next(iter(spec.get("datasets", {}).values()), None)
    if rows is None:
        frame = convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)
        rows = frame.to_dict("records")
    return {row["choice"]: int(row["count"]) for row in rows}


def test_a_class_answers_together_in_the_app():
    from explorer import classroom

    teacher = _app(_teacher_script)
    teacher.run()
    assert not teacher.exception
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class_code"]
    try:
        assert classroom.find_class(code).step == 2
        assert teacher.query_params[CLASS_PARAM] in (code, [code])
        assert code in _text(teacher) or any(code in element.value for element in teacher.code)
        (link,) = [element.value for element in teacher.code]
        assert parse_qs(urlsplit(link).query)[CLASS_PARAM] == [code] and "present" not in link
        assert teacher.get("image")  # the QR code
        assert _chart_counts(teacher) == {"1": 0, "2": 0, "3": 0}

        picks = ["2", "2", "3", "1", "2"]
        students = []
        for pick in picks:
            student = _app(_student_script, **{CLASS_PARAM: code.lower()})
            student.run()
            assert not student.exception
            student.radio(key="class_choice_lesson-apptest/2").set_value(pick)
            student.button(key="class_send_lesson-apptest/2").click().run()
            assert not student.exception
            assert f"Sent: **{pick}**" in _text(student)
            assert student.session_state["returned"] == pick
            students.append(student)
        # One changes their mind: still five answers.
        students[4].radio(key="class_choice_lesson-apptest/2").set_value("3")
        students[4].button(key="class_send_lesson-apptest/2").click().run()

        teacher.run()
        assert _chart_counts(teacher) == {"1": 1, "2": 2, "3": 2}
        assert "5 students have answered" in _text(teacher)

        teacher.button(key="class_reveal").click().run()
        assert not teacher.exception
        assert "The model's answer: **2**" in _text(teacher)
        assert not teacher.button(key="class_close").disabled
        for student, pick in zip(students, ["2", "2", "3", "1", "3"], strict=True):
            student.run()
            text = _text(student)
            assert "The model's answer: **2**" in text
            assert ("It matches the model's." in text) == (pick == "2")
            assert not student.get("radio")  # answers are closed
    finally:
        classroom.close_class(code)


@pytest.mark.parametrize(
    "browser_url",
    ["https://seq2seq.example/attention", "https://seq2seq.example/attention/", "https://seq2seq.example"],
)
def test_the_projected_link_is_absolute_from_the_address_the_teacher_sees(browser_url):
    """A phone needs the whole address: the step's link (relative to the app's root) joined to the teacher's."""
    from explorer import classroom

    teacher = _app(_teacher_script)
    teacher.context["url"] = browser_url
    teacher.run()
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class_code"]
    try:
        (link,) = [element.value for element in teacher.code]
        assert link == f"https://seq2seq.example/attention?lesson=lesson-apptest&lstep=2&class={code}"
    finally:
        classroom.close_class(code)


def test_an_app_served_under_a_path_keeps_it_in_the_link():
    from explorer import classroom

    teacher = _app(_teacher_script)
    teacher.context["url"] = "https://school.example/seq2seq/states"
    teacher.run()
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class_code"]
    try:
        (link,) = [element.value for element in teacher.code]
        assert link.startswith("https://school.example/seq2seq/attention?")
    finally:
        classroom.close_class(code)


def test_a_student_sees_where_the_class_is_and_can_follow():
    from explorer import classroom

    code = classroom.open_class(LESSON_ID, 3)
    try:
        student = _app(_student_script, **{CLASS_PARAM: code, "lstep": "2"})
        student.run()
        follow = student.button(key="class_follow")
        follow.click().run()
        assert student.session_state["went_to"] == (LESSON_ID, 3)
    finally:
        classroom.close_class(code)


@pytest.mark.parametrize("code", ["ZZZZZZ", "nope!", "x" * 200])
def test_a_wrong_or_ended_code_is_said_in_plain_words_and_the_lesson_goes_on(code):
    student = _app(_student_script, **{CLASS_PARAM: code})
    student.run()
    assert not student.exception
    (warning,) = student.warning
    assert "class" in warning.value and "Traceback" not in warning.value
    assert not student.get("radio") and student.session_state["returned"] is None


def test_a_class_that_ended_while_open_on_the_projector_says_so():
    from explorer import classroom

    teacher = _app(_teacher_script)
    teacher.run()
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class_code"]
    classroom.close_class(code, teacher_key=teacher.session_state["class_teacher_key"])  # as expiry would
    teacher.run()
    assert not teacher.exception
    assert "has ended" in _text(teacher) and teacher.button(key="class_start")
    assert CLASS_PARAM not in teacher.query_params


def test_a_student_link_with_presenter_mode_added_gets_no_teachers_controls():
    from explorer.classroom import TEACHER_PARAM

    teacher = _app(_teacher_script)
    teacher.run()
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class_code"]
    assert teacher.query_params[TEACHER_PARAM]  # the projector's own link keeps the key
    intruder = _app(_teacher_script, **{CLASS_PARAM: code})  # the student link, opened in the teacher's panel
    intruder.run()
    assert not intruder.exception
    assert "as a student" in _text(intruder)
    for key in ("class_reveal", "class_close", "class_start"):
        with pytest.raises(KeyError):
            intruder.button(key=key)


def test_closing_the_class_ends_it_for_everyone():
    from explorer import classroom

    teacher = _app(_teacher_script)
    teacher.run()
    teacher.button(key="class_start").click().run()
    code = teacher.session_state["class_code"]
    teacher.button(key="class_close").click().run()
    assert classroom.find_class(code) is None and "class_code" not in teacher.session_state
    student = _app(_student_script, **{CLASS_PARAM: code})
    student.run()
    assert NOT_FOUND_MESSAGE in _text(student)


def test_a_room_with_a_teacher_key_is_led_only_by_that_key(registry):
    """The students have the code; only the teacher's key moves, reveals or closes the class."""
    code = registry.open_class("lesson-a", 1, teacher_key="secret-key-1")
    registry.answer(code, POLL, "voter-1", "2")  # students answer with the code alone
    assert registry.is_teacher(code, "secret-key-1")
    for stranger in (None, "guess", "secret-key-2"):
        assert not registry.is_teacher(code, stranger)
        with pytest.raises(ClassNotFound):
            registry.reveal(code, POLL.id, teacher_key=stranger)
        with pytest.raises(ClassNotFound):
            registry.set_step(code, 3, teacher_key=stranger)
        assert not registry.close(code, teacher_key=stranger)
    assert registry.find(code).step == 1 and not registry.is_revealed(code, POLL.id)
    registry.set_step(code, 2, teacher_key="secret-key-1")
    registry.reveal(code, POLL.id, teacher_key="secret-key-1")
    assert registry.find(code).step == 2 and registry.is_revealed(code, POLL.id)
    assert registry.close(code, teacher_key="secret-key-1") and registry.find(code) is None


def test_the_student_link_never_carries_the_teachers_key():
    from explorer.classroom import class_link

    link = class_link("http://host/attention?task=echo&present=1&fig=2&teach=secret&class=OLDOLD", "ABCDEF")
    assert "teach" not in link and "present" not in link and "fig" not in link
    assert link.endswith("class=ABCDEF")
