"""Lesson links for teachers: locked groups of controls are drawn disabled, hidden ones are hidden, and both hold
for the whole session, across page switches and lesson steps."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import open_app

from explorer.lessons import LESSONS, step_params
from explorer.ui.locks import GROUPS

DECODING = "app_pages/decoding.py"


def _styles(app) -> str:
    return " ".join(element.proto.body for element in app.get("html"))


def test_an_unlocked_link_leaves_every_control_enabled_and_nothing_hidden():
    app = open_app(DECODING)
    assert not app.selectbox(key="pick_task").disabled
    assert not app.number_input(key="pick_epochs").disabled
    assert not app.text_input(key="sequence_text").disabled
    assert not app.slider(key="cursor").disabled
    assert "display: none" not in _styles(app)


def test_locked_groups_are_disabled_and_the_others_are_not():
    app = open_app(DECODING, lock="picker,controls")
    assert app.selectbox(key="pick_task").disabled and app.selectbox(key="pick_arch").disabled
    assert app.text_input(key="sequence_text").disabled and app.button(key="sequence_random").disabled
    assert app.slider(key="cursor").disabled
    assert app.select_slider(key="beam").disabled  # a URL-bound page control
    assert not app.number_input(key="pick_input_length").disabled  # params: not locked
    assert not app.number_input(key="pick_epochs").disabled  # training: not locked


def test_hidden_groups_are_hidden_by_their_keys_and_still_cannot_change():
    app = open_app(DECODING, hide="training,controls")
    styles = _styles(app)
    assert ".st-key-picker_training" in styles and ".st-key-pick_epochs" in styles
    assert "st-key-hidden_control_" in styles
    assert ".st-key-pick_task" not in styles  # the picker is neither hidden nor locked
    assert app.number_input(key="pick_epochs").disabled
    assert app.text_input(key="sequence_text").disabled
    assert not app.selectbox(key="pick_task").disabled


def test_unknown_groups_in_a_link_are_ignored():
    app = open_app(DECODING, lock="picker,<script>,everything", hide="nothing")
    assert app.query_params["lock"] == "picker"
    assert "hide" not in app.query_params
    assert app.selectbox(key="pick_task").disabled
    assert any("'<script>', 'everything', 'nothing'" in warning.value for warning in app.sidebar.warning)


def test_locks_hold_across_a_page_switch_that_empties_the_url():
    app = open_app(DECODING, lock="controls")
    app.query_params.clear()  # what the navigation does to the URL on a page switch
    app.switch_page("app_pages/graph.py").run()
    assert not app.exception
    assert app.query_params["lock"] == "controls"
    assert app.slider(key="cursor").disabled


def test_a_lesson_step_change_keeps_the_teachers_locks():
    lesson = LESSONS["attention-global"]
    app = open_app(DECODING, **step_params(lesson, 2), lock="picker")
    app.switch_page("app_pages/attention.py").run()
    app.button(key="lesson_next").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.query_params["lstep"] == "3"
    assert app.query_params["lock"] == "picker"
    assert app.selectbox(key="pick_arch").disabled


@pytest.mark.parametrize("group", list(GROUPS))
def test_the_link_builder_writes_the_chosen_locks_into_the_link(group):
    app = open_app(DECODING)
    app.multiselect(key="link_lock").set_value([group]).run()
    app.multiselect(key="link_hide").set_value(["controls"] if group != "controls" else []).run()
    link = next(code.value for code in app.code if "lock=" in code.value or "hide=" in code.value)
    query = parse_qs(urlsplit(link).query)
    if group != "controls":
        assert query["lock"] == [group] and query["hide"] == ["controls"]
    else:
        assert query["lock"] == ["controls"] and "hide" not in query
    assert query["task"] == [app.query_params["task"]] and query["seq"] == [app.query_params["seq"]]
    assert "present" not in query


def test_a_locked_link_opened_fresh_shows_exactly_the_view_it_names():
    """What a student gets from the teacher's link: the model, the input, the cursor, locked."""
    lesson = LESSONS["attention-global"]
    params = {**step_params(lesson, 2), "step": "3", "lock": "picker,params,training,controls"}
    app = open_app("app_pages/attention.py", **params)
    assert app.selectbox(key="pick_task").value == "copy-first-k"
    assert app.selectbox(key="pick_arch").value == "bahdanau"
    assert app.text_input(key="sequence_text").value == params["seq"]
    assert app.slider(key="cursor").value == 3
    assert all(widget.disabled for widget in (app.slider(key="cursor"), app.text_input(key="sequence_text")))
