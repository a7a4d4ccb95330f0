"""The app's pages in a real Chromium against `streamlit run app.py`."""

from __future__ import annotations

import pytest

from .conftest import assert_no_exception, save_screenshot, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

PROBLEM_KINDS = ["Prediction", "Classification", "Generation", "Sequence-to-sequence"]


def test_home_page_renders(app_server, browser_page):
    page = browser_page
    page.goto(app_server)
    wait_for_app(page)

    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name="Seq2Seq Explorer", level=1)).to_be_visible()
    expect(page).to_have_title("Seq2Seq Explorer")
    # The four kinds of sequence problem, each in its own column with its "Try <task>" buttons.
    for kind in PROBLEM_KINDS:
        expect(main.get_by_text(kind, exact=True)).to_be_visible()
    expect(main.get_by_role("button", name="Try reverse", exact=True)).to_be_visible()
    assert main.get_by_role("button", name="Try ").count() >= len(PROBLEM_KINDS)
    # The loaded model: the default configuration ships pretrained, so its metrics are shown.
    expect(main.get_by_role("heading", name="Loaded model")).to_be_visible()
    expect(main.get_by_test_id("stMetric").first).to_be_visible()
    # Both pages are in the sidebar navigation.
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Welcome")).to_be_visible()
    expect(nav.get_by_text("Train & Compare")).to_be_visible()

    assert_no_exception(page)
    save_screenshot(page, "home")
