"""The app's pages in a real Chromium against `streamlit run app.py`."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qs, urlparse

import pytest

from explorer.ui.pages import PAGES as APP_PAGES

from .conftest import SCREENSHOTS, assert_no_exception, rerun_and_wait, save_screenshot, wait_for_app

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed")

PROBLEM_KINDS = ["Prediction", "Classification", "Generation", "Sequence-to-sequence"]

# Streamlit 1.67's chart elements: st.altair_chart / st.vega_lite_chart draw into `stVegaLiteChart` (vega-embed's
# SVG renderer: an `svg.marks` whose marks are `g.role-mark` groups), st.graphviz_chart into `stGraphVizChart`
# (an `svg` from d3-graphviz with one `g.node` per node).
VEGA = '[data-testid="stVegaLiteChart"]'
GRAPHVIZ = '[data-testid="stGraphVizChart"]'
# One drawn datum (a point, a line, a bar, a cell) of an Altair chart: vega's mark groups hold one item each.
DATA_MARK = "svg g.role-mark > *"
CHART_TIMEOUT_MS = 60_000
TRAIN_TIMEOUT_MS = 120_000

# A pretrained configuration: an attention model, so every page has something to draw.
PRETRAINED = "task=copy-first-k&arch=bahdanau"
# The decoding page with both of its scheduled-sampling variants shipped pretrained (reverse x teacher-forcing).
DECODING = "task=reverse&arch=teacher-forcing"
# The embeddings page needs the series task with the LSTM autoencoder (reconstruct mode ships pretrained).
EMBEDDINGS = "task=series&arch=lstm-autoencoder"


class PageCase(NamedTuple):
    """What a page must show when opened by link; its path and H1 come from the page registry."""

    vega: int  # at least this many Altair charts
    graphviz: int  # at least this many graphviz charts
    query: str = PRETRAINED  # the link it is opened with: a configuration with a shipped pretrained model
    marker: str | None = "shipped pretrained model"  # text that shows the page found its model(s)


EXPECTED = {
    "home": PageCase(0, 0, marker=None),
    # training curves, comparison bars and curves, length curves
    "train": PageCase(4, 0),
    "graph": PageCase(0, 4),  # folded, unrolled, three models, backward
    "states": PageCase(6, 0),  # hidden, cell, gates, units; a unit's firing by step and what it predicts
    "attention": PageCase(4, 0),  # heatmap, one step's bars, saliency, accuracy by length
    # accuracy by output position, scheduled sampling vs teacher forcing; the beam-search tree
    "decoding": PageCase(2, 1, query=DECODING),
    # the probability shifts and the decoder states' change after forcing the first output (the reversal model)
    "whatif": PageCase(2, 0, query=f"{DECODING}&force=3"),
    # series and its reconstruction, the 2-D projection, a series and its neighbours. `colour=frequency`: the
    # default colouring by shape draws no points (see test_embedding_projection_draws_its_points_by_default).
    "embeddings": PageCase(3, 0, query=f"{EMBEDDINGS}&colour=frequency"),
    # per-layer gradient norms of the four runs (one faceted chart); the page ignores the picked configuration
    "gradients": PageCase(1, 0, marker="SimpleRNN (ReLU), clipnorm 1.0"),
}
PAGES = {entry.name: entry for entry in APP_PAGES}


def test_every_registered_page_has_its_expectations():
    assert set(EXPECTED) == set(PAGES)


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
        if chart.locator("canvas").count() == 0:  # SVG renderer: it must draw data marks, not just axes
            expect(chart.locator(DATA_MARK).first).to_be_attached(timeout=timeout_ms)
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


def _sidebar_select(page, label: str):
    """A sidebar selectbox: Streamlit 1.67 draws it as a combobox whose *value* (not text) is the choice."""
    return page.get_by_test_id("stSidebar").get_by_role("combobox", name=label, exact=True)


def _expect_choice(select, option: str) -> None:
    """The selectbox shows `option` (the sidebar formats tasks as `name · kind`)."""
    expect(select).to_have_value(re.compile(rf"^{re.escape(option)}( ·|$)"))


def test_home_page_renders(app_server, page):
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
    for title in (entry.title for entry in APP_PAGES):
        expect(nav.get_by_text(title, exact=True)).to_be_visible()

    assert_no_exception(page)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_page_opens_by_url_and_its_charts_render(app_server, page, name):
    """Each page, opened by link with a pretrained configuration, runs to the end and draws all its charts."""
    entry, case = PAGES[name], EXPECTED[name]
    page.goto(f"{app_server}/{entry.url_path}?{case.query}")
    wait_for_app(page)

    main = _main(page)
    expect(main.get_by_role("heading", name=entry.heading, level=1)).to_be_visible()
    # The link's configuration is the one picked, and it stays in the URL (completed with the other fields).
    wanted = {key: values[0] for key, values in parse_qs(case.query).items()}
    _expect_choice(_sidebar_select(page, "Task"), wanted["task"])
    _expect_choice(_sidebar_select(page, "Architecture"), wanted["arch"])
    query = _query(page)
    for key, value in wanted.items():
        assert query.get(key) == [value], f"{key}={value} not kept in {page.url}"
    assert {"in", "out", "units", "ep", "lr", "bs"} <= set(query), f"the configuration is not completed in {page.url}"
    # A pretrained model was found: no "has no trained model yet" / "Not trained yet" notice.
    expect(main.get_by_text("has no trained model yet")).to_have_count(0)
    expect(main.get_by_text("Not trained yet")).to_have_count(0)
    if name == "home":
        expect(main.get_by_test_id("stMetric").filter(has_text="Exact-sequence accuracy")).to_be_visible()
    if case.marker:
        expect(main.get_by_text(case.marker).first).to_be_visible()
    assert_charts_render(page, vega=case.vega, graphviz=case.graphviz)
    assert_no_exception(page)
    save_screenshot(page, name)


def test_changing_the_task_in_the_sidebar_updates_page_and_url(app_server, page):
    page.goto(f"{app_server}/train?task=reverse&arch=teacher-forcing")
    wait_for_app(page)
    main = _main(page)
    expect(main.get_by_role("heading", name="reverse × teacher-forcing")).to_be_visible()
    assert _query(page)["task"] == ["reverse"]

    task_select = _sidebar_select(page, "Task")
    task_select.click()
    option = page.get_by_role("option", name=re.compile(r"^copy-first-k ·"))
    rerun_and_wait(page, option.click)

    expect(main.get_by_role("heading", name="copy-first-k × teacher-forcing")).to_be_visible()
    expect(main.get_by_role("heading", name="reverse × teacher-forcing")).to_have_count(0)
    _expect_choice(task_select, "copy-first-k")
    expect(page).to_have_url(re.compile(r"[?&]task=copy-first-k(&|$)"))
    assert _query(page)["arch"] == ["teacher-forcing"], page.url
    assert_no_exception(page)


def test_training_a_tiny_configuration_through_the_ui(app_server, page):
    """The server's model cache is a fresh temporary folder, so this configuration really trains."""
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


