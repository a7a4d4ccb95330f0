"""Every lesson walked end to end through the app, the way a learner does it: start it on the landing page, then on
each step do what the step asks with the page's own widgets, check that the panel says the step is done, and go on.

The walker acts by the step's rule name (`done_when`), never by lesson: a new lesson is walked without a new test,
and a rule the walker cannot carry out fails here, so a new kind of check cannot go untested.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_app

from explorer.lessons import CHECKS, LESSONS, DirectLab, Lesson, Step, choices_for
from explorer.tasks import TASKS, format_sequence, make_batch
from explorer.ui.picker import FIELD_KEYS

CURSORS = {"step": "cursor", "layer_step": "layer_cursor"}  # URL parameter -> the slider's key


def _done(app) -> bool:
    return any(element.value.startswith("Done:") for element in app.success)


def _no_exception(app) -> None:
    assert not app.exception, [error.value for error in app.exception]


def _choose_label(widget, label: str) -> None:
    """Pick the option a learner sees as `label` (a choice's URL value is its label, not its value)."""
    labels = list(widget.options)
    assert label in labels, (label, labels)
    if hasattr(widget, "select_index"):
        widget.select_index(labels.index(label))
        return
    index = labels.index(label)  # a radio: AppTest sets values, not labels; send the label's index instead
    widget.__class__ = type("Chosen", (type(widget),), {"index": property(lambda self: index)})


def _widget(app, key: str):
    for kind in (app.radio, app.selectbox, app.select_slider, app.number_input):
        try:
            return kind(key=key)
        except KeyError:
            continue
    raise AssertionError(f"no control keyed {key!r} on the page")


def _typed_input(step: Step, correct: bool) -> str:
    """An input other than the step's sample; with `correct`, one the step's model decodes exactly."""
    lab = DirectLab()
    task = TASKS[step.task]
    for seed in range(1, 40):
        source = make_batch(step.config.task, 1, seed=seed).encoder_inputs[0]
        text = format_sequence(step.config.task, source)
        if text == step.source_text:
            continue
        if not correct:
            return text
        bundle = lab.bundle(step.config)
        targets = task.targets_for(step.config.task, source[None])
        if np.array_equal(lab.free_running(bundle, source[None]).tokens, targets):
            return text
    raise AssertionError(f"no input the {step.task} model gets right among 40 samples")


def _act(app, lesson: Lesson, index: int, step: Step) -> None:
    """Do what the step asks, through the widgets, by the name of the rule that completes it."""
    rule, args = step.done_when.name, step.done_when.kwargs
    if rule == "predicted":
        key = f"{lesson.id}/{index}"
        assert not app.title, "a prediction step shows the page before the prediction"
        _choose_label(app.radio(key=f"predict_{key}"), choices_for(step)[-1])
        app.run()
        app.button(key=f"predict_lock_{key}").click().run()
        assert app.title, "the page did not appear once the prediction was locked in"
    elif rule == "kind_is":
        task = next(name for name, entry in TASKS.items() if entry.kind == args["kind"])
        app.button(key=f"try_{task}").click().run()
    elif rule == "param_is" and args["name"] in CURSORS:
        app.slider(key=CURSORS[args["name"]]).set_value(int(args["value"])).run()
    elif rule in ("param_is", "param_has"):
        widget = _widget(app, args["name"])
        wanted = args.get("value") or next(label for label in widget.options if args["text"] in label)
        _choose_label(widget, wanted)
        app.run()
    elif rule == "param_changed":
        widget = _widget(app, args["name"])
        widget.set_value(int(widget.value) + 1).run()
    elif rule == "config_is":
        for field, value in args.items():
            app.selectbox(key=FIELD_KEYS[field]).set_value(value).run()
    elif rule == "config_clipped":
        app.selectbox(key="pick_clip").set_value("clipnorm").run()
    elif rule in ("sequence_changed", "decode_correct"):
        app.text_input(key="sequence_text").input(_typed_input(step, correct=rule == "decode_correct")).run()
    elif rule == "decodes_diverge":
        # The final model agrees with itself on its sample: go back to an early epoch of training, as offered.
        app.button(key="early_epoch").click().run()
    elif rule == "attention_off_ideal":
        cursor = app.slider(key="cursor")
        for position in range(1, int(cursor.max) + 1):
            app.slider(key="cursor").set_value(position).run()
            if _done(app):
                break
    else:
        pytest.fail(f"the walker cannot carry out the rule {rule!r}: teach it, so lessons using it are walked")


def test_the_walker_knows_every_rule():
    known = {
        "predicted",
        "kind_is",
        "param_is",
        "param_has",
        "param_changed",
        "config_is",
        "config_clipped",
        "sequence_changed",
        "decode_correct",
        "decodes_diverge",
        "attention_off_ideal",
    }
    assert set(CHECKS) <= known, set(CHECKS) - known


@pytest.mark.parametrize("lesson_id", list(LESSONS))
def test_a_learner_completes_every_step_of_the_lesson(lesson_id):
    lesson = LESSONS[lesson_id]
    app = open_app()
    app.button(key=f"lesson_start_{lesson_id}").click().run()
    _no_exception(app)
    for index, step in enumerate(lesson.steps, start=1):
        where = f"{lesson_id} step {index} ({step.title})"
        assert app.query_params["lesson"] == lesson_id and app.query_params["lstep"] == str(index), where
        assert app.selectbox(key="pick_task").value == step.task, where
        assert not _done(app), f"{where} is done before the learner did it"
        _act(app, lesson, index, step)
        _no_exception(app)
        assert _done(app), f"{where}: the panel does not say done after the learner did {step.done_when}"
        if index < len(lesson.steps):
            app.button(key="lesson_next").click().run()
            _no_exception(app)
    assert any("Lesson complete" in element.value for element in app.markdown)
