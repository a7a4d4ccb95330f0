"""The States page in a real Chromium: a click on the hidden-state heatmap shows that unit's step in numbers, and
the unit pattern search runs. Saves docs/screenshots/lstm-step.png and docs/screenshots/unit-search.png."""

from __future__ import annotations

import re

import pytest

from .conftest import SCREENSHOTS, assert_no_exception, rerun_and_wait, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

VEGA = '[data-testid="stVegaLiteChart"]'
TIMEOUT_MS = 60_000
# The shipped reversal model: 64 LSTM units, inputs of 6 steps.
STATES = "task=reverse&arch=teacher-forcing"
UNITS = 64

# Centre of the heatmap cell number `index` (the mark layer with one rect per (step, unit), in the frame's order:
# step by step, unit by unit within a step), in page pixels.
_CELL_CENTRE_JS = """(el, [index, count]) => {
  const layer = [...el.querySelectorAll('svg g.role-mark')].find((g) => g.children.length === count);
  const box = layer.children[index].getBoundingClientRect();
  return [box.x + box.width / 2, box.y + box.height / 2];
}"""


def test_a_click_on_the_heatmap_shows_that_units_step_in_numbers_and_the_search_runs(app_server, page):
    page.goto(f"{app_server}/states?{STATES}")
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("One step in numbers: unit 1 at step 1")).to_be_visible(timeout=TIMEOUT_MS)
    heatmap = main.locator(VEGA).filter(has_text="hidden state h of encoder_0")
    expect(heatmap.locator("svg g.role-mark > *").first).to_be_attached(timeout=TIMEOUT_MS)
    heatmap.scroll_into_view_if_needed()  # the mouse clicks at a place in the window
    page.wait_for_timeout(500)  # let vega finish laying the cells out
    step, unit = 4, 10
    x, y = heatmap.evaluate(_CELL_CENTRE_JS, [(step - 1) * UNITS + (unit - 1), 6 * UNITS])

    rerun_and_wait(page, lambda: page.mouse.click(x, y))

    assert_no_exception(page)
    expect(main.get_by_text(f"One step in numbers: unit {unit} at step {step}")).to_be_visible(timeout=TIMEOUT_MS)
    expect(main.get_by_role("spinbutton", name=re.compile("^Unit"))).to_have_value(str(unit))
    expect(page).to_have_url(re.compile(rf"[?&]unit={unit}(&|$)"))
    expect(page).to_have_url(re.compile(rf"[?&]layer_step={step}(&|$)"))
    # The equations, rendered by KaTeX, with the check against the probe beneath them.
    equations = main.get_by_test_id("stMarkdown").locator(".katex").first
    expect(equations).to_contain_text("tanh", timeout=TIMEOUT_MS)
    expect(main.get_by_text(re.compile(r"largest difference is \d\.\de-\d\d"))).to_be_visible()
    title = main.get_by_text(f"One step in numbers: unit {unit} at step {step}")
    title.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "lstm-step.png"))

    # The pattern search: a lower threshold, then the charts of where the unit is on and what it predicts.
    search = main.get_by_text("Unit pattern search", exact=True)
    search.scroll_into_view_if_needed()
    scores = main.locator(VEGA).filter(has_text="how well the unit predicts it")
    expect(scores).to_be_visible(timeout=TIMEOUT_MS)
    expect(scores).to_contain_text("symbol read")
    firing = main.locator(VEGA).filter(has_text="share of inputs on")
    if firing.count() == 0:  # unit 10 never reaches the default threshold: the page says so
        expect(main.get_by_text(re.compile("is never above"))).to_be_visible()
    else:
        expect(firing).to_contain_text(f"where unit {unit} is above")
    assert_no_exception(page)
    # The threshold slider at the top of the window, the two charts and the examples below it.
    main.get_by_text("Threshold: the unit is on").evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / "unit-search.png"))  # one section each, not the whole page
