"""The classroom load test in CI, reduced: a few simulated students and one real browser, correctness only.

It runs `scripts/loadtest.py` (the full curve is `python scripts/loadtest.py --scenario S --students N`) with its
own `streamlit run`, the server pinned to one core, and a fresh model cache, and asserts correctness, never a
time: no error or exception box for anyone, every simulated student saw exactly the script runs the server
logged for it, and in the "train" scenario exactly one training job for everyone's clicks, with every student
and the browser ending up with the model.
"""

from __future__ import annotations

import concurrent.futures

import pytest

pytest.importorskip("playwright.async_api", reason="playwright is not installed")

from .conftest import _require_browser, load_loadtest


def _run(**plan):
    _require_browser()
    loadtest = load_loadtest()
    # In a thread of its own: the load test runs its own asyncio loop, and once another browser test in this
    # session has started Playwright's sync API, the main thread already has a running loop (asyncio.run refuses).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        summary = pool.submit(
            loadtest.run_loadtest, loadtest.Plan(**plan), log=lambda message: print(message, flush=True)
        ).result()
    print(loadtest.report(summary))
    return summary


def _assert_correct(summary) -> None:
    assert summary["errors"] == 0, summary["error_details"]
    assert summary["run_log_mismatches"] == []
    assert summary["server_tracebacks"] == 0, summary.get("server_log_tail")
    assert summary["failures"] == []


def test_a_class_presses_train_together_and_one_job_trains_for_all():
    summary = _run(scenario="train", students=6, browsers=1, ramp_s=2.0, timeout_s=180.0)
    _assert_correct(summary)
    assert summary["training_jobs"] == 1
    assert summary["students_with_model"] == 6
    assert summary["browsers_with_model"] == 1
    assert summary["by_action"]["click"]["count"] == 6
    # The same journey makes the same full runs in the server's log, give or take one that timing adds (a click
    # that lands while the page's previous run is still under way makes one more).
    per_tab = summary["fidelity"]["runs_per_tab"]
    assert abs(per_tab["simulated"]["full"] - per_tab["browser"]["full"]) <= 1, per_tab


def test_a_class_following_the_lesson_gets_every_page_with_a_browser_beside_it():
    summary = _run(scenario="follow", students=4, browsers=1, actions=10, think_s=0.5, ramp_s=2.0)
    _assert_correct(summary)
    assert summary["training_jobs"] == 0
    assert summary["by_action"]["page"]["count"] >= 4 * 6  # every student took the lesson's page steps
    fidelity = summary["fidelity"]["full_runs_per_visit"]
    assert fidelity["simulated"] is not None and fidelity["browser"] is not None
