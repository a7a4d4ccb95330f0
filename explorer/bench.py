"""Performance figures, measured in one run so ratios compare like with like on the same (noisy) machine.

- decode: per-sequence time of the tutorials' per-step `predict` loop vs our batched, compiled greedy decode on
  the same weights, and the latency of decoding plus probing a single sequence (what a page does per keystroke).
- train: seconds of training until >= 99% exact-sequence accuracy on the reversal task.
- rerun_reset: training in a background thread while another thread does what Streamlit does after every script
  run by default (`keras.backend.clear_session()` and a full garbage collection) every 0.5 s, the rate of a live
  progress view; the app switches both off (see `explorer/ui/runtime.py`). Quiet runs before and after.
- pages: the server's warm script time per page (AppTest, no browser) as served, and with Altair's schema
  validation of every chart switched on as `st.altair_chart` would do it; each in a fresh process.
- cold_start_s: seconds from starting `streamlit run app.py` to the end of the landing page's first run for its
  first visitor (`cold_start_seconds`), the median of three fresh servers.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from explorer.backend import backend_name, device_name
from explorer.decoding import decode_per_step_loop, greedy_decode
from explorer.presets import default_config
from explorer.probe import probe
from explorer.tasks import make_batch
from explorer.training import train


def _timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def bench_decode(loop_sequences: int = 20, batch_sequences: int = 20_000, quick: bool = False) -> dict[str, Any]:
    config = default_config(epochs=2, target_accuracy=0.5)
    bundle = train(config).bundle
    loop_inputs = make_batch(config.task, loop_sequences, seed=1).encoder_inputs
    batch_inputs = make_batch(config.task, batch_sequences, seed=2).encoder_inputs
    # Warm both paths so graph tracing is not billed to either.
    decode_per_step_loop(bundle, loop_inputs[:1])
    greedy_decode(bundle, batch_inputs[:64])
    loop_seconds = min(_timed(lambda: decode_per_step_loop(bundle, loop_inputs), 1 if quick else 2))
    batch_seconds = min(_timed(lambda: greedy_decode(bundle, batch_inputs), 3))
    agree = bool(
        np.array_equal(decode_per_step_loop(bundle, loop_inputs[:5]), greedy_decode(bundle, loop_inputs[:5]).tokens)
    )
    single = loop_inputs[:1]
    probe(bundle, single)
    latency = _timed(lambda: probe(bundle, single), 30)  # probe decodes greedily first, then replays the layers
    per_loop = loop_seconds / loop_sequences
    per_batch = batch_seconds / batch_sequences
    return {
        "loop_ms_per_sequence": per_loop * 1e3,
        "batched_ms_per_sequence": per_batch * 1e3,
        "speedup_per_sequence": per_loop / per_batch,
        "batched_sequences": batch_sequences,
        "loop_sequences": loop_sequences,
        "same_tokens": agree,
        "single_decode_and_probe_ms_median": statistics.median(latency) * 1e3,
        "single_decode_and_probe_ms_p95": float(np.percentile(latency, 95)) * 1e3,
    }


def bench_train(repeats: int = 3) -> dict[str, Any]:
    runs = []
    for seed in range(repeats):
        config = default_config(target_accuracy=0.99, epochs=20, **{"train.seed": seed})
        result = train(config)
        runs.append(
            {
                "seconds": result.train_seconds,
                "sequence_accuracy": result.metrics["sequence_accuracy"],
                "reached": result.status == "target reached",
                "samples_seen": result.samples_seen,
            }
        )
    task = default_config().task
    return {
        "task": f"{task.name} {task.input_length}->{task.output_length}, cardinality {task.cardinality}",
        "seconds_to_99_median": statistics.median(r["seconds"] for r in runs),
        "runs": runs,
    }


def bench_rerun_reset(epochs: int = 3, period_s: float = 0.5, samples_per_epoch: int = 8192) -> dict[str, Any]:
    import keras

    config = default_config(epochs=epochs, target_accuracy=1.01, samples_per_epoch=samples_per_epoch)
    train(default_config(epochs=1, samples_per_epoch=256))  # warm up

    def timed_training(reset) -> float:
        stop = threading.Event()

        def resetter() -> None:
            while not stop.wait(period_s):
                reset()

        thread = threading.Thread(target=resetter, daemon=True)
        thread.start()
        try:
            return train(config).train_seconds
        finally:
            stop.set()
            thread.join()

    def nothing() -> None:
        pass

    def clear_session() -> None:
        keras.backend.clear_session()

    def clear_session_and_collect() -> None:
        keras.backend.clear_session()
        gc.collect(2)

    quiet_before = timed_training(nothing)
    runs = {
        "clear_session": timed_training(clear_session),
        "gc_collect": timed_training(lambda: gc.collect(2)),
        "clear_session_and_gc": timed_training(clear_session_and_collect),
    }
    quiet = (quiet_before + timed_training(nothing)) / 2
    return {
        "task": f"reverse 6->3, {epochs} epochs, reset every {period_s} s",
        "quiet_seconds": quiet,
        **{f"{name}_seconds": seconds for name, seconds in runs.items()},
        **{f"{name}_slowdown": seconds / quiet for name, seconds in runs.items()},
    }


def page_query() -> dict[str, str]:
    """A shipped attention model (the first attention architecture on its default task): every page has figures."""
    from explorer.architectures import ARCHITECTURES

    arch = next(entry for entry in ARCHITECTURES.values() if entry.has_attention)
    return {"task": arch.default_task, "arch": arch.name}


def bench_pages(repeats: int = 5) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[1]
    code = (
        "import json, sys; from explorer.ui.runtime import time_pages; "
        f"print(json.dumps(time_pages({page_query()!r}, {repeats})))"
    )
    measured = {}
    for name, validate in (("served", "0"), ("validated", "1")):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "SEQ2SEQ_VALIDATE_CHARTS": validate, "SEQ2SEQ_CACHE_DIR": cache}
            env.pop("SEQ2SEQ_RUN_LOG", None)
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=1200
            )
        if done.returncode != 0:
            raise RuntimeError(f"page timing failed: {done.stderr[-2000:]}")
        measured[name] = json.loads(done.stdout.strip().splitlines()[-1])
    served, validated = measured["served"], measured["validated"]
    return {
        "query": page_query(),
        "served_ms": served,
        "validated_ms": validated,
        "served_total_ms": sum(served.values()),
        "validated_total_ms": sum(validated.values()),
        "validation_slowdown": sum(validated.values()) / sum(served.values()),
    }


def _free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def _wait_healthy(port: int, server: subprocess.Popen, deadline: float) -> None:
    """Poll the server's health endpoint until it answers "ok"."""
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {server.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as answer:
                if answer.read() == b"ok":
                    return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"streamlit did not answer on port {port}")
        time.sleep(0.05)


