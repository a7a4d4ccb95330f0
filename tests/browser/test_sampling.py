"""Top-k candidates and sampling on the Decoding page, in a real Chromium."""

from __future__ import annotations

import re

import pytest

from .conftest import SCREENSHOTS, assert_no_exception, rerun_and_wait, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

TIMEOUT_MS = 60_000


def test_samples_are_drawn_beside_greedy_and_beam_and_a_new_seed_redraws_them(app_server, page):
    page.goto(f"{app_server}/decoding?task=reverse&arch=teacher-forcing&temperature=3.0&samples=12")
    wait_for_app(page)
    main = page.get_by_test_id("stMain")
    heading = main.get_by_text("The k most likely symbols, and sampling", exact=True)
    expect(heading).to_be_visible(timeout=TIMEOUT_MS)
    expect(main.get_by_text(re.compile(r"distinct sequence\(s\) among 12 samples"))).to_be_visible(timeout=TIMEOUT_MS)
    caption = main.get_by_text(re.compile(r"distinct sequence\(s\) among 12 samples")).inner_text()
    seed = main.get_by_role("spinbutton", name="Sampling seed")

    def new_seed() -> None:
        seed.fill("7")
        seed.press("Enter")

    rerun_and_wait(page, new_seed)
    assert_no_exception(page)
    assert "sample_seed=7" in page.url
    expect(main.get_by_text(re.compile(r"distinct sequence\(s\) among 12 samples"))).to_be_visible()
    # The grids are canvases: the captions and the URL are what a test can read; the draw itself is unit-tested.
    assert caption
    main.get_by_text(re.compile(r"distinct sequence\(s\) among 12 samples")).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sampling.png"))
