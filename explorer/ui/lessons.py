"""The lesson panel: a guided lesson (`explorer.lessons`) drawn above every page while it runs.

`app.py` calls `follow_lesson_link()` before the picker (it adopts the link's `lesson` and `lstep`, and carries out
a step change a button asked for, by switching to the step's page with the step's link) and draws the page inside
`lesson_panel(page)`:

- above the page: the lesson, the step, what to look at and the one thing to do; a step that asks for a prediction
  holds the page back until the learner has made it (or, in a class, until the teacher reveals), then compares;
- after the page ran (also when the page stopped early): whether the step is done, judged on what the learner has
  in front of them, and the buttons to go on.

A step change reads the step's link as a fresh session would (`forget_page_controls`, `reread_link`): the picked
configuration, the typed input and every page control come from the link. The lesson's progress stays in the URL
while the learner wanders to other pages, which drop the URL's parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import streamlit as st

from explorer.classroom import Poll, is_revealed
from explorer.config import RunConfig
from explorer.lessons import (
    LESSON_PARAM,
    LESSONS,
    STEP_PARAM,
    Lesson,
    Observation,
    Step,
    answer_for,
    choices_for,
    is_done,
    lesson_from_params,
    step_params,
    step_url,
)
from explorer.tasks import TASKS
from explorer.ui.classroom import class_code_param, joined_class, student_class_panel, teacher_class_panel
from explorer.ui.inputs import drawn_controls, forget_page_controls, start_drawn_controls
from explorer.ui.pages import page_entry
from explorer.ui.picker import current_config, reread_link
from explorer.ui.presenter import presenting

# Session-state keys: where the session is in which lesson, its predictions and the steps it completed, and a step
# change asked for by a button (carried out at the start of the next run).
LESSON_AT = "lesson_at"
ANSWERS = "lesson_answers"
DONE = "lesson_done"
_GO = "_lesson_go"
_PROBLEM = "_lesson_problem"
# Parameters of the session's link that a step change keeps: presenter mode, the class, the teacher's locks.
CARRIED = ("present", "class", "teach", "lock", "hide")
PANEL_KEY = "lesson_panel"
# Presenter mode moves its figure bar and shown figure to the top of the page (`explorer.ui.presenter`); the lesson
# panel, with the class's code and answers, goes before them.
PRESENTER_CSS = f"""<style>
  [data-testid="stVerticalBlock"] > .st-key-{PANEL_KEY},
  [data-testid="stVerticalBlock"] > :has(.st-key-{PANEL_KEY}) {{ order: -3; }}