def test_a_bad_typed_sequence_shows_an_error_not_an_exception(app_server, page):
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
    assert_charts_render(page, vega=EXPECTED["states"].vega)
    assert_no_exception(page)


def test_the_url_round_trips_through_a_reload(app_server, page):
    page.goto(f"{app_server}/attention?task=copy-first-k&arch=luong&score=general&step=2")
    wait_for_app(page)

    def assert_luong_general_at_step_2():
        main = _main(page)
        _expect_choice(_sidebar_select(page, "Architecture"), "luong")
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


# -- the decoding, embeddings and gradients pages, and presenter mode ------------------------------------------

# st.dataframe draws on a canvas (glide-data-grid); its accessible fallback table inside the canvas has the cells.
_GRID_ROWS_JS = """(grid) => {
  const headers = [...grid.querySelectorAll('[role=columnheader]')].map((cell) => cell.textContent.trim());
  return [...grid.querySelectorAll('tr[role=row]')]
    .map((row) => [...row.querySelectorAll('[role=gridcell]')].map((cell) => cell.textContent.trim()))
    .filter((cells) => cells.length)
    .map((cells) => Object.fromEntries(headers.map((name, i) => [name, cells[i]])));
}"""


def _grid_rows(grid) -> list[dict[str, str]]:
    expect(grid.locator("[role=gridcell]").first).to_be_attached()
    return grid.evaluate(_GRID_ROWS_JS)


def _column(rows: list[dict[str, str]], name: str) -> list[str]:
    return [row[name] for row in rows]


