"""The app's pages in a real Chromium against `streamlit run app.py`."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import assert_no_exception, rerun_and_wait, save_screenshot, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

PROBLEM_KINDS = ["Prediction", "Classification", "Generation", "Sequence-to-sequence"]

# Streamlit 1.67's chart elements: st.altair_chart / st.vega_lite_chart draw into `stVegaLiteChart` (vega-embed's
# SVG renderer: an `svg.marks` whose marks are `g.role-mark` groups), st.graphviz_chart into `stGraphVizChart`
# (an `svg` from d3-graphviz with one `g.node` per node).
VEGA = '[data-testid="stVegaLiteChart"]'
GRAPHVIZ = '[data-testid="stGraphVizChart"]'
CHART_TIMEOUT_MS = 60_000
TRAIN_TIMEOUT_MS = 120_000

# A pretrained configuration: an attention model, so every page has something to draw.
PRETRAINED = "task=copy-first-k&arch=bahdanau"

# page -> (url path, title, at least this many Altair charts, at least this many graphviz charts).
PAGES = {
    "home": ("", "Seq2Seq Explorer", 0, 0),
    "train": ("train", "Train & Compare", 4, 0),  # training curves, comparison bars and curves, length curves
    "graph": ("graph", "Unrolled graph", 0, 4),  # folded, unrolled, three models, backward
    "states": ("states", "Hidden states, cell states and gates", 4, 0),  # hidden, cell, gates, units over time
    "attention": ("attention", "Attention", 3, 0),  # heatmap, one step's bars, accuracy by length
}


def _main(page):
    return page.get_by_test_id("stMain")


def assert_charts_render(page, vega: int = 0, graphviz: int = 0, timeout_ms: int = CHART_TIMEOUT_MS) -> None:
    """Wait for at least `vega` Altair and `graphviz` graphviz charts in the main area; each must have drawn.

    Streamlit loads its chart components lazily (skeletons first), so the charts can appear after the script
    run is over: wait for them instead of counting once.
    """
    main = _main(page)
    for selector, least in ((VEGA, vega), (GRAPHVIZ, graphviz)):
        if least:
            expect(main.locator(selector).nth(least - 1)).to_be_attached(timeout=timeout_ms)
    charts = main.locator(VEGA)
    for i in range(charts.count()):
        chart = charts.nth(i)
        drawn = chart.locator("svg, canvas").first
        expect(drawn).to_be_attached(timeout=timeout_ms)
        if chart.locator("canvas").count() == 0:  # SVG renderer: it must hold marks, not just an empty frame
            expect(chart.locator("svg .role-mark").first).to_be_attached(timeout=timeout_ms)
        box = drawn.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"Altair chart {i + 1} is drawn at size {box}"
    graphs = main.locator(GRAPHVIZ)
    for i in range(graphs.count()):
        graph = graphs.nth(i)
        expect(graph.locator("svg g.node").first).to_be_attached(timeout=timeout_ms)
        box = graph.locator("svg").first.bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50, f"graphviz chart {i + 1} is drawn at size {box}"


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_home_page_renders(app_server, browser_page):
    page = browser_page
    page.goto(app_server)
    wait_for_app(page)

    main = _main(page)
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
    # Every page is in the sidebar navigation.
    nav = page.get_by_test_id("stSidebarNav")
    for title in ("Welcome", "Train & Compare", "Unrolled graph", "States & gates", "Attention"):
        expect(nav.get_by_text(title, exact=True)).to_be_visible()

    assert_no_exception(page)


@pytest.mark.parametrize("name", list(PAGES))
def test_page_opens_by_url_and_its_charts_render(app_server, browser_page, name):
    """Each page, opened by link with a pretrained configuration, runs to the end and draws all its charts."""
    path, title, vega, graphviz = PAGES[name]
    page = browser_page
    page.goto(f"{app_server}/{path}?{PRETRAINED}")
    wait_for_app(page)

    main = _main(page)
    expect(main.get_by_role("heading", name=title, level=1)).to_be_visible()
    # The link's configuration is the one picked, and it stays in the URL (completed with the other fields).
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Task")).to_contain_text(
        "copy-first-k"
    )
    query = _query(page)
    assert query["task"] == ["copy-first-k"] and query["arch"] == ["bahdanau"], page.url
    # A pretrained model was found: no "has no trained model yet" notice.
    expect(main.get_by_text("has no trained model yet")).to_have_count(0)
    if name == "home":
        expect(main.get_by_test_id("stMetric").filter(has_text="Exact-sequence accuracy")).to_be_visible()
    else:
        expect(main.get_by_text("shipped pretrained model").first).to_be_visible()
    assert_charts_render(page, vega=vega, graphviz=graphviz)
    assert_no_exception(page)
    save_screenshot(page, name)


def test_changing_the_task_in_the_sidebar_updates_page_and_url(app_server, browser_page):
    page = browser_page
    page.goto(f"{app_server}/train?task=reverse&arch=teacher-forcing")
    wait_for_app(page)
    main = _main(page)
    expect(main.get_by_role("heading", name="reverse × teacher-forcing")).to_be_visible()
    assert _query(page)["task"] == ["reverse"]

    task_select = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Task")
    task_select.click()
    option = page.get_by_role("option", name=re.compile(r"^copy-first-k ·"))
    rerun_and_wait(page, option.click)

    expect(main.get_by_role("heading", name="copy-first-k × teacher-forcing")).to_be_visible()
    expect(main.get_by_role("heading", name="reverse × teacher-forcing")).to_have_count(0)
    expect(task_select).to_contain_text("copy-first-k")
    expect(page).to_have_url(re.compile(r"[?&]task=copy-first-k(&|$)"))
    assert _query(page)["arch"] == ["teacher-forcing"], page.url
    assert_no_exception(page)


def test_training_a_tiny_configuration_through_the_ui(app_server, browser_page):
    """The server's model cache is a fresh temporary folder, so this configuration really trains."""
    page = browser_page
    page.goto(f"{app_server}/train?task=reverse&arch=teacher-forcing&units=8&ep=1&bs=64")
    wait_for_app(page)
    main = _main(page)
    accuracy = main.get_by_test_id("stMetric").filter(has_text="Exact-sequence accuracy")
    expect(accuracy).to_have_count(0)
    train = main.get_by_role("button", name="Train this configuration")
    expect(train).to_be_visible()

    train.click()
    expect(accuracy).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    wait_for_app(page, timeout_ms=TRAIN_TIMEOUT_MS)

    expect(accuracy.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    expect(main.get_by_text("trained in this session").first).to_be_visible()
    expect(main.get_by_role("button", name="Train this configuration")).to_have_count(0)
    query = _query(page)
    assert (query["units"], query["ep"], query["bs"]) == (["8"], ["1"], ["64"]), page.url
    assert_charts_render(page, vega=1)  # at least the training curves of the model just trained
    assert_no_exception(page)
    save_screenshot(page, "train-done")


def test_a_bad_typed_sequence_shows_an_error_not_an_exception(app_server, browser_page):
    page = browser_page
    page.goto(f"{app_server}/states?{PRETRAINED}")
    wait_for_app(page)
    box = _main(page).get_by_role("textbox", name="Input sequence")
    expect(box).to_be_visible()
    good = box.input_value()

    def type_bad_sequence():
        box.fill("1, 2, banana")
        box.press("Enter")

    rerun_and_wait(page, type_bad_sequence)

    error = _main(page).get_by_test_id("stAlertContentError")
    expect(error).to_be_visible()
    expect(error).to_contain_text("That input cannot be used")
    expect(error).to_contain_text("banana")
    expect(error).to_contain_text(f"Showing {good} instead")
    # The page falls back to the last valid sequence and still draws its figures.
    assert_charts_render(page, vega=PAGES["states"][2])
    assert_no_exception(page)


def test_the_url_round_trips_through_a_reload(app_server, browser_page):
    page = browser_page
    page.goto(f"{app_server}/attention?task=copy-first-k&arch=luong&score=general&step=2")
    wait_for_app(page)

    def assert_luong_general_at_step_2():
        main = _main(page)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_test_id("stSelectbox").filter(has_text="Architecture")).to_contain_text("luong")
        expect(main.get_by_role("radio", name="general (Luong)")).to_be_checked()
        expect(main.get_by_role("button", name=re.compile("^Switch the model to"))).to_have_count(0)
        expect(main.get_by_text("shipped pretrained model").first).to_be_visible()
        expect(main.get_by_text("luong (attention)", exact=True).first).to_be_attached()
        expect(main.get_by_test_id("stSlider").get_by_test_id("stSliderThumbValue")).to_have_text("2")
        assert_no_exception(page)

    assert_luong_general_at_step_2()
    query = _query(page)
    for key, value in {"task": "copy-first-k", "arch": "luong", "score": "general", "step": "2"}.items():
        assert query.get(key) == [value], f"{key} not kept in {page.url}"
    before = urlparse(page.url).query

    page.reload()
    wait_for_app(page)
    assert_luong_general_at_step_2()
    assert _query(page) == query, f"{page.url} after the reload, was ?{before}"
    assert urlparse(page.url).query == before
