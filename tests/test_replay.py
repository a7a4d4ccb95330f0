"""Training replay: snapshots of the weights kept while a model trains, stored, checked, loaded and shown.

A snapshot must be honest (loaded again under `safe_mode` it reproduces the accuracy recorded for its epoch),
must not change training (the final weights are the same with or without snapshots), is never served unless its
sidecar lists it with a matching digest, and the four replay pages show it when the learner moves the slider.
"""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import open_app, tiny_config

from explorer import training
from explorer.cache import PRETRAINED_DIR, ModelStore
from explorer.jobs import DONE, JobManager
from explorer.presets import REPLAY_SHIPPED, pretrain_configs, replay_configs
from explorer.storage import (
    CorruptModelError,
    epoch_label,
    load_snapshot,
    paths_for,
    read_sidecar,
    save_bundle,
    snapshot_entries,
    snapshot_files,
)
from explorer.training import MAX_SNAPSHOTS, Snapshot, evaluate, replay_points, train

ROOT = Path(__file__).resolve().parents[1]
BUDGET_BYTES = 25 * 1024 * 1024


def _weights_equal(first, second) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def _points(*epochs: float) -> list[Snapshot]:
    return [Snapshot(epoch, int(epoch * 64), []) for epoch in epochs]


# -- which snapshots a run keeps ------------------------------------------------------------------------------------


def test_a_run_keeps_the_start_and_powers_of_two_but_never_its_last_epoch():
    kept = replay_points(_points(0, 1, 2, 4), epochs_run=4, first_epoch_accuracy=0.01)
    assert [s.epoch for s in kept] == [0, 1, 2]


def test_points_inside_epoch_one_are_kept_only_for_a_model_that_learned_in_it():
    candidates = _points(0, 0.125, 0.25, 0.5, 1)
    assert [s.epoch for s in replay_points(candidates, 1, first_epoch_accuracy=0.95)] == [0, 0.125, 0.25, 0.5]
    assert [s.epoch for s in replay_points(candidates, 3, first_epoch_accuracy=0.30)] == [0, 1]


def test_a_long_run_keeps_at_most_the_cap_spread_from_the_start_to_the_latest():
    kept = replay_points(_points(0, 1, 2, 4, 8, 16), epochs_run=20, first_epoch_accuracy=0.05)
    assert len(kept) == MAX_SNAPSHOTS
    assert kept[0].epoch == 0 and kept[-1].epoch == 16
    assert [s.epoch for s in kept] == sorted(s.epoch for s in kept)


# -- training, storing, loading -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed_run():
    """A tiny reversal model trained for 3 epochs with snapshots (epochs 0, 1, 2; 3 is the final model)."""
    config = tiny_config("reverse", "teacher-forcing", epochs=3, target_accuracy=1.01)
    return config, train(config, snapshots=True)


def test_snapshots_do_not_change_the_training_trajectory(replayed_run):
    config, result = replayed_run
    plain = train(config)
    assert plain.snapshots == []
    assert _weights_equal(plain.bundle.training_model.get_weights(), result.bundle.training_model.get_weights())
    timeless = [[{k: v for k, v in e.items() if k != "seconds"} for e in run.history] for run in (plain, result)]
    assert timeless[0] == timeless[1]


def test_end_of_epoch_snapshots_record_what_the_history_recorded(replayed_run):
    _, result = replayed_run
    assert [s.epoch for s in result.snapshots] == [0, 1, 2]
    assert [s.step for s in result.snapshots] == [0, 2, 4]  # 256 examples in batches of 128
    for snapshot in result.snapshots[1:]:
        entry = result.history[int(snapshot.epoch) - 1]
        assert snapshot.evaluation["sequence_accuracy"] == entry["sequence_accuracy"]
        assert snapshot.evaluation["token_accuracy"] == entry["token_accuracy"]
    assert not _weights_equal(result.snapshots[0].weights, result.bundle.training_model.get_weights())