def test_decoding_typed_sequence_updates_teacher_forced_and_free_running_table(app_server, page):
    """Typing a new input re-decodes it both ways: targets, what each decoder reads, and the greedy result follow."""
    page.goto(f"{app_server}/decoding?{DECODING}")
    wait_for_app(page)
    main = _main(page)
    grid = main.get_by_test_id("stDataFrame").first
    before = _grid_rows(grid)
    assert [list(row) for row in before[:1]] == [
        [
            "step",
            "target",
            "teacher-forced reads",
            "teacher-forced says",
            "p (teacher-forced)",
            "free-running reads",
            "free-running says",
            "p (free-running)",
        ]
    ], before
    box = main.get_by_role("textbox", name="Input sequence")

    def type_sequence():
        box.fill("7, 8, 9, 10, 11, 12")
        box.press("Enter")

    rerun_and_wait(page, type_sequence)

    # reverse, 6 in and 3 out: the targets are the first three symbols backwards.
    first_target = grid.locator("tr[role=row]").filter(has=page.locator("[role=gridcell]")).first.locator("td").nth(1)
    expect(first_target).to_have_text("9")
    rows = _grid_rows(grid)
    assert _column(rows, "step") == ["1", "2", "3"], rows
    assert _column(rows, "target") == ["9", "8", "7"], rows
    # Teacher forcing reads the start symbol, then the true previous target; free running reads its own output.
    assert _column(rows, "teacher-forced reads") == ["0", "9", "8"], rows
    says = _column(rows, "free-running says")
    assert _column(rows, "free-running reads") == ["0", *says[:2]], rows
    assert rows != before
    # The greedy decode quoted under the beam-search tree is the free-running column.
    expect(main.get_by_text(re.compile(r"^Best: "))).to_contain_text(f"greedy: {', '.join(says)}")
    expect(main.get_by_text(re.compile(r"Both decodes agree|The two decodes first differ at step"))).to_be_visible()
    assert _query(page)["seq"] == ["7, 8, 9, 10, 11, 12"], page.url
    assert_charts_render(page, vega=EXPECTED["decoding"].vega, graphviz=EXPECTED["decoding"].graphviz)
    assert_no_exception(page)


def _mark_counts(chart) -> list[int]:
    """How many items each data-mark group of a (layered) Altair chart draws."""
    return chart.evaluate("(el) => [...el.querySelectorAll('svg g.role-mark')].map((g) => g.children.length)")


def test_embeddings_choosing_a_series_shows_it_and_its_neighbours(app_server, page):
    page.goto(f"{app_server}/embeddings?{EMBEDDINGS}&colour=frequency")
    wait_for_app(page)
    main = _main(page)
    neighbours = main.locator(VEGA).filter(has_text="nearest neighbours in embedding space")
    expect(neighbours).to_contain_text("series 0 (")
    number = main.get_by_role("spinbutton", name="Or choose a series by number")

    def choose_series_7():
        number.fill("7")
        number.press("Enter")

    rerun_and_wait(page, choose_series_7)

    expect(neighbours).to_contain_text(re.compile(r"series 7 \((ramp|sine)\) and its 5 nearest neighbours"))
    expect(neighbours).not_to_contain_text("series 0 (")
    expect(neighbours.locator(DATA_MARK).first).to_be_attached()
    assert _query(page).get("point") == ["7"], page.url
    # The scatter draws the 400 encodings and rings one series and its 5 neighbours (which series: see
    # test_embedding_projection_rings_the_series_just_chosen).
    projection = main.locator(VEGA).filter(has_text="component 1")
    expect(projection).to_have_count(1)
    counts = _mark_counts(projection)
    assert 400 in counts and 6 in counts, f"mark items per layer: {counts}"
    assert_no_exception(page)


