"""The What-if page in a real Chromium: force the first output, see where the effects start."""

from __future__ import annotations

import re

import pytest

from .conftest import SCREENSHOTS, assert_no_exception, rerun_and_wait, save_screenshot, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

VEGA = '[data-testid="stVegaLiteChart"]'
DATA_MARK = "svg g.role-mark > *"
TIMEOUT_MS = 60_000


def test_forcing_the_first_output_marks_where_the_effects_start_and_an_attention_change_too(app_server, page):
    page.goto(f"{app_server}/whatif?task=reverse&arch=teacher-forcing")
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Nothing downstream moved", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    forced = main.get_by_role("textbox", name=re.compile("Forced first outputs"))

    def force() -> None:
        forced.fill("3")
        forced.press("Enter")

    rerun_and_wait(page, force)
    assert_no_exception(page)
    expect(main.get_by_text("The effects start at output step 1", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    assert "force=3" in page.url
    expect(main.locator(VEGA).first.locator(DATA_MARK).first).to_be_attached(timeout=TIMEOUT_MS)
    expect(main.locator(VEGA)).to_have_count(2)
    save_screenshot(page, "whatif")

    # The same page on an attention model: force output step 1 to read the third input symbol.
    page.goto(f"{app_server}/whatif?task=copy-first-k&arch=bahdanau&seq=7, 19, 33, 41, 2&whatif=force the attention")
    wait_for_app(page)
    expect(main.get_by_text("Input step 1 holds", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    choice = main.get_by_test_id("stSelectbox").filter(has_text="reads input step")

    def attend_to_three() -> None:
        choice.click()
        page.get_by_role("option", name="3", exact=True).click()

    rerun_and_wait(page, attend_to_three)
    assert_no_exception(page)
    expect(main.get_by_text("The effects start at output step 1", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    expect(main.get_by_text(re.compile(r"After:.*33"))).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
