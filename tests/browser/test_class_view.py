"""A class answering together in real Chromium: a teacher's projector and three students' phones, one server.

What AppTest cannot show: the projector's chart fills in on its own timer as answers arrive, and the students'
pages notice the teacher's reveal on theirs, with no reload anywhere. Also: the replay slider moved in the page.
"""

from __future__ import annotations

import re

import pytest

from explorer.lessons import LESSONS, step_url

from .conftest import PAGE_TIMEOUT_MS, assert_no_exception, rerun_and_wait, save_screenshot, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

PROJECTOR = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _main(page):
    return page.get_by_test_id("stMain")


def test_a_class_answers_on_their_phones_and_the_projector_shows_it_live(app_server, page, browser):
    lesson = LESSONS["attention-global"]
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{app_server}{step_url(lesson, 1)}&present=1")
    wait_for_app(page)
    rerun_and_wait(page, page.get_by_role("button", name="Start a class").click)
    link = page.locator(".st-key-lesson_panel code").filter(has_text="class=").first.inner_text().strip()
    code = re.search(r"class=([A-Z0-9]{6})", link).group(1)
    assert "teach=" not in link and "present=" not in link  # the student link carries no teacher's powers
    expect(page.get_by_text(code, exact=True)).to_be_visible()
    expect(page.get_by_role("img").first).to_be_visible()  # the QR code
    expect(page.locator(".st-key-lesson_panel")).to_contain_text("0 students have answered")

    phones = []
    for number, choice in enumerate(("1", "2", "1"), start=1):
        context = browser.new_context(viewport=PHONE)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        phone = context.new_page()
        phone.goto(link)
        wait_for_app(phone)
        expect(_main(phone)).to_contain_text(f"You are answering with class {code}")
        expect(_main(phone).get_by_role("heading", name="Attention", level=1)).to_have_count(0)  # not before reveal
        rerun_and_wait(phone, _main(phone).get_by_text(choice, exact=True).first.click)
        rerun_and_wait(phone, _main(phone).get_by_role("button", name="Send my answer").click)
        expect(_main(phone)).to_contain_text(f"Sent: {choice}")
        phones.append(phone)
        # The projector was not touched: its chart's own timer brings the count up.
        expect(page.locator(".st-key-lesson_panel")).to_contain_text(
            f"{number} student{'s have' if number > 1 else ' has'} answered", timeout=20_000
        )
    save_screenshot(phones[0], "class-student", full_page=False)
    save_screenshot(page, "class")

    rerun_and_wait(page, page.get_by_role("button", name="Reveal the model's answer").click)
    expect(page.locator(".st-key-lesson_panel")).to_contain_text("The model's answer: 1")
    expect(_main(page).get_by_role("heading", name="Attention", level=1)).to_have_count(1)
    for phone, choice in zip(phones, ("1", "2", "1"), strict=True):
        # Each phone's own polling notices the reveal: no reload.
        expect(_main(phone)).to_contain_text("The model's answer: 1", timeout=20_000)
        verdict = "It matches the model's." if choice == "1" else "The model answered otherwise."
        expect(_main(phone)).to_contain_text(verdict)
        expect(_main(phone).get_by_role("heading", name="Attention", level=1)).to_be_visible()
        assert_no_exception(phone)
        phone.context.close()
    assert_no_exception(page)


def test_the_replay_slider_shows_the_attention_of_an_early_epoch(app_server, page):
    page.goto(f"{app_server}/attention?task=copy-first-k&arch=bahdanau")
    wait_for_app(page)
    main = _main(page)
    expect(main).to_contain_text("Final weights")
    slider = main.get_by_test_id("stSlider").filter(has_text="Training epoch").get_by_role("slider")
    slider.focus()
    rerun_and_wait(page, lambda: slider.press("Home"))
    expect(main).to_contain_text("Replay snapshot")
    expect(main).to_contain_text("Initial weights")
    expect(page).to_have_url(re.compile(r"[?&]epoch=0(&|$)"))
    assert_no_exception(page)
    save_screenshot(page, "replay")
