"""The shipped pretrained/ folder: complete, honest, small, and still as good as its sidecars say."""

import json
from pathlib import Path

import pytest

from explorer.cache import PRETRAINED_DIR, ModelStore
from explorer.config import RunConfig
from explorer.presets import pretrain_configs
from explorer.verify import verify_store

SIDECARS = sorted(PRETRAINED_DIR.glob("*.json"))


def test_every_pretrain_config_is_shipped():
    shipped = {path.stem for path in SIDECARS}
    assert {config.key() for config in pretrain_configs()} == shipped


@pytest.mark.parametrize("sidecar", SIDECARS, ids=[p.stem for p in SIDECARS])
def test_sidecar_key_matches_its_config_and_records_its_training(sidecar: Path):
    data = json.loads(sidecar.read_text())
    assert data["key"] == sidecar.stem == RunConfig.from_dict(data["config"]).key()
    for field in ("history", "metrics", "train_seconds", "device", "backend", "versions", "weights_sha256"):
        assert field in data, field
    assert data["history"] and "loss" in data["history"][0]
    assert (PRETRAINED_DIR / f"{sidecar.stem}.keras").exists()


def test_pretrained_fits_the_size_budget():
    total = sum(path.stat().st_size for path in PRETRAINED_DIR.iterdir())
    assert total <= 25 * 1024 * 1024, f"{total / 1e6:.1f} MB"


@pytest.mark.slow
def test_cache_verify_passes_on_the_shipped_models(tmp_path):
    report = verify_store(ModelStore(PRETRAINED_DIR, tmp_path / "empty-cache"))
    assert report["failed"] == 0, [row for row in report["models"] if not row["ok"]]
    assert report["passed"] == len(SIDECARS)


def test_cache_verify_catches_a_model_that_no_longer_meets_its_accuracy(tmp_path):
    from explorer import architectures
    from explorer.presets import default_config
    from explorer.storage import save_bundle

    bundle = architectures.build(default_config("reverse", "teacher-forcing", units=8))  # untrained
    save_bundle(bundle, tmp_path / "cache", {"metrics": {"sequence_accuracy": 0.99}})
    report = verify_store(ModelStore(tmp_path / "none", tmp_path / "cache"))
    assert report["failed"] == 1 and "fell" in report["models"][0]["detail"]


@pytest.mark.parametrize("sidecar", SIDECARS, ids=[p.stem for p in SIDECARS])
def test_sidecar_carries_the_train_pages_length_figures(sidecar: Path):
    """The Train page draws these instead of decoding thousands of examples on a classroom's first visit."""
    from explorer.analysis import length_choices, stored_length_rows
    from explorer.tasks import get_task

    data = json.loads(sidecar.read_text())
    config = RunConfig.from_dict(data["config"])
    rows = stored_length_rows(data, length_choices(config))
    assert rows is not None, "run `python -m explorer pretrain --analysis-only`"
    if get_task(config.task.name).values == "tokens":
        assert config.task.input_length in {row["input_length"] for row in rows}


def test_stored_length_figures_are_what_the_model_really_does():
    from explorer.analysis import accuracy_by_length, stored_length_rows
    from explorer.presets import default_config
    from explorer.storage import load_bundle

    config = default_config("reverse", "bahdanau")
    bundle, sidecar = load_bundle(PRETRAINED_DIR, config.key())
    lengths = sidecar["length_accuracy"]["lengths"]
    stored = stored_length_rows(sidecar, lengths)
    fresh = accuracy_by_length(bundle, lengths)
    assert [row["input_length"] for row in stored] == [row["input_length"] for row in fresh]
    for old, new in zip(stored, fresh, strict=True):
        assert new["sequence_accuracy"] == pytest.approx(old["sequence_accuracy"], abs=0.02)


def test_stored_length_figures_for_other_lengths_or_damaged_are_not_used():
    from explorer.analysis import stored_length_rows

    good = {"length_accuracy": {"lengths": [4, 6], "rows": [{"input_length": 6, "sequence_accuracy": 0.9}]}}
    assert stored_length_rows(good, [4, 6]) == [{"input_length": 6, "sequence_accuracy": 0.9}]
    assert stored_length_rows(good, [4, 6, 8]) is None
    assert stored_length_rows({}, [4, 6]) is None
    for rows in ([{"input_length": 6}], [{"input_length": 6, "sequence_accuracy": 7}], "rows", [None]):
        assert stored_length_rows({"length_accuracy": {"lengths": [4, 6], "rows": rows}}, [4, 6]) is None
