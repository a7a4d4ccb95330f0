"""The lessons as data, their rules, their links, the command that lists them, and the panel's behaviour around a
step (the walk of every step is in test_lesson_walks.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, open_app

from explorer.analysis import find_divergence
from explorer.architectures import ARCHITECTURES
from explorer.cache import ModelStore
from explorer.lessons import (
    ANSWERS,
    CHECKS,
    CHOICES,
    LESSONS,
    DirectLab,
    Observation,
    answer_for,
    catalogue,
    choices_for,
    is_done,
    lesson_from_params,
    step_params,
    step_url,
)
from explorer.tasks import TASKS, format_sequence
from explorer.ui.pages import page_entry
from explorer.urlstate import config_from_params

STEPS = [(lesson, index, step) for lesson in LESSONS.values() for index, step in enumerate(lesson.steps, start=1)]
STEP_IDS = [f"{lesson.id}-{index}" for lesson, index, _ in STEPS]


@pytest.fixture(scope="module")
def lab():
    return DirectLab()


def test_there_is_a_lesson_per_topic_of_the_tutorials():
    assert len(LESSONS) == 9
    assert all(2 <= len(lesson.steps) <= 6 for lesson in LESSONS.values())


@pytest.mark.parametrize(("lesson", "index", "step"), STEPS, ids=STEP_IDS)
def test_every_step_names_registered_things_and_a_shipped_model(lesson, index, step, tmp_path):
    page_entry(step.page)  # raises for an unknown page
    assert step.task in TASKS and step.arch in ARCHITECTURES
    assert step.done_when.name in CHECKS
    if step.predict is not None:
        assert step.predict.choices.name in CHOICES and step.predict.answer.name in ANSWERS
    assert ModelStore(cache_dir=tmp_path).lookup(step.config) is not None, "a lesson must never make a class wait"


@pytest.mark.parametrize(("lesson", "index", "step"), STEPS, ids=STEP_IDS)
def test_every_step_link_opens_the_steps_configuration(lesson, index, step):
    params = step_params(lesson, index)
    config, problems = config_from_params(params)
    assert problems == [] and config == step.config
    assert lesson_from_params(params) == (lesson, index, None)
    assert step_url(lesson, index).startswith(f"/{page_entry(step.page).url_path}?")


@pytest.mark.parametrize(
    ("lesson", "index", "step"), [s for s in STEPS if s[2].predict is not None], ids=lambda value: str(value)[:20]
)
def test_every_prediction_has_an_answer_among_its_choices(lesson, index, step, lab):
    assert answer_for(step, lab) in choices_for(step)


@pytest.mark.parametrize(
    ("params", "expected_index", "message"),
    [
        ({"lesson": "no-such-lesson"}, 0, "does not exist"),
        ({"lesson": "bptt", "lstep": "two"}, 1, "not a number"),
        ({"lesson": "bptt", "lstep": "99"}, 2, "steps 1 to 2"),
        ({"lesson": "bptt", "lstep": "-3"}, 1, "steps 1 to 2"),
        ({}, 0, None),
    ],
)
def test_a_bad_lesson_link_says_what_is_wrong(params, expected_index, message):
    _, index, problem = lesson_from_params(params)
    assert index == expected_index
    assert (problem is None) if message is None else (message in problem)


def _observation(lesson_step, /, **params):
    return Observation(lesson_step, lesson_step.page, lesson_step.config, {**lesson_step.params(), **params})


def test_attention_leaves_the_ideal_alignment_on_padding_steps_and_not_on_the_first(lab):
    step = LESSONS["attention-global"].steps[1]
    assert not is_done(_observation(step, step="1"), lab)
    assert is_done(_observation(step, step="4"), lab)  # copy-first-k pads after k = 2: no input to read


def test_the_decodes_diverge_on_a_found_input_and_not_on_the_sample(lab):
    step = LESSONS["teacher-forcing"].steps[2]
    assert not is_done(_observation(step), lab)
    found = find_divergence(lab.bundle(step.config), 1000, seed=0)
    assert found.source is not None
    assert is_done(_observation(step, seq=format_sequence(step.config.task, found.source)), lab)


def test_a_control_counts_only_on_the_steps_page_and_model(lab):
    step = LESSONS["bptt"].steps[0]
    assert is_done(_observation(step, step="3"), lab)
    elsewhere = Observation(step, "attention", step.config, {**step.params(), "step": "3"})
    assert not is_done(elsewhere, lab)
    other_model = Observation(step, step.page, LESSONS["echo"].steps[0].config, {"step": "3"})
    assert not is_done(other_model, lab)


def test_an_echo_of_the_unchanged_sample_is_not_the_learners_own(lab):
    step = LESSONS["echo"].steps[0]
    assert not is_done(_observation(step), lab)
    assert is_done(_observation(step, seq="1, 2, 3, 4, 5"), lab)


def test_a_link_the_rule_cannot_read_is_not_done(lab):
    step = LESSONS["attention-global"].steps[1]
    assert not is_done(_observation(step, step="not-a-number"), lab)


def test_the_command_lists_every_lesson_without_keras():
    code = (
        "import sys\n"
        "from explorer.cli import main\n"
        "main(['lessons', '--json'])\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout.strip().splitlines()[-1])
    assert [lesson["id"] for lesson in listed] == list(LESSONS)
    for lesson in listed:
        assert lesson["title"] and lesson["steps"]
        for step in lesson["steps"]:
            assert step["url"].startswith("/") and f"lesson={lesson['id']}" in step["url"]
            assert step["task"] in TASKS
    assert listed == json.loads(json.dumps(catalogue()))


# --- The panel around a step --------------------------------------------------------------------------------------


def _open_step(lesson_id: str, index: int, **extra):
    lesson = LESSONS[lesson_id]
    page = page_entry(lesson.steps[index - 1].page).file
    return open_app(page, **step_params(lesson, index), **extra)


def test_a_prediction_holds_the_page_back_until_it_is_locked_in():
    app = _open_step("attention-global", 1)
    assert not app.title  # the page is not drawn yet
    assert any("Predict first" in element.value for element in app.markdown)
    app.radio(key="predict_attention-global/1").set_value("1").run()
    app.button(key="predict_lock_attention-global/1").click().run()
    assert [title.value for title in app.title] == ["Attention"]
    assert any("and so it is" in element.value for element in app.success)


def test_a_step_link_opened_fresh_lands_on_that_step_with_its_input():
    lesson = LESSONS["states"]
    app = _open_step("states", 2)
    assert any("step 2 of 3" in element.value for element in app.markdown)
    assert app.text_input(key="sequence_text").value == lesson.steps[1].source_text
    assert app.query_params["lesson"] == "states" and app.query_params["lstep"] == "2"


def test_wandering_to_another_page_keeps_the_lesson_and_offers_the_way_back():
    app = _open_step("bptt", 1)
    app.query_params.clear()  # what the navigation does to the URL on a page switch
    app.switch_page("app_pages/decoding.py").run()
    assert not app.exception
    assert app.query_params["lesson"] == "bptt" and app.query_params["lstep"] == "1"
    assert any("Unrolled graph" in element.value for element in app.info)
    app.button(key="lesson_back").click().run()
    assert [title.value for title in app.title] == ["Unrolled graph"]
    assert app.query_params["task"] == LESSONS["bptt"].steps[0].task


def test_leaving_the_lesson_removes_the_panel_and_its_link():
    app = _open_step("bptt", 1)
    app.button(key="lesson_leave").click().run()
    assert "lesson" not in app.query_params and "lstep" not in app.query_params
    with pytest.raises(KeyError):
        app.button(key="lesson_next")


def test_a_link_to_a_lesson_that_does_not_exist_says_so():
    app = open_app(lesson="no-such-lesson")
    assert any("does not exist" in element.value for element in app.warning)
    with pytest.raises(KeyError):
        app.button(key="lesson_next")