</style>"""


def current_lesson() -> tuple[Lesson, int] | None:
    """The lesson this session follows and its step (1-based), or None."""
    at = st.session_state.get(LESSON_AT)
    if not at or at[0] not in LESSONS:
        return None
    return LESSONS[at[0]], at[1]


def go_to_step(lesson_id: str, index: int) -> None:
    """Button callback: open step `index` of the lesson on the next run."""
    st.session_state[_GO] = (lesson_id, index)


def leave_lesson() -> None:
    """Button callback: stop following the lesson (the page stays as it is)."""
    st.session_state.pop(LESSON_AT, None)
    st.query_params.pop(LESSON_PARAM, None)
    st.query_params.pop(STEP_PARAM, None)


def follow_lesson_link() -> None:
    """Before the picker: carry out a step change, then adopt the link's lesson progress (or write the session's
    back into the URL, which a page switch in the navigation empties)."""
    state = st.session_state
    go = state.pop(_GO, None)
    if go is not None and go[0] in LESSONS:
        _open_step(LESSONS[go[0]], go[1])
    lesson, index, problem = lesson_from_params(st.query_params.to_dict())
    if problem:
        state[_PROBLEM] = problem
    if lesson is not None:
        state[LESSON_AT] = (lesson.id, index)
    at = current_lesson()
    if at is None:
        return
    wanted = {LESSON_PARAM: at[0].id, STEP_PARAM: str(at[1])}
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value


def _open_step(lesson: Lesson, index: int) -> None:
    """Switch to the step's page with the step's link, read as a fresh session reads a link."""
    index = min(max(1, index), len(lesson.steps))
    params = step_params(lesson, index)
    for name in CARRIED:
        if name in st.query_params:
            params[name] = st.query_params[name]
    forget_page_controls()
    reread_link()
    st.session_state.pop("figure", None)  # presenter mode starts the new step at its first figure
    st.session_state[LESSON_AT] = (lesson.id, index)
    st.switch_page(page_entry(lesson.steps[index - 1].page).file, query_params=params)


def _step_key(lesson: Lesson, index: int) -> str:
    return f"{lesson.id}/{index}"


class AppLab:
    """The lessons' way to the models inside the app: the shared job manager's models and the results every session
    shares (`explorer.ui.results`), so checking a step costs nothing the page has not already computed."""

    def bundle(self, config: RunConfig, epoch: str | None = None):
        """The model of `config`, or its replay snapshot at `epoch` (the pages' `epoch` slider) when it has one."""
        from explorer.ui.models import lookup_job

        job = lookup_job(config)
        if epoch not in (None, "", "final"):
            snapshot = job.snapshot_bundle(epoch)
            if snapshot is not None:
                return snapshot
        return job.bundle

    def free_running(self, bundle, encoder_inputs):
        from explorer.ui.results import free_running

        return free_running(bundle, encoder_inputs)

    def teacher_forced(self, bundle, encoder_inputs, targets):
        from explorer.ui.results import teacher_forced

        return teacher_forced(bundle, encoder_inputs, targets)

    def outputs(self, bundle, inputs):
        from explorer.ui.results import training_outputs

        return training_outputs(bundle, inputs)

    def gradients(self, bundle, inputs, targets):
        from explorer.analysis import step_gradients
        from explorer.ui.models import per_model

        # The Unrolled graph page's call, to the letter, so both share one cache entry.
        return per_model(max_entries=256)(step_gradients)(bundle, inputs, bundle.model_targets(targets))

    def sidecar(self, config: RunConfig) -> dict[str, Any] | None:
        from explorer.jobs import DONE as JOB_DONE
        from explorer.ui.models import lookup_job

        job = lookup_job(config)
        return job.sidecar if job.state == JOB_DONE else None


def _model_answer(step: Step) -> str | None:
    """The answer to the step's prediction; None when the model is not there or cannot say."""
    try:
        return answer_for(step, AppLab())
    except (ValueError, KeyError, IndexError, RuntimeError):
        return None


def _published_line(step: Step) -> str | None:
    """The tutorial's figure beside ours, for a step about one."""
    published = TASKS[step.task].published.get(step.arch)
    if published is None:
        return None
    from explorer.ui.models import lookup_job

    ours = lookup_job(step.config).metrics.get("sequence_accuracy")
    runs = f" (the mean of {published.runs} runs)" if published.runs > 1 else ""
    line = f"📖 The tutorial reports **{published.accuracy:.1%}** exact-sequence accuracy{runs}"
    if ours is not None:
        line += f"; our model: **{ours:.1%}** on held-out examples"
    return line + "."


@contextlib.contextmanager
def lesson_panel(page: str) -> Iterator[bool]:
    """Draw the lesson panel around the page; yields whether to run the page (not while a prediction is pending).

    The part that says whether the step is done is filled in after the page ran, since it reads what the page
    wrote to the URL (the cursor, the typed input); it is filled in when the page stops early too."""
    at = current_lesson()
    problem = st.session_state.pop(_PROBLEM, None)
    start_drawn_controls()
    if at is None:
        if problem:
            st.warning(problem)
        yield True
        return
    lesson, index = at
    step = lesson.steps[index - 1]
    key = _step_key(lesson, index)
    answers: dict[str, str] = st.session_state.setdefault(ANSWERS, {})
    if presenting():  # on the projector the lesson panel comes first, before the figure bar
        st.html(PRESENTER_CSS)
    with st.container(border=True, key=PANEL_KEY):
        if problem:
            st.warning(problem)
        done_steps: set[str] = st.session_state.setdefault(DONE, set())
        marks = " ".join(
            "✅" if _step_key(lesson, i) in done_steps else ("🔵" if i == index else "⚪")
            for i in range(1, len(lesson.steps) + 1)
        )
        st.markdown(f"**📘 {lesson.title}** · step {index} of {len(lesson.steps)}: **{step.title}** {marks}")
        st.markdown(step.explain)
        published = _published_line(step) if step.published else None
        if published:
            st.markdown(published)
        show_page = _class_and_prediction(lesson, index, step, key, answers)
        status = st.container()
    error: BaseException | None = None
    try:
        yield show_page
    except BaseException as exc:  # Streamlit ends a run early by raising: st.stop() still gets the status
        error = exc
        raise
    finally:
        if error is None or type(error).__name__ == "StopException":
            with status:
                _status(lesson, index, step, key, answers.get(key), page)


def _poll(step: Step, key: str) -> Poll | None:
    """The step's prediction as the class answers it: the same question, choices and model's answer."""
    if step.predict is None:
        return None
    return Poll(key, step.predict.prompt, choices_for(step), _model_answer(step), step.predict.explanation)


def _class_and_prediction(lesson: Lesson, index: int, step: Step, key: str, answers: dict[str, str]) -> bool:
    """The class (a teacher's projector, or a student who joined with a code), then the step's prediction; returns
    whether the page may be shown. In a class the page waits for the teacher's reveal; alone, for the learner's
    prediction."""
    if presenting():  # the teacher's projector: the code, the QR code, the class's answers
        poll = _poll(step, key)
        code = teacher_class_panel(lesson.id, index, poll, step_url(lesson, index))
        if code is not None:
            revealed = poll is None or is_revealed(code, poll.id)
            if revealed and poll is not None:
                answers.setdefault(key, "the class")
            return revealed
    elif class_code_param() is not None:  # a student's device
        poll = _poll(step, key)
        if poll is not None and step.source_text is not None:
            st.caption(f"The input: {step.source_text}")
        mine = student_class_panel(poll, lesson.id, index, go_to_step)
        room = joined_class()
        if room is not None:
            revealed = poll is None or is_revealed(room.code, poll.id)
            if revealed and poll is not None:
                answers.setdefault(key, mine or "no answer")
            return revealed
    return _prediction(step, key, answers) if step.predict is not None else True


def _prediction(step: Step, key: str, answers: dict[str, str]) -> bool:
    """The step's question: asked until answered (the page waits), then the learner's answer beside the model's."""
    assert step.predict is not None
    answered = answers.get(key)
    choices = choices_for(step)
    if answered is None:
        st.markdown(f"**🤔 Predict first:** {step.predict.prompt}")
        if step.source_text is not None:
            st.caption(f"The input: {step.source_text}")
        choice = st.radio("Your prediction", choices, index=None, key=f"predict_{key}", horizontal=len(choices) <= 6)
        st.button(
            "Lock in my prediction",
            key=f"predict_lock_{key}",
            type="primary",
            disabled=choice is None,
            on_click=_lock_in,
            args=(key,),
        )
        st.caption("The page appears once you have predicted.")
        return False
    answer = _model_answer(step)
    if answer is None:
        st.info(f"You predicted **{answered}**. The model's answer needs its trained model, which is not here yet.")
    elif answered == answer:
        st.success(f"You predicted **{answered}**, and so it is: **{answer}**. {step.predict.explanation}")
    else:
        st.warning(f"You predicted **{answered}**; the answer is **{answer}**. {step.predict.explanation}")
    return True


def _lock_in(key: str) -> None:
    choice = st.session_state.get(f"predict_{key}")
    if choice is not None:
        st.session_state.setdefault(ANSWERS, {})[key] = choice


def _status(lesson: Lesson, index: int, step: Step, key: str, answer: str | None, page: str) -> None:
    """Whether the step is done, and the buttons to go on."""
    done_steps: set[str] = st.session_state.setdefault(DONE, set())
    config = current_config()
    observation = Observation(step, page, config, {**st.query_params.to_dict(), **drawn_controls()}, answer)
    if key not in done_steps:
        try:
            done = is_done(observation, AppLab())
        except Exception:  # a model that cannot be read now: the step is simply not done yet
            done = False
        if done:
            done_steps.add(key)
    done = key in done_steps
    if done:
        st.success(f"✅ Done: {step.do}")
    elif not observation.on_step:
        page_title = page_entry(step.page).title
        st.info(f"**To do:** {step.do} This step is on the **{page_title}** page with {step.task} · {step.arch}.")
    else:
        st.info(f"**To do:** {step.do}")
    back, following, leave = st.columns([1, 1, 1])
    if not observation.on_step:
        back.button("Back to this step", key="lesson_back", on_click=go_to_step, args=(lesson.id, index))
    elif index > 1:
        back.button("◀ Previous step", key="lesson_previous", on_click=go_to_step, args=(lesson.id, index - 1))
    if index < len(lesson.steps):
        following.button(
            "Next step ▶" if done else "Skip this step",
            key="lesson_next",
            type="primary" if done else "secondary",
            on_click=go_to_step,
            args=(lesson.id, index + 1),
        )
    elif done:
        following.markdown("🎉 **Lesson complete.**")
    leave.button("Leave the lesson", key="lesson_leave", on_click=leave_lesson)


def lesson_list() -> None:
    """Every lesson, with a button that starts it (for the landing page)."""
    for lesson in LESSONS.values():
        with st.container(border=True):
            text, start = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f"**{lesson.title}** · {len(lesson.steps)} steps  \n{lesson.summary}")
            start.button(
                "Start", key=f"lesson_start_{lesson.id}", on_click=go_to_step, args=(lesson.id, 1), width="stretch"
            )
