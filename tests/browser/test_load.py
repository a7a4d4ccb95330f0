"""A small classroom load test in CI: five browser users, a few page switches, then all five train one model.

It runs `scripts/loadtest.py` (the full test is `.venv/bin/python scripts/loadtest.py --users 30`) with its own
`streamlit run` and a fresh model cache, and asserts correctness only, never timings: the five "Train this
configuration" clicks made exactly one training job, every user ended up with the trained model, and no user
ever saw an exception box.

While it trains, the users browse away and come back every few seconds (the "you can keep exploring" path of
the Train page); the full script's default, every user watching the live progress, is the heavier case and
takes longer than a CI test should. A step that hangs fails after two minutes, not the script's four.
"""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.async_api", reason="playwright is not installed")

from .conftest import _require_browser, load_loadtest


def test_five_users_share_one_training_job_and_all_get_the_model():
    _require_browser()
    loadtest = load_loadtest()
    plan = loadtest.Plan(
        users=5,
        pages=["graph", loadtest.LANDING.name],  # names from the page registry (run_loadtest checks them)
        ramp_s=1.0,
        think_s=0.3,
        watch_training=False,
        poll_s=4.0,
        grace_min_s=3.0,
        grace_max_s=15.0,
        timeout_s=120.0,
    )
    summary = loadtest.run_loadtest(plan, log=lambda message: print(message, flush=True))
    print(loadtest.report(summary))

    assert summary["user_errors"] == [], summary["user_errors"]
    assert summary["exceptions"] == 0, summary["exception_details"]
    assert summary["users_with_model"] == plan.users
    assert summary["training_jobs"] == 1, f"{summary['training_jobs']} model saves for one configuration"
    assert summary["models_in_cache"] == 1
    assert summary["page_switch_s"]["count"] == plan.users * len(plan.pages)
    assert summary["failures"] == []