def test_embedding_projection_draws_its_points_by_default(app_server, page):
    """Default colouring (by shape): the 2-D scatter of the 400 encodings must draw 400 points."""
    page.goto(f"{app_server}/embeddings?{EMBEDDINGS}")
    wait_for_app(page)
    projection = _main(page).locator(VEGA).filter(has_text="component 1")
    expect(projection.locator("svg g.role-mark").first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    page.wait_for_timeout(500)
    assert_no_exception(page)
    assert 400 in _mark_counts(projection), f"mark items per layer: {_mark_counts(projection)}"


_RING_POSITIONS_JS = """(el) => [...el.querySelectorAll('svg g.role-mark')]
  .filter((g) => g.children.length > 0 && g.children.length < 50)
  .map((g) => [...g.children].map((item) => item.getAttribute('transform')).sort().join(' '))"""


def test_embedding_projection_rings_the_series_just_chosen(app_server, page):
    page.goto(f"{app_server}/embeddings?{EMBEDDINGS}&colour=frequency")
    wait_for_app(page)
    main = _main(page)
    projection = main.locator(VEGA).filter(has_text="component 1")
    number = main.get_by_role("spinbutton", name="Or choose a series by number")

    def choose_series_7():
        number.fill("7")
        number.press("Enter")

    rerun_and_wait(page, choose_series_7)
    expect(main.locator(VEGA).filter(has_text="nearest neighbours")).to_contain_text("series 7 (")
    page.wait_for_timeout(500)  # let vega redraw the scatter
    rings_after_choosing = projection.evaluate(_RING_POSITIONS_JS)
    assert _query(page).get("point") == ["7"], page.url

    page.reload()  # the link now names series 7: the scatter drawn from it rings series 7 and its neighbours
    wait_for_app(page)
    expect(main.locator(VEGA).filter(has_text="nearest neighbours")).to_contain_text("series 7 (")
    page.wait_for_timeout(500)
    rings_from_link = projection.evaluate(_RING_POSITIONS_JS)
    assert rings_from_link and rings_after_choosing == rings_from_link


# Centre of the 2-D scatter's point number `index` (the layer that draws all 400 encodings), in page pixels.
_POINT_CENTRE_JS = """(el, index) => {
  const layer = [...el.querySelectorAll('svg g.role-mark')].find((g) => g.children.length === 400);
  const box = layer.children[index].getBoundingClientRect();
  return [box.x + box.width / 2, box.y + box.height / 2];
}"""


def test_a_click_on_the_embedding_scatter_picks_that_series(app_server, page):
    """A click on a point picks its series: the number box, the neighbours chart and the link follow."""
    page.goto(f"{app_server}/embeddings?{EMBEDDINGS}&colour=frequency")
    wait_for_app(page)
    main = _main(page)
    projection = main.locator(VEGA).filter(has_text="component 1")
    neighbours = main.locator(VEGA).filter(has_text="nearest neighbours in embedding space")
    expect(neighbours).to_contain_text("series 0 (")
    expect(projection.locator(DATA_MARK).first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    projection.scroll_into_view_if_needed()  # the mouse clicks at a place in the window
    page.wait_for_timeout(500)  # let vega finish laying the points out
    x, y = projection.evaluate(_POINT_CENTRE_JS, 200)

    rerun_and_wait(page, lambda: page.mouse.click(x, y))

    number = main.get_by_role("spinbutton", name="Or choose a series by number")
    expect(number).not_to_have_value("0")
    picked = number.input_value()
    expect(neighbours).to_contain_text(f"series {picked} (")
    expect(page).to_have_url(re.compile(rf"[?&]point={picked}(&|$)"))
    assert_no_exception(page)


def test_a_page_control_is_kept_in_the_url_through_a_reload_and_a_visit_elsewhere(app_server, page):
    """The beam width is bound to the URL as `beam` (Streamlit's `bind="query-params"`): a change is written to the
    link, a reload reads it back, and it is still chosen after a visit to another page."""
    page.goto(f"{app_server}/decoding?{DECODING}")
    wait_for_app(page)
    main = _main(page)
    beam = main.get_by_test_id("stSlider").filter(has_text="Beam width").get_by_role("slider")
    expect(main.locator(GRAPHVIZ)).to_contain_text("width 3")
    assert "beam" not in _query(page)  # the default is left out of the link

    beam.focus()
    rerun_and_wait(page, lambda: beam.press("ArrowRight"))

    expect(main.locator(GRAPHVIZ)).to_contain_text("width 4")
    expect(page).to_have_url(re.compile(r"[?&]beam=4(&|$)"))
    page.reload()
    wait_for_app(page)
    expect(main.locator(GRAPHVIZ)).to_contain_text("width 4")
    nav = page.get_by_test_id("stSidebarNav")
    rerun_and_wait(page, nav.get_by_text(PAGES["graph"].title, exact=True).click)
    expect(main.get_by_role("heading", name=PAGES["graph"].heading, level=1)).to_be_visible()
    rerun_and_wait(page, nav.get_by_text(PAGES["decoding"].title, exact=True).click)
    expect(main.locator(GRAPHVIZ)).to_contain_text("width 4")
    expect(page).to_have_url(re.compile(r"[?&]beam=4(&|$)"))
    assert_no_exception(page)


def test_a_bad_page_control_link_says_so(app_server, page):
    page.goto(f"{app_server}/decoding?{DECODING}&beam=banana")
    wait_for_app(page)
    main = _main(page)
    expect(main.get_by_test_id("stAlertContentWarning")).to_contain_text("beam=banana is not a choice here")
    expect(main.locator(GRAPHVIZ)).to_contain_text("width 3")
    assert_no_exception(page)


def _run_box(page, name: str):
    """The bordered box the gradients page draws for one run: the innermost layout wrapper holding its name and
    its outcome (the page's figure container holds every box and is a layout wrapper too; the name's own row
    inside the box is another)."""
    outcome = page.locator('[data-testid="stAlertContentError"], [data-testid="stAlertContentSuccess"]')
    return (
        _main(page)
        .get_by_test_id("stLayoutWrapper")
        .filter(has=page.get_by_text(name, exact=True))
        .filter(has=outcome)
        .last
    )


def test_gradients_page_explains_the_diverged_runs(app_server, page):
    """A NaN run is explained in words inside its own box (never an exception), the clipped runs trained."""
    page.goto(f"{app_server}/gradients")
    wait_for_app(page)
    main = _main(page)

    for name in ("SimpleRNN (ReLU), no clipping", "LSTM, no clipping"):
        box = _run_box(page, name)
        expect(box).to_have_count(1)
        error = box.get_by_test_id("stAlertContentError")
        expect(error).to_contain_text(
            re.compile(r"^Stopped: the loss became NaN or infinite at step \d+ \(epoch \d+\)")
        )
        expect(error).to_contain_text("clip gradients (clipnorm / clipvalue)")
        expect(box.get_by_test_id("stAlertContentSuccess")).to_have_count(0)
    for name in ("SimpleRNN (ReLU), clipnorm 1.0", "SimpleRNN (ReLU), clipvalue 0.1"):
        box = _run_box(page, name)
        expect(box.get_by_test_id("stAlertContentSuccess")).to_contain_text(
            re.compile(r"Trained all 8 epochs; final loss \d+\.\d{4}\.")
        )
        expect(box.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(main.get_by_text("Not trained yet")).to_have_count(0)

    # The chart draws the finite norms of all four runs, one panel each, and the table gives each run's peak.
    chart = main.locator(VEGA)
    expect(chart).to_have_count(1)
    for name in EXPECTED["gradients"].marker, "SimpleRNN (ReLU), no clipping", "LSTM, no clipping":
        expect(chart).to_contain_text(name)
    assert_charts_render(page, vega=1)
    peaks = {row["run"]: float(row["largest gradient norm"]) for row in _grid_rows(main.get_by_test_id("stDataFrame"))}
    assert len(peaks) == 4, peaks
    assert peaks["SimpleRNN (ReLU), no clipping"] > 1000 * peaks["SimpleRNN (ReLU), clipnorm 1.0"], peaks
    assert_no_exception(page)


_POINT_HEIGHTS_JS = """(el) => [...el.querySelectorAll('svg g.mark-symbol.role-mark > path')]
  .map((item) => /translate\\(([^,]+),([^)]+)\\)/.exec(item.getAttribute('transform') || ''))
  .filter(Boolean).map((match) => Math.round(parseFloat(match[2])))"""


def test_gradient_norms_are_spread_over_the_log_axis(app_server, page):
    """Norms from 1e-4 to 1e26 must land at many different heights of the log-scaled y axis."""
    page.goto(f"{app_server}/gradients")
    wait_for_app(page)
    chart = _main(page).locator(VEGA)
    expect(chart.locator("svg g.mark-symbol.role-mark > path").first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    heights = chart.evaluate(_POINT_HEIGHTS_JS)
    assert len(heights) > 100, heights
    assert_no_exception(page)
    assert len(set(heights)) > 10, f"the {len(heights)} points are drawn at only these heights: {sorted(set(heights))}"


def _font_px(locator) -> float:
    return locator.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")


def test_presenter_mode_hides_the_sidebar_and_enlarges_the_type(app_server, page):
    """The sidebar toggle turns presenter mode on: `present=1` in the URL, no sidebar, larger type, no downloads."""
    page.goto(f"{app_server}/decoding?{DECODING}")
    wait_for_app(page)
    main = _main(page)
    sidebar = page.get_by_test_id("stSidebar")
    intro = main.locator("p").filter(has_text="A decoder trained with").first
    title = main.get_by_role("heading", name="Decoding", level=1)
    expect(sidebar).to_be_visible()
    expect(main.get_by_test_id("stDownloadButton").first).to_be_visible()
    normal_text, normal_title = _font_px(intro), _font_px(title)

    rerun_and_wait(page, sidebar.get_by_text("Presenter mode", exact=True).click)

    expect(page).to_have_url(re.compile(r"[?&]present=1(&|$)"))
    expect(sidebar).to_be_hidden()
    expect(page.get_by_test_id("stSidebarCollapsedControl")).to_be_hidden()
    expect(page.get_by_text("Look inside", exact=True)).to_be_visible()  # the navigation moved to the top
    expect(title).to_be_visible()
    assert _font_px(intro) >= 1.25 * normal_text, (normal_text, _font_px(intro))
    assert _font_px(title) > normal_title, (normal_title, _font_px(title))
    downloads = main.get_by_test_id("stDownloadButton")
    assert downloads.count() >= 1
    for i in range(downloads.count()):
        expect(downloads.nth(i)).to_be_hidden()
    assert_charts_render(page, vega=1)
    assert_no_exception(page)
    save_screenshot(page, "presenter")

    # The mode is in the link: a reload keeps it.
    page.reload()
    wait_for_app(page)
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    assert _font_px(main.locator("p").filter(has_text="A decoder trained with").first) >= 1.25 * normal_text
    assert_no_exception(page)


def _assert_clickable(locator) -> None:
    """The element is the one hit at its own centre (no fixed header or overlay on top of it)."""
    expect(locator).to_be_visible()
    hit = locator.evaluate(
        """(el) => { const r = el.getBoundingClientRect();
                     const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                     return el.contains(top) ? null : (top ? top.outerHTML.slice(0, 200) : 'nothing'); }"""
    )
    assert hit is None, f"something covers it: {hit}"


def test_presenter_mode_steps_through_the_figures(app_server, page):
    """One figure at a time: `fig` in the link picks it, the arrow keys step through them, the URL follows."""
    page.goto(f"{app_server}/decoding?{DECODING}&present=1&fig=2")
    wait_for_app(page)
    main = _main(page)
    counter = main.get_by_text(re.compile(r"^Figure \d+ of \d+"))
    expect(counter).to_contain_text("Figure 2 of 3")  # the decoding page: positions, beam tree, schedules
    expect(main.locator(GRAPHVIZ)).to_have_count(1)
    expect(main.locator(VEGA)).to_have_count(0)
    assert_charts_render(page, graphviz=1)

    rerun_and_wait(page, lambda: page.keyboard.press("ArrowRight"))
    expect(counter).to_contain_text("Figure 3 of 3")
    expect(main.locator(GRAPHVIZ)).to_have_count(0)
    expect(main.locator(VEGA)).to_contain_text("Pure teacher forcing vs scheduled sampling")
    expect(main.get_by_role("button", name="Next ▶")).to_be_disabled()
    expect(page).to_have_url(re.compile(r"[?&]fig=3(&|$)"))

    rerun_and_wait(page, lambda: page.keyboard.press("ArrowLeft"))
    expect(counter).to_contain_text("Figure 2 of 3")
    expect(page).to_have_url(re.compile(r"[?&]fig=2(&|$)"))
    assert_no_exception(page)


def test_presenter_mode_previous_and_next_buttons_can_be_clicked(app_server, page):
    page.goto(f"{app_server}/decoding?{DECODING}&present=1&fig=1")
    wait_for_app(page)
    main = _main(page)
    counter = main.get_by_text(re.compile(r"^Figure \d+ of \d+"))
    expect(counter).to_contain_text("Figure 1 of 3")
    expect(main.get_by_role("button", name="◀ Previous")).to_be_disabled()
    next_button = main.get_by_role("button", name="Next ▶")
    _assert_clickable(next_button)
    rerun_and_wait(page, next_button.click)
    expect(counter).to_contain_text("Figure 2 of 3")
    expect(page).to_have_url(re.compile(r"[?&]fig=2(&|$)"))
    assert_no_exception(page)


def test_a_typed_sequence_follows_the_learner_across_pages_and_a_reload(app_server, page):
    """Streamlit drops a text box's state on a page switch; the typed sequence is part of the shared view, like
    the cursor, so it must still be in the box (and in the link) on the next page, and after a reload."""
    typed = "3, 1, 4, 1, 5"
    page.goto(f"{app_server}/{PAGES['graph'].url_path}?{PRETRAINED}")
    wait_for_app(page)
    main = _main(page)
    box = main.get_by_role("textbox", name="Input sequence")

    def type_sequence():
        box.fill(typed)
        box.press("Enter")

    rerun_and_wait(page, type_sequence)
    assert _query(page)["seq"] == [typed], page.url

    nav = page.get_by_test_id("stSidebarNav")
    for name in ("home", "states"):  # through a page without the box, then to one with it
        rerun_and_wait(page, nav.get_by_text(PAGES[name].title, exact=True).click)
        expect(main.get_by_role("heading", name=PAGES[name].heading, level=1)).to_be_visible()
    expect(box).to_have_value(typed)
    expect(main.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]seq=3%2C(\+|%20)1%2C(\+|%20)4%2C(\+|%20)1%2C(\+|%20)5(&|$)"))

    page.reload()
    wait_for_app(page)
    expect(main.get_by_role("heading", name=PAGES["states"].heading, level=1)).to_be_visible()
    expect(box).to_have_value(typed)
    expect(main.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert _query(page)["seq"] == [typed], page.url
    assert_no_exception(page)


# -- issue 13: presenter mode on a projector, and charts that fit their column -----------------------------------

PROJECTOR = {"width": 1024, "height": 768}
FIGURE = f"{VEGA}, {GRAPHVIZ}"
_COUNTER = re.compile(r"^Figure \d+ of \d+")


def _shown_figure(page):
    """The one figure presenter mode draws, once it has drawn something."""
    figures = _main(page).locator(FIGURE)
    expect(figures).to_have_count(1, timeout=CHART_TIMEOUT_MS)
    figure = figures.first
    expect(figure.locator(f"{DATA_MARK}, svg g.node").first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    return figure


@pytest.mark.parametrize("fig, text", [(2, "ours (default budget)"), (3, "Learning curves")])
def test_presenter_mode_keeps_the_train_pages_comparison_figures_through_its_live_updates(app_server, page, fig, text):
    """The comparison redraws itself every 2 s (a fragment): its figures 2 and 3 used to vanish on the first
    redraw, as the redraw counted them again past the end of the page; a link to them never showed them."""
    page.goto(f"{app_server}/train?{PRETRAINED}&present=1&fig={fig}")
    wait_for_app(page)
    main = _main(page)
    expect(main.get_by_text(_COUNTER)).to_contain_text(f"Figure {fig} of ")
    expect(_shown_figure(page)).to_contain_text(text)
    page.wait_for_timeout(5_000)  # two redraws of the comparison
    expect(_shown_figure(page)).to_contain_text(text)
    expect(main.get_by_text(_COUNTER)).to_contain_text(f"Figure {fig} of ")
    assert_no_exception(page)


# Every page with figures, at a figure other than the first where it has one: (page, link, fig).
PROJECTED = [
    ("train", PRETRAINED, 2),
    ("graph", PRETRAINED, 2),
    ("states", PRETRAINED, 3),
    ("attention", PRETRAINED, 2),
    ("decoding", DECODING, 2),
    ("embeddings", f"{EMBEDDINGS}&colour=frequency", 3),
    ("gradients", "", 1),
]


@pytest.mark.parametrize("name, query, fig", PROJECTED, ids=[case[0] for case in PROJECTED])
def test_presenter_mode_on_a_1024x768_projector_shows_the_figure_above_the_fold(app_server, page, name, query, fig):
    """The figure comes first, right under the figure bar, wherever the page draws it: its top edge is on the
    screen and most of the screen is left to it."""
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{app_server}/{PAGES[name].url_path}?{query}&present=1&fig={fig}")
    wait_for_app(page)
    expect(_main(page).get_by_text(_COUNTER)).to_contain_text(f"Figure {fig} of ")
    figure = _shown_figure(page)
    page.wait_for_timeout(500)  # charts lay themselves out at their container's width
    box = figure.bounding_box()
    assert box is not None
    assert 0 <= box["y"] <= PROJECTOR["height"] / 3, f"the figure starts at y={box['y']} on a 768 px screen"
    assert_no_exception(page)
    if name == "train":
        save_screenshot(page, "presenter-1024-train-fig2", full_page=False)


def test_presenter_mode_hides_the_captions_of_hidden_figures(app_server, page):
    """Attention, figure 2 (one output step's bars): the heatmap is hidden and so is its caption."""
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{app_server}/attention?{PRETRAINED}&present=1&fig=1")
    wait_for_app(page)
    main = _main(page)
    heatmap_caption = main.get_by_text("Orange circles: the task's ideal alignment")
    expect(heatmap_caption).to_be_visible()
    rerun_and_wait(page, main.get_by_role("button", name="Next ▶").click)
    expect(main.get_by_text(_COUNTER)).to_contain_text("Figure 2 of ")
    expect(heatmap_caption).to_have_count(0)
    expect(main.get_by_text(re.compile(r"^Output step \d+ wrote"))).to_be_visible()  # the bars' own caption
    assert_no_exception(page)


def test_presenter_mode_changes_the_model_and_leaves_from_the_figure_bar(app_server, page):
    """No URL editing: the figure bar's Model menu picks the task and architecture, and Leave ends presenter mode."""
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{app_server}/attention?{PRETRAINED}&present=1&fig=1")
    wait_for_app(page)
    main = _main(page)
    model = main.get_by_role("button", name="Model", exact=True)
    _assert_clickable(model)
    model.click()
    architecture = page.get_by_role("combobox", name="Architecture", exact=True).last
    architecture.click()
    rerun_and_wait(page, page.get_by_role("option", name="luong", exact=True).click)
    expect(page).to_have_url(re.compile(r"[?&]arch=luong(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]present=1(&|$)"))
    expect(_shown_figure(page)).to_be_visible()

    page.keyboard.press("Escape")  # close the menu
    leave = main.get_by_role("button", name="Leave", exact=True)
    # A hovered figure shows its toolbar (fullscreen, downloads) above its top right corner: it used to cover
    # Leave, and the mouse rests on the figure after a pick in the menu.
    _shown_figure(page).hover()
    _assert_clickable(leave)
    _assert_clickable(model)
    rerun_and_wait(page, leave.click)
    expect(page).not_to_have_url(re.compile(r"[?&]present=1(&|$)"))
    expect(page.get_by_test_id("stSidebar")).to_be_visible()
    expect(main.get_by_text(_COUNTER)).to_have_count(0)
    assert_charts_render(page, vega=EXPECTED["attention"].vega)
    _expect_choice(_sidebar_select(page, "Architecture"), "luong")
    assert_no_exception(page)


def test_the_gradients_chart_fits_its_column_at_1440_px(app_server, page):
    """Four panels and a legend used to run past the page's column: the fourth panel and the legend were cut off."""
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{app_server}/gradients")
    wait_for_app(page)
    chart = _main(page).locator(VEGA)
    expect(chart.locator(DATA_MARK).first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    page.wait_for_timeout(500)
    column = page.get_by_test_id("stMainBlockContainer").bounding_box()
    frame = chart.bounding_box()
    drawn = chart.locator("svg").first.bounding_box()
    assert drawn["x"] + drawn["width"] <= frame["x"] + frame["width"] + 1, (drawn, frame)
    assert frame["x"] + frame["width"] <= column["x"] + column["width"] + 1, (frame, column)
    legend = chart.locator("svg g.role-legend").first.bounding_box()
    assert legend["x"] + legend["width"] <= frame["x"] + frame["width"], (legend, frame)
    panels = chart.locator("svg g.role-title-text text")  # one title per run's panel
    expect(panels).to_have_count(4)
    for i in range(4):
        box = panels.nth(i).bounding_box()
        assert box["x"] + box["width"] <= frame["x"] + frame["width"], (i, box, frame)
    assert_no_exception(page)
    chart.scroll_into_view_if_needed()
    save_screenshot(page, "gradients-1440", full_page=False)


def test_a_run_started_on_train_shows_its_progress_on_states_and_the_page_fills_in_by_itself(app_server, page):
    """Only a browser sees this: the progress fragment redraws every second and reruns the page when the model is
    done, with no click and no reload."""
    page.goto(f"{app_server}/train?task=reverse&arch=teacher-forcing&units=16&ep=3&bs=32")
    wait_for_app(page)
    main = _main(page)
    rerun_and_wait(page, main.get_by_role("button", name="Train this configuration").click)

    page.get_by_test_id("stSidebarNav").get_by_text(PAGES["states"].title, exact=True).click()
    expect(main.get_by_role("heading", name=PAGES["states"].heading, level=1)).to_be_visible()
    expect(main.get_by_text("being trained on the server")).to_be_visible()
    expect(main.get_by_test_id("stProgress")).to_have_count(1)
    expect(main.get_by_text("has no trained model yet")).to_have_count(0)

    expect(main.get_by_text("being trained on the server")).to_have_count(0, timeout=TRAIN_TIMEOUT_MS)
    expect(main.get_by_text("trained in this session").first).to_be_visible()
    assert_charts_render(page, vega=EXPECTED["states"].vega)
    assert_no_exception(page)


def test_decoding_trains_the_schedules_and_shows_them_when_done_without_a_reload(app_server, page):
    """The "Train them in the background" button used to leave "Not trained yet" on the page for good."""
    page.goto(f"{app_server}/decoding?task=count-up&arch=teacher-forcing")  # its schedule is not shipped
    wait_for_app(page)
    main = _main(page)
    expect(main.get_by_text("Not trained yet: scheduled sampling")).to_be_visible()
    main.get_by_role("button", name="Train them in the background").click()
    expect(main.get_by_test_id("stProgress").filter(has_text="scheduled sampling")).to_be_visible()
    expect(main.get_by_text("Not trained yet")).to_have_count(0)

    metric = main.get_by_test_id("stMetric").filter(has_text="Free-running accuracy, scheduled sampling")
    expect(metric).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(main.get_by_test_id("stProgress")).to_have_count(0)
    assert_no_exception(page)


_AXIS_LABELS_JS = """(el) => [...el.querySelectorAll('svg g.role-axis')].map((axis) =>
  [...axis.querySelectorAll('g.role-axis-label text')].map((text) => text.textContent))"""


def test_the_attention_heatmap_is_labelled_with_the_symbols_read_and_written(app_server, page):
    """The heatmap's columns are the typed symbols and its rows the decoded ones, not step numbers."""
    page.goto(f"{app_server}/attention?{PRETRAINED}&seq=17, 4, 17, 9, 30")
    wait_for_app(page)
    main = _main(page)
    heatmap = main.locator(VEGA).first
    expect(heatmap.locator(DATA_MARK).first).to_be_attached(timeout=CHART_TIMEOUT_MS)
    page.wait_for_timeout(500)
    axes = heatmap.evaluate(_AXIS_LABELS_JS)
    assert ["17", "4", "17", "9", "30"] in axes, axes
    assert_no_exception(page)
    heatmap.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    heatmap.screenshot(path=str(SCREENSHOTS / "attention-heatmap-symbols.png"))