@pytest.fixture(scope="module")
def stored_run(replayed_run, tmp_path_factory):
    config, result = replayed_run
    directory = tmp_path_factory.mktemp("replay-store")
    save_bundle(result.bundle, directory, {"metrics": result.metrics, "history": result.history}, result.snapshots)
    return config, directory, read_sidecar(paths_for(directory, config.key())[1])


def test_snapshots_are_written_listed_and_checksummed(stored_run):
    import hashlib

    config, directory, sidecar = stored_run
    entries = snapshot_entries(sidecar)
    assert [entry["label"] for entry in entries] == ["0", "1", "2"]
    assert [path.name for path in snapshot_files(directory, config.key())] == [entry["file"] for entry in entries]
    for entry in entries:
        assert entry["file"] == f"{config.key()}.step-{entry['step']:07d}.keras"
        assert hashlib.sha256((directory / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
        for field in ("epoch", "sequence_accuracy", "token_accuracy", "eval_seed", "eval_examples"):
            assert field in entry, field


def test_each_snapshot_loads_under_safe_mode_and_reproduces_its_recorded_accuracy(stored_run, monkeypatch):
    import keras

    config, directory, sidecar = stored_run
    real_load = keras.saving.load_model
    calls = []

    def recording_load(path, *args, **kwargs):
        calls.append(kwargs.get("safe_mode"))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", recording_load)
    loaded = []
    for entry in snapshot_entries(sidecar):
        bundle = load_snapshot(directory, config.key(), sidecar, entry["label"])
        measured = evaluate(bundle, entry["eval_examples"], seed=entry["eval_seed"])
        assert measured["sequence_accuracy"] == entry["sequence_accuracy"]
        assert measured["token_accuracy"] == entry["token_accuracy"]
        loaded.append(bundle.training_model.get_weights())
    assert calls == [True] * len(loaded)
    assert not _weights_equal(loaded[0], loaded[-1])  # each file holds its own weights
    assert load_snapshot(directory, config.key(), sidecar, 2.0) is not None  # a number names it too


def test_a_corrupted_snapshot_is_refused(stored_run, tmp_path):
    import shutil

    config, directory, sidecar = stored_run
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    entry = snapshot_entries(sidecar)[1]
    damaged = copy / entry["file"]
    damaged.write_bytes(damaged.read_bytes()[:-100] + b"\0" * 100)
    with pytest.raises(CorruptModelError, match="does not match its sidecar"):
        load_snapshot(copy, config.key(), sidecar, entry["label"])
    (copy / entry["file"]).unlink()
    with pytest.raises(FileNotFoundError):
        load_snapshot(copy, config.key(), sidecar, entry["label"])


def test_a_snapshot_the_sidecar_does_not_list_is_never_loaded(stored_run, tmp_path):
    import shutil

    config, directory, sidecar = stored_run
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    listed = snapshot_entries(sidecar)[0]
    shutil.copy(copy / listed["file"], copy / f"{config.key()}.step-0000003.keras")  # on disk, not listed
    with pytest.raises(CorruptModelError, match=r"lists no snapshot at epoch '1\.5'"):
        load_snapshot(copy, config.key(), sidecar, 1.5)
    # A sidecar entry that names some other file (a path, another model's) is refused before any file is read.
    tampered = {**sidecar, "snapshots": [{**listed, "file": "../elsewhere.keras"}]}
    with pytest.raises(CorruptModelError, match="names the snapshot file"):
        load_snapshot(copy, config.key(), tampered, listed["label"])


def test_saving_again_without_snapshots_removes_the_old_ones(replayed_run, tmp_path):
    config, result = replayed_run
    save_bundle(result.bundle, tmp_path, {}, result.snapshots)
    assert len(snapshot_files(tmp_path, config.key())) == 3
    save_bundle(result.bundle, tmp_path, {})
    assert snapshot_files(tmp_path, config.key()) == []
    assert snapshot_entries(read_sidecar(paths_for(tmp_path, config.key())[1])) == []


def test_in_epoch_snapshots_of_a_fast_learner_reproduce_their_accuracy(tmp_path, monkeypatch):
    """Inside epoch 1 the weights are read from the running `fit` (from a JAX trainer's state under JAX)."""
    monkeypatch.setattr(training, "EARLY_LEARNER", 0.0)  # treat this tiny model as one that learned in epoch 1
    config = tiny_config("reverse", "teacher-forcing", epochs=1, batch_size=32)  # 8 steps per epoch
    result = train(config, snapshots=True)
    assert [(s.epoch, s.step) for s in result.snapshots] == [(0, 0), (0.125, 1), (0.25, 2), (0.5, 4)]
    assert _weights_equal(train(config).bundle.training_model.get_weights(), result.bundle.training_model.get_weights())
    save_bundle(result.bundle, tmp_path, {}, result.snapshots)
    sidecar = read_sidecar(paths_for(tmp_path, config.key())[1])
    weights = []
    for entry in snapshot_entries(sidecar):
        bundle = load_snapshot(tmp_path, config.key(), sidecar, entry["label"])
        assert (
            evaluate(bundle, entry["eval_examples"], seed=entry["eval_seed"])["token_accuracy"]
            == (entry["token_accuracy"])
        )
        weights.append(bundle.training_model.get_weights())
    assert not any(_weights_equal(a, b) for a, b in itertools.pairwise(weights))  # every point is a new one


def test_epoch_labels_name_a_snapshot_in_links():
    assert [epoch_label(e) for e in (0.0, 0.125, 2.0, 16)] == ["0", "0.125", "2", "16"]


# -- the store and the job manager ----------------------------------------------------------------------------------


def test_the_snapshot_list_is_read_without_keras(stored_run):
    config, directory, _ = stored_run
    script = (
        "import sys; from explorer.cache import ModelStore; from explorer.config import RunConfig; import json\n"
        f"config = RunConfig.from_dict(json.loads({json.dumps(json.dumps(config.to_dict()))}))\n"
        f"found = ModelStore({str(directory)!r}, {str(directory)!r}).lookup(config)\n"
        "print([entry['label'] for entry in found.snapshots], 'keras' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert output.stdout.strip().splitlines()[-1] == "['0', '1', '2'] False"


def test_a_job_trained_in_the_app_keeps_snapshots_and_serves_them_under_the_memory_budget(tmp_path):
    store = ModelStore(tmp_path / "pretrained", tmp_path / "cache")
    manager = JobManager(store)
    config = tiny_config("reverse", "teacher-forcing", epochs=2, target_accuracy=1.01)
    job = manager.request(config)
    assert job.wait(120) and job.state == DONE, job.reason
    assert [entry["label"] for entry in job.snapshots] == ["0", "1"]
    first = job.snapshot_bundle("0")
    assert first is not None and job.snapshot_bundle(0.0) is first  # held, by label or by number
    assert not _weights_equal(first.training_model.get_weights(), job.bundle.training_model.get_weights())
    assert (job.uid, "0") in manager.models.names()
    assert job.snapshot_bundle("7") is None  # not listed
    # A later manager (a restarted server) finds the model in the cache, snapshots and all.
    again = JobManager(store).request(config, train_if_missing=False)
    assert again.source == "cache" and [entry["label"] for entry in again.snapshots] == ["0", "1"]
    loaded = again.snapshot_bundle("1")
    assert _weights_equal(loaded.training_model.get_weights(), job.snapshot_bundle("1").training_model.get_weights())
    # A damaged snapshot is refused (None) and the job keeps its sound final model.
    damaged = store.cache_dir / again.snapshots[0]["file"]
    damaged.write_bytes(b"garbage")
    assert again.snapshot_bundle("0") is None
    assert again.state == DONE and again.bundle is not None
    store.discard(config.key())
    assert snapshot_files(store.cache_dir, config.key()) == []  # a discarded model takes its snapshots along


def test_snapshots_get_their_own_entries_in_the_pages_caches():
    from explorer.ui.models import _model_token, per_model

    found = ModelStore().lookup(replay_configs()[0])
    final, early = found.load(), found.load_snapshot("0")
    assert _model_token(final) != _model_token(early)
    calls = []

    def count(bundle, length: int) -> int:
        calls.append(bundle)
        return length

    cached = per_model()(count)
    cached(final, 3), cached(early, 3), cached(early, 3)
    assert calls == [final, early]


# -- what ships -----------------------------------------------------------------------------------------------------


def test_replay_shipped_names_default_pairs_that_ship():
    shipped = {config.key() for config in pretrain_configs()}
    assert len(REPLAY_SHIPPED) == len(replay_configs())
    assert {config.key() for config in replay_configs()} <= shipped


@pytest.mark.parametrize("config", replay_configs(), ids=lambda c: f"{c.task.name}-{c.model.arch}")
def test_the_shipped_replay_models_have_checked_snapshots(config):
    import hashlib

    found = ModelStore(PRETRAINED_DIR, PRETRAINED_DIR / "no-cache").lookup(config)
    assert found is not None and found.source == "pretrained"
    entries = found.snapshots
    assert 2 <= len(entries) <= MAX_SNAPSHOTS
    assert entries[0]["epoch"] == 0 and all(e["epoch"] < found.sidecar["metrics"]["epochs_run"] for e in entries)
    for entry in entries:
        assert hashlib.sha256((PRETRAINED_DIR / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    # The replay shows learning: the first snapshot is far from the final model, the accuracies climb.
    accuracies = [entry["token_accuracy"] for entry in entries]
    assert accuracies == sorted(accuracies) and accuracies[0] < 0.1


def test_only_the_replay_models_ship_snapshots_and_the_folder_stays_within_its_budget():
    replayed = {config.key() for config in replay_configs()}
    on_disk = {path.name.split(".")[0] for path in PRETRAINED_DIR.glob("*.step-*.keras")}
    assert on_disk == replayed
    listed = {entry["file"] for key in replayed for entry in read_sidecar(PRETRAINED_DIR / f"{key}.json")["snapshots"]}
    assert {path.name for path in PRETRAINED_DIR.glob("*.step-*.keras")} == listed  # nothing unlisted ships
    total = sum(path.stat().st_size for path in PRETRAINED_DIR.rglob("*") if path.is_file())
    assert total <= BUDGET_BYTES, f"{total / 1e6:.1f} MB"


@pytest.mark.parametrize("config", replay_configs(), ids=lambda c: f"{c.task.name}-{c.model.arch}")
def test_the_shipped_snapshots_reproduce_the_accuracy_recorded_for_their_epoch(config):
    found = ModelStore(PRETRAINED_DIR, PRETRAINED_DIR / "no-cache").lookup(config)
    history = found.sidecar["history"]
    for entry in found.snapshots:
        bundle = found.load_snapshot(entry["label"])
        measured = evaluate(bundle, entry["eval_examples"], seed=entry["eval_seed"])
        assert measured["sequence_accuracy"] == entry["sequence_accuracy"], entry["label"]
        assert measured["token_accuracy"] == entry["token_accuracy"], entry["label"]
        if entry["epoch"] >= 1:  # an end-of-epoch snapshot is the history's own point
            assert history[int(entry["epoch"]) - 1]["sequence_accuracy"] == entry["sequence_accuracy"]


def test_pretrain_only_replay_retrains_just_the_replay_models_with_snapshots(tmp_path, monkeypatch):
    from explorer import presets
    from explorer.cli import main

    replayed = tiny_config("reverse", "teacher-forcing", epochs=2, target_accuracy=1.01)
    other = tiny_config("echo", "stacked-lstm", epochs=1)
    monkeypatch.setattr(presets, "pretrain_configs", lambda: [replayed, other])
    monkeypatch.setattr(presets, "replay_configs", lambda: [replayed])
    stale = "0123456789abcdef"
    for path in (*paths_for(tmp_path, stale), tmp_path / f"{stale}.step-0000001.keras"):
        path.write_text("from a configuration no longer shipped")
    assert main(["pretrain", "--output", str(tmp_path), "--only-replay"]) == 0
    assert paths_for(tmp_path, replayed.key())[1].exists() and not paths_for(tmp_path, other.key())[1].exists()
    assert len(snapshot_files(tmp_path, replayed.key())) == 2
    assert not list(tmp_path.glob(f"{stale}*"))
    assert main(["pretrain", "--output", str(tmp_path), "--missing-only"]) == 0
    assert read_sidecar(paths_for(tmp_path, other.key())[1])["snapshots"] == []
    assert len(snapshot_files(tmp_path, replayed.key())) == 2


# -- the pages ------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "replay-app-cache"))


def _chart_data(app) -> list:
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return [convert_arrow_bytes_to_pandas_df(d.data.data) for c in app.get("vega_lite_chart") for d in c.proto.datasets]


def _frames_equal(first: list, second: list) -> bool:
    return len(first) == len(second) and all(a.equals(b) for a, b in zip(first, second, strict=True))


def _replay_note(app) -> str:
    return " ".join(info.value for info in app.info if "Replay snapshot" in info.value)


REPLAY_PAGES = [
    ("app_pages/attention.py", "copy-first-k", "bahdanau"),
    ("app_pages/states.py", "echo", "stacked-lstm"),
    ("app_pages/embeddings.py", "series", "lstm-autoencoder"),
    ("app_pages/decoding.py", "reverse", "teacher-forcing"),
]


@pytest.mark.parametrize(("page_file", "task", "arch"), REPLAY_PAGES, ids=lambda v: str(v).split("/")[-1])
def test_the_epoch_slider_replays_training_on_each_page(page_file, task, arch):
    app = open_app(page_file, task=task, arch=arch)
    slider = app.select_slider(key="epoch")
    entries = ModelStore().lookup(next(c for c in replay_configs() if c.task.name == task)).snapshots
    assert slider.label == "Training epoch" and slider.options == [e["label"] for e in entries] + ["final"]
    assert slider.value == "final" and not _replay_note(app)
    assert any("Final weights" in caption.value for caption in app.caption)
    final_charts = _chart_data(app)
    final_tables = [frame.value for frame in app.dataframe]
    slider.set_value("0").run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Initial weights, before any training" in _replay_note(app)
    assert "recorded then" in _replay_note(app)
    if page_file.endswith("decoding.py"):
        assert not _frames_equal(final_tables, [frame.value for frame in app.dataframe])
    else:
        assert not _frames_equal(final_charts, _chart_data(app))


def test_a_link_opens_the_page_at_an_epoch():
    app = open_app("app_pages/attention.py", task="copy-first-k", arch="bahdanau", epoch="1")
    assert app.session_state["epoch"] == "1"
    assert "Weights after epoch 1 of" in _replay_note(app)


def test_a_model_without_snapshots_says_so():
    app = open_app("app_pages/attention.py", task="reverse", arch="bahdanau")
    assert not any(slider.key == "epoch" for slider in app.select_slider)
    assert any("keeps no snapshots" in caption.value for caption in app.caption)


def test_the_decoding_page_offers_an_early_epoch_where_the_decodes_diverge():
    app = open_app("app_pages/decoding.py", task="reverse", arch="teacher-forcing")
    assert app.success and not app.warning  # the final model gets the sample input right both ways
    app.button(key="early_epoch").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.select_slider(key="epoch").value != "final"
    assert _replay_note(app)
    assert any("first differ at step" in warning.value for warning in app.warning)
    assert not any(button.key == "early_epoch" for button in app.button)  # offered only on the final model