def cold_start_seconds(port: int | None = None, timeout_s: float = 120.0) -> float:
    """Seconds from starting `streamlit run app.py` to the end of the landing page's first run (the default
    configuration, whose model ships in pretrained/) for one client speaking Streamlit's websocket protocol.

    The clock starts just before the server process does. The client waits for `/_stcore/health` to answer "ok",
    asks for the page as a browser would (a `rerun_script` BackMsg) and stops the clock when the run's
    `script_finished` ForwardMsg arrives. The server gets an empty model cache and a free `port` (or the one
    given), and is stopped before this returns. From a shell, at the repository root:
    `python -c "from explorer.bench import cold_start_seconds; print(cold_start_seconds())"`.
    """
    import asyncio

    from explorer.ui.runtime import first_run

    port = port or _free_port()
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SEQ2SEQ_CACHE_DIR": cache, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("SEQ2SEQ_RUN_LOG", None)
        started = time.perf_counter()
        server = subprocess.Popen(
            [*command, "--server.port", str(port)],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = started + timeout_s
            _wait_healthy(port, server, deadline)
            asyncio.run(asyncio.wait_for(first_run(port), max(1.0, deadline - time.perf_counter())))
            return time.perf_counter() - started
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def bench_cold_start(repeats: int = 3) -> dict[str, Any]:
    runs = [cold_start_seconds() for _ in range(repeats)]
    return {"cold_start_s": statistics.median(runs), "cold_start_runs_s": runs}


def bench_interventions(repeats: int = 20) -> dict[str, Any]:
    """Milliseconds per click of each What-if intervention (median of `repeats`, after one warm-up call) on the
    shipped copy-first-k x Bahdanau model, and the plain decode of one input for scale. A click runs the decode
    before and after as one batch of two."""
    from explorer.cache import ModelStore
    from explorer.decoding import greedy_decode
    from explorer.interventions import ChangeInput, ClampUnit, ForceAttention, ForcePrefix, intervene

    config = default_config("copy-first-k", "bahdanau")
    found = ModelStore().lookup(config)
    if found is None:
        return {"skipped": "the shipped copy-first-k x bahdanau model is missing"}
    bundle = found.load()
    source = make_batch(config.task, 1, seed=2024).encoder_inputs[0]
    cases = {
        "force_prefix_ms": ForcePrefix((3,)),
        "clamp_ms": ClampUnit(0, 2.0, None, "c"),
        "clamp_encoder_ms": ClampUnit(0, 2.0, 1, "c", 0, "encoder"),  # replayed in NumPy, then decoded
        "force_attention_ms": ForceAttention(0, 2),
        "change_input_ms": ChangeInput(1, 7),
    }
    result: dict[str, Any] = {"model": f"{config.task.name} x {config.model.arch}", "repeats": repeats}
    for name, intervention in cases.items():
        intervene(bundle, source, intervention)  # compiles the step models once
        result[name] = round(
            statistics.median(_timed(lambda i=intervention: intervene(bundle, source, i), repeats)) * 1000, 2
        )
    greedy_decode(bundle, source[None])
    result["plain_decode_ms"] = round(
        statistics.median(_timed(lambda: greedy_decode(bundle, source[None]), repeats)) * 1000, 2
    )
    return result


def run_bench(quick: bool = False) -> dict[str, Any]:
    return {
        **bench_cold_start(repeats=1 if quick else 3),  # first, while this process has trained nothing
        "backend": backend_name(),
        "device": device_name(),
        "decode": bench_decode(
            loop_sequences=5 if quick else 20, batch_sequences=5000 if quick else 20_000, quick=quick
        ),
        "train": bench_train(repeats=1 if quick else 3),
        "rerun_reset": bench_rerun_reset(epochs=1 if quick else 3),
        "pages": bench_pages(repeats=2 if quick else 5),
        "interventions": bench_interventions(repeats=5 if quick else 20),
    }
