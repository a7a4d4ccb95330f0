import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )


@pytest.mark.parametrize(
    "args, names",
    [
        (["train", "--task", "nope"], "echo, echo-partial, reverse"),
        (["train", "--arch", "transformer"], "stacked-lstm, repeat-vector"),
        (["train", "--set", "bogus=1"], "valid: "),
        (["train", "--set", "units=many"], "units must be a int"),
        (["train", "--set", "units=0"], "from 1 to 1024"),
        (["train", "--set", "units"], "NAME=VALUE"),
        (["train", "--task", "reverse", "--arch", "stacked-lstm"], "as long as the input"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_error_paths_exit_2_with_one_line_and_no_traceback(args, names):
    completed = run(*args)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr + completed.stdout
    lines = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and names in lines[0]


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="asserts that the CLI reports the default backend, 'tensorflow'; under KERAS_BACKEND=jax the CLI "
    "(a subprocess that inherits the variable) rightly reports 'jax'",
)
@pytest.mark.slow
def test_train_json_last_line(tmp_path):
    completed = run(
        "train",
        "--task",
        "reverse",
        "--arch",
        "luong",
        "--set",
        "epochs=1",
        "--set",
        "samples_per_epoch=512",
        "--set",
        "units=16",
        "--json",
        "--save",
        str(tmp_path),
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    for field in (
        "task",
        "arch",
        "key",
        "sequence_accuracy",
        "token_accuracy",
        "train_seconds",
        "samples_seen",
        "backend",
        "device",
    ):
        assert field in summary
    assert summary["task"] == "reverse" and summary["arch"] == "luong" and summary["eval_examples"] >= 1000
    assert summary["samples_seen"] == 512 and summary["backend"] == "tensorflow"
    assert (tmp_path / f"{summary['key']}.keras").exists() and (tmp_path / f"{summary['key']}.json").exists()


def test_list_json_names_every_registry_entry():
    completed = run("list", "--json")
    data = json.loads(completed.stdout)
    from explorer.architectures import ARCHITECTURES
    from explorer.tasks import TASKS

    assert set(data["tasks"]) == set(TASKS) and set(data["architectures"]) == set(ARCHITECTURES)
    for name, task in TASKS.items():
        listed = data["tasks"][name]
        assert listed["default_arch"] == task.default_arch and listed["length_rule"] == task.length_rule
        assert {arch: figure["accuracy"] for arch, figure in listed["published"].items()} == {
            arch: figure.accuracy for arch, figure in task.published.items()
        }
    for name, arch in ARCHITECTURES.items():
        listed = data["architectures"][name]
        assert (listed["pattern"], listed["default_task"], listed["scores"]) == (
            arch.pattern,
            arch.default_task,
            list(arch.scores),
        )
    assert "units" in data["parameters"]["model"]


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="under JAX, keras.backend.clear_session() from the resetting thread replaces Keras' thread-local state, "
    "the stateless scope in which the training thread traces its JAX train step included, so the timed run fails "
    "('NoneType' object is not callable) instead of slowing down; the app never makes that call "
    "(explorer/ui/runtime.py removes Streamlit's per-run one)",
)
@pytest.mark.slow
def test_bench_measures_training_beside_the_per_run_reset():
    import math

    from explorer.bench import bench_rerun_reset

    figures = bench_rerun_reset(epochs=1, period_s=0.2, samples_per_epoch=1024)
    for name in ("clear_session", "gc_collect", "clear_session_and_gc"):
        assert figures[f"{name}_seconds"] > 0
        assert math.isclose(figures[f"{name}_slowdown"], figures[f"{name}_seconds"] / figures["quiet_seconds"])


@pytest.mark.slow
def test_bench_times_every_page_served_and_validated():
    from explorer.bench import bench_pages

    figures = bench_pages(repeats=1)
    pages = {path.stem for path in (ROOT / "app_pages").glob("*.py")}
    assert set(figures["served_ms"]) == set(figures["validated_ms"]) == pages
    assert all(ms > 0 for ms in [*figures["served_ms"].values(), *figures["validated_ms"].values()])
    assert figures["validation_slowdown"] == figures["validated_total_ms"] / figures["served_total_ms"]


def test_bench_reports_each_interventions_latency_in_milliseconds():
    from explorer.bench import bench_interventions

    figures = bench_interventions(repeats=2)
    timed = {name: value for name, value in figures.items() if name.endswith("_ms")}
    assert set(timed) == {
        "force_prefix_ms",
        "clamp_ms",
        "clamp_encoder_ms",
        "force_attention_ms",
        "change_input_ms",
        "plain_decode_ms",
    }
    assert all(value > 0 for value in timed.values())
