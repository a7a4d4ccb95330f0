"""The dates task and the saliency map in a real Chromium: characters on the axes, a typed date normalised."""

from __future__ import annotations

import pytest

from .conftest import SCREENSHOTS, assert_no_exception, rerun_and_wait, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

VEGA = '[data-testid="stVegaLiteChart"]'
DATA_MARK = "svg g.role-mark > *"
CHART_TIMEOUT_MS = 60_000
_AXIS_LABELS_JS = """(el) => [...el.querySelectorAll('svg g.role-axis')].map((axis) =>
  [...axis.querySelectorAll('g.role-axis-label text')].map((text) => text.textContent))"""


def _main(page):
    return page.get_by_test_id("stMain")


def _labels(chart) -> list[list[str]]:
    expect(chart.locator(DATA_MARK).first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    return chart.evaluate(_AXIS_LABELS_JS)


def test_a_typed_date_is_normalised_and_both_maps_read_in_characters(app_server, page):
    page.goto(f"{app_server}/attention?task=dates&arch=bahdanau")
    wait_for_app(page)
    main = _main(page)
    box = main.get_by_test_id("stTextInputField").first
    expect(box).to_be_visible(timeout=CHART_TIMEOUT_MS)

    def type_date() -> None:
        box.fill("June 23, 2009")
        box.press("Enter")

    rerun_and_wait(page, type_date)
    assert_no_exception(page)
    attention = main.locator(VEGA).first
    axes = _labels(attention)
    written = list("june␣23,␣2009")  # a space is labelled with the visible-space sign
    assert any(axis[: len(written)] == written for axis in axes), axes
    assert list("2009-06-23") in axes, axes  # the decoded output, a character per row
    saliency = main.locator(VEGA).filter(has_text="saliency").first
    expect(saliency).to_be_attached(timeout=CHART_TIMEOUT_MS)
    assert list("2009-06-23") in _labels(saliency)
    expect(main.get_by_text("Agreement with attention", exact=False).first).to_be_attached()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    attention.scroll_into_view_if_needed()
    attention.screenshot(path=str(SCREENSHOTS / "dates-attention.png"))
    saliency.scroll_into_view_if_needed()
    saliency.screenshot(path=str(SCREENSHOTS / "saliency.png"))


def test_a_date_the_model_cannot_read_is_explained_and_the_page_keeps_working(app_server, page):
    page.goto(f"{app_server}/attention?task=dates&arch=bahdanau")
    wait_for_app(page)
    main = _main(page)
    box = main.get_by_test_id("stTextInputField").first

    def type_nonsense() -> None:
        box.fill("31 feb 2009")
        box.press("Enter")

    rerun_and_wait(page, type_nonsense)
    expect(main.get_by_text("is not a date this model reads", exact=False).first).to_be_visible()
    expect(main.locator(VEGA).first.locator(DATA_MARK).first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    assert_no_exception(page)
