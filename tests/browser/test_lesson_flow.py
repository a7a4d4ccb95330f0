"""Two lessons walked end to end in real Chromium, as a learner does it: start on the landing page, predict, move
a cursor, switch a control, type an input, use an early epoch of training; each step must say done before Next."""

from __future__ import annotations

import re

import pytest

from explorer.lessons import LESSONS

from .conftest import assert_no_exception, rerun_and_wait, save_screenshot, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

PANEL = ".st-key-lesson_panel"


def _main(page):
    return page.get_by_test_id("stMain")


def _panel(page):
    return page.locator(PANEL)


def _start(page, app_server: str, lesson_id: str) -> None:
    page.goto(app_server)
    wait_for_app(page)
    start = page.locator(f".st-key-lesson_start_{lesson_id} button")
    expect(start).to_have_text("Start")
    rerun_and_wait(page, start.click)
    expect(_panel(page)).to_contain_text(f"step 1 of {len(LESSONS[lesson_id].steps)}")


def _expect_done(page) -> None:
    expect(_panel(page)).to_contain_text("Done:", timeout=60_000)
    assert_no_exception(page)


def _next(page, index: int) -> None:
    rerun_and_wait(page, _panel(page).get_by_role("button", name="Next step ▶").click)
    expect(page).to_have_url(re.compile(rf"[?&]lstep={index + 1}(&|$)"))


def _predict(page, choice: str) -> None:
    panel = _panel(page)
    expect(panel).to_contain_text("Predict first")
    expect(_main(page).get_by_role("heading", level=1)).to_have_count(0)  # the page waits for the prediction
    rerun_and_wait(page, panel.get_by_text(choice, exact=True).click)
    rerun_and_wait(page, panel.get_by_role("button", name="Lock in my prediction").click)


def _move_cursor_right(page, label: str, steps: int) -> None:
    slider = _main(page).get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")
    for _ in range(steps):
        slider.focus()
        rerun_and_wait(page, lambda: slider.press("ArrowRight"))


def test_the_global_attention_lesson_in_a_browser(app_server, page):
    _start(page, app_server, "attention-global")
    # Step 1: predict where output step 1 looks; the page appears with the model's answer beside ours.
    _predict(page, "3")
    expect(_main(page).get_by_role("heading", name="Attention", level=1)).to_be_visible()
    expect(_panel(page)).to_contain_text("You predicted 3; the answer is 1")
    expect(_panel(page)).to_contain_text("The tutorial reports 95.7%")
    _expect_done(page)
    save_screenshot(page, "lesson", full_page=False)
    _next(page, 1)
    # Step 2: move the output cursor until the attention leaves the ideal alignment (padding steps).
    expect(_panel(page)).to_contain_text("To do:")
    _move_cursor_right(page, "Output step", 2)  # from output step 1 to 3, the first padding step
    _expect_done(page)
    _next(page, 2)
    # Step 3: switch the score function through the page's own radio and button.
    main = _main(page)
    rerun_and_wait(page, main.get_by_text("general (Luong)", exact=True).click)
    rerun_and_wait(page, main.get_by_role("button", name=re.compile("^Switch the model to")).click)
    _expect_done(page)
    expect(page).to_have_url(re.compile(r"[?&]arch=luong(&|$)"))
    _next(page, 3)
    # Step 4: a date, read in characters: where does the first digit of the year look?
    _predict(page, "the end")
    expect(_main(page).get_by_role("heading", name="Attention", level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]task=dates(&|$)"))
    expect(_panel(page)).to_contain_text("You predicted the end, and so it is: the end")
    _expect_done(page)
    expect(_panel(page)).to_contain_text("Lesson complete")


def test_the_teacher_forcing_lesson_in_a_browser(app_server, page):
    _start(page, app_server, "teacher-forcing")
    main = _main(page)
    # Step 1: the unrolled graph as trained (a URL-bound radio).
    rerun_and_wait(page, main.get_by_text("the true previous symbol (teacher forcing, training)").click)
    _expect_done(page)
    _next(page, 1)
    # Step 2: predict what inference reads.
    _predict(page, "its own output of step 1")
    expect(_panel(page)).to_contain_text("and so it is")
    _expect_done(page)
    _next(page, 2)
    # Step 3: the final model agrees with itself on the sample; an early epoch of training does not.
    expect(_panel(page)).to_contain_text("To do:")
    rerun_and_wait(page, main.get_by_role("button", name="Show an early epoch where they diverge").click)
    expect(main).to_contain_text("first differ at step")
    _expect_done(page)
    expect(_panel(page)).to_contain_text("Lesson complete")
    expect(page).to_have_url(re.compile(r"[?&]epoch=[0-9.]+(&|$)"))
