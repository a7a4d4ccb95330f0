"""Real-browser end-to-end fixtures: `streamlit run app.py` on a free loopback port, driven by Debian's Chromium.

The browser, its contexts and pages come from pytest-playwright (`page`, `context`, `browser`); the overrides
below make it launch Debian's `/usr/bin/chromium` (the `chromium` package, which `scripts/test.sh` installs when
it is missing) through `executable_path`, never a browser of Playwright's own download, which cannot be fetched
here. (`--browser-channel` names a branded Chrome or Edge install, or Playwright's own Chromium build, so it is
not the switch for a distribution's Chromium.) Without Debian's Chromium, or without the `playwright` and
`pytest-playwright` packages, every test in this folder is skipped with the reason, never errored.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"

SERVER_START_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 900}

# "The script has finished running": Streamlit mirrors its script-run state on the app root as
# data-test-script-state ("initial" before the first run, then "running" / "rerunRequested" / "notRunning" ...)
# and shows the animated `stStatusWidgetRunningIcon` ("Running...") inside `stStatusWidget` while a run is going.
# The status widget on its own is not a usable signal: it also holds the "Source file changed" prompt.
APP = '[data-testid="stApp"]'
APP_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
RUNNING_ICON = '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'
EXCEPTION = '[data-testid="stException"]'


def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser gets the `browser` marker (`pytest -m "not browser"` leaves them out)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def load_loadtest():
    """scripts/loadtest.py as a module: its server helpers serve these fixtures too."""
    return load_script("loadtest")


def _require_browser() -> None:
    """Skip (never error) when Debian's Chromium or the playwright packages are missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests")
    for module, package in (("playwright.sync_api", "playwright"), ("pytest_playwright", "pytest-playwright")):
        try:
            importlib.import_module(module)
        except ImportError:
            pytest.skip(f"{package} is not installed: pip install -r requirements-dev.txt to run browser tests")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`streamlit run app.py` from the repository root on a free loopback port, with its own empty model cache
    (the load test's server helper); yields its base URL."""
    _require_browser()  # no server start when the browser tests would skip anyway
    folder = tmp_path_factory.mktemp("seq2seq-server")
    loadtest = load_loadtest()
    try:
        with loadtest.streamlit_server(
            folder / "cache", folder / "streamlit.log", SERVER_START_TIMEOUT_S, ["--client.toolbarMode", "minimal"]
        ) as server:
            yield server.url
    except RuntimeError as error:  # it did not come up: the reason and the server's output
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, pointed at Debian's Chromium with the load test's flags."""
    _require_browser()
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": load_loadtest().CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def context(context):
    """pytest-playwright's fresh context per test, with 60 s timeouts and the rerun counter `rerun_and_wait` reads.
    Tests take its `page` (1400x900, headless)."""
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    context.add_init_script(_COUNT_RUNS_JS)
    return context


# Counts the changes of the app root's script-run state, so that `rerun_and_wait` can tell that a rerun began.
_COUNT_RUNS_JS = """
window.__stRunStateChanges = 0;
new MutationObserver((records) => { window.__stRunStateChanges += records.length; })
  .observe(document, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
"""


def wait_for_app(page, timeout_ms: int = PAGE_TIMEOUT_MS, settle_ms: int = 150) -> None:
    """Wait until Streamlit is connected and has finished running the script (no "Running..." indicator).

    Call it after `page.goto(...)`; after an interaction that reruns the script, prefer `rerun_and_wait`.
    Signal used: the app root's `data-test-script-state="notRunning"` (it reads "initial" before the first run,
    so a fresh page cannot pass early) and no `stStatusWidgetRunningIcon` left in the status widget.
    """
    page.wait_for_selector(APP, state="attached", timeout=timeout_ms)
    page.wait_for_selector(APP_CONNECTED, state="attached", timeout=timeout_ms)
    # A rerun that was just triggered may not have reached the browser yet: give it a moment to start.
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    page.wait_for_selector(APP_IDLE, state="attached", timeout=timeout_ms)
    page.wait_for_selector(RUNNING_ICON, state="detached", timeout=timeout_ms)


def rerun_and_wait(page, action, start_timeout_ms: int = 10_000, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Do `action()` (a click, a fill ...) that makes Streamlit rerun the script, then wait until that rerun is over.

    Safer than `action(); wait_for_app(page)`: right after a click the app still reads "notRunning" for a few
    hundred milliseconds, until the server's "running" message arrives. If no state change shows up within
    `start_timeout_ms` (a rerun too short to be seen), it goes on and waits for the app to be idle.
    """
    before = page.evaluate("window.__stRunStateChanges || 0")
    action()
    try:
        page.wait_for_function(f"(window.__stRunStateChanges || 0) > {before}", timeout=start_timeout_ms)
    except Exception as error:  # playwright's TimeoutError
        if "Timeout" not in type(error).__name__:
            raise
    wait_for_app(page, timeout_ms=timeout_ms, settle_ms=0)


def assert_no_exception(page) -> None:
    """Fail, with their text, if the page shows any Streamlit exception box."""
    boxes = page.locator(EXCEPTION)
    count = boxes.count()
    texts = [boxes.nth(i).inner_text() for i in range(count)]
    assert count == 0, f"{count} exception box(es) on the page:\n" + "\n---\n".join(texts)


MAIN = '[data-testid="stMain"]'
SCREENSHOT_MAX_HEIGHT = 12_000


def save_screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save a PNG of the page as docs/screenshots/NAME.png and return its path.

    Streamlit scrolls its main area inside a fixed-height container, so Playwright's `full_page` alone only
    captures one viewport. With `full_page`, the viewport is grown to the main area's scroll height (at most
    SCREENSHOT_MAX_HEIGHT px) for the shot and put back afterwards.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size
    height = page.evaluate(f"() => document.querySelector('{MAIN}')?.scrollHeight || 0") if full_page else 0
    if viewport and height > viewport["height"]:
        page.set_viewport_size({"width": viewport["width"], "height": min(height, SCREENSHOT_MAX_HEIGHT)})
        page.wait_for_timeout(500)  # let charts that fit their container's size lay themselves out again
        try:
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(viewport)
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path
