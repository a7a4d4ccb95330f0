"""The stored like-for-like comparisons: what `reproduce --save` writes, and what the Train page may show of it."""

from __future__ import annotations

import pytest

from explorer.experiments import plan
from explorer.presets import default_config
from explorer.reproductions import REPRODUCTIONS_PATH, like_for_like, load_reproductions, save_reproductions
from explorer.tasks import TASKS


def _row(item, accuracies=(0.5, 0.7)) -> dict:
    keys = [
        default_config(item.task, item.arch, eval_examples=1000, **item.overrides, **{"train.seed": seed}).key()
        for seed in range(len(accuracies))
    ]
    return {
        "task": item.task,
        "arch": item.arch,
        "settings": item.overrides,
        "accuracies": list(accuracies),
        "keys": keys,
        "published": None if item.published is None else item.published.accuracy,
        "published_runs": 0 if item.published is None else item.published.runs,
    }


PUBLISHED_WITH_BUDGET = [item for item in plan() if item.published is not None and item.overrides]


@pytest.mark.skipif(not PUBLISHED_WITH_BUDGET, reason="no tutorial figure with its own budget in the registry")
def test_saved_comparisons_round_trip_and_carry_their_budget(tmp_path):
    item = PUBLISHED_WITH_BUDGET[0]
    path = save_reproductions([_row(item)], "2026-11-23, tensorflow on cpu", tmp_path / "r.json")
    [loaded] = like_for_like(item.task, path)
    assert (loaded.task, loaded.arch, loaded.mean) == (item.task, item.arch, pytest.approx(0.6))
    assert loaded.published == item.published.accuracy
    samples = f"{item.overrides['samples_per_epoch']:,} examples"
    assert samples in loaded.budget and f"batch {item.overrides['batch_size']}" in loaded.budget
    assert loaded.measured == "2026-11-23, tensorflow on cpu"


@pytest.mark.skipif(not PUBLISHED_WITH_BUDGET, reason="no tutorial figure with its own budget in the registry")
def test_a_stored_run_of_another_configuration_is_never_shown(tmp_path):
    """If an entry's settings change, the stored figures no longer describe it: their keys stop matching."""
    item = PUBLISHED_WITH_BUDGET[0]
    stale = _row(item)
    stale["keys"] = ["0" * 16, "1" * 16]
    path = save_reproductions([stale, {**_row(item), "arch": "no-such-architecture"}], "then", tmp_path / "r.json")
    assert load_reproductions(path) == []


@pytest.mark.parametrize("content", ["", "{", '{"measured": 1}', '{"measured": "x", "reproductions": [{"task": 3}]}'])
def test_a_broken_file_shows_nothing_rather_than_failing(tmp_path, content):
    path = tmp_path / "r.json"
    path.write_text(content)
    assert load_reproductions(path) == []


def test_the_shipped_comparisons_cover_every_published_figure():
    """`reproduce --save` was run on the registry as it is: every published figure has a current measurement."""
    stored = {(item.task, item.arch) for item in load_reproductions(REPRODUCTIONS_PATH)}
    published = {(task, arch) for task, entry in TASKS.items() for arch in entry.published}
    assert published <= stored
