"""Getting a page its model: the job for a configuration, where the model came from, and per-model caching.

- `model_job(config)` / `lookup_job(config)`: the shared job manager's job (found models come back done);
- `start_training(configs)` / `cancel_training(config)`: ask for training, or withdraw this browser session's
  request (`session_id()`); a run others still wait on trains on for them;
- `polled(draw, jobs)`: a fragment that reruns on its own only while one of `jobs` has not ended
  (`poll_interval`), and reruns the whole page when one ends;
- `watch_jobs(jobs)`: live progress bars, redrawn every second, that rerun the page when a job ends;
- `require_model(config)`: the finished bundle; while it trains, its live progress; otherwise an explanation
  and a link to the training page; then stop;
- `own_runs(config)`: the learner's trained configurations on the picked task, for the comparison;
- `length_rows(job, lengths)`: a model's accuracy at other input lengths, from its sidecar when it has them;
- `per_model(...)`: `st.cache_data` for a page computation on loaded models, shared by every session.

Nothing here imports Keras: the landing page shows what the sidecars record, and is drawn before Keras is loaded.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from explorer.cache import ModelStore
from explorer.config import RunConfig
from explorer.jobs import DONE, FAILED, LOADING, QUEUED, RUNNING, Job
from explorer.presets import changed_settings, run_label
from explorer.ui.pages import page_link
from explorer.ui.picker import current_config
from explorer.ui.runtime import fragment, fragment_rerun, get_manager

if TYPE_CHECKING:
    from explorer.networks import ModelBundle

# The registry name of the page where a missing model is trained.
TRAINING_PAGE = "train"
# Jobs that have not ended: a page shows their progress and fills in when they do.
UNFINISHED = (LOADING, QUEUED, RUNNING)
# How often a progress bar is redrawn, in seconds (one short fragment run per watching session).
PROGRESS_EVERY_S = 1.0
# Session-state keys: this browser session's id, and the configurations it asked to train (key -> config).
SESSION_ID_KEY = "session_id"
TRAINED_HERE_KEY = "trained_here"
# The comparison shows at most this many of the learner's own runs beside the defaults, newest first.
MAX_OWN_RUNS = 8


def session_id() -> str:
    """This browser session's id (a uuid kept in its session state): whose request a cancel withdraws."""
    return st.session_state.setdefault(SESSION_ID_KEY, uuid.uuid4().hex)


def model_job(config: RunConfig | None = None, train: bool = False) -> Job:
    """The job for a config: found (pretrained/cache) jobs come back done; `train=True` queues training, with
    this session among those waiting on it (see `start_training`)."""
    config = config or current_config()
    if train:
        return start_training([config])[0]
    manager = get_manager()
    return manager.get(config) or manager.request(config, train_if_missing=False)


def start_training(configs: Iterable[RunConfig]) -> list[Job]:
    """Ask for each configuration's model for this session: found models come back done, others queue (or are
    refused over the training budget, with the reason on the job). A run already under way gains this session
    as one more waiter. The configurations are remembered as this session's own runs (`own_runs`)."""
    manager = get_manager()
    trained_here = st.session_state.setdefault(TRAINED_HERE_KEY, {})
    jobs = []
    for config in configs:
        trained_here[config.key()] = config
        jobs.append(manager.request(config, train_if_missing=True, session=session_id()))
    return jobs


def cancel_training(config: RunConfig) -> bool:
    """Withdraw this session's request for `config`; the run stops only if no other session waits on it."""
    return get_manager().cancel(config, session=session_id())


def waiting_here(job: Job) -> bool:
    """Whether this session is among those waiting on `job`'s training run."""
    return session_id() in get_manager().waiting(job)


def lookup_job(config: RunConfig) -> Job:
    """The job for `config` without starting any training: done when a stored model exists."""
    manager = get_manager()
    return manager.get(config) or manager.request(config, train_if_missing=False)


def describe_source(job: Job) -> str:
    """Where a finished job's model came from, and the device and backend it was trained on, in words."""
    if job.state != DONE:
        return "not trained yet"
    where = {"pretrained": "shipped pretrained model", "cache": "model cache", "trained": "trained in this session"}
    sidecar = job.sidecar
    device = sidecar.get("device", "cpu")
    backend = sidecar.get("backend", "tensorflow")
    text = f"{where.get(job.source, job.source)} · trained on {device} with {backend}"
    trained_by = sidecar.get("trained_by") or {}
    if trained_by.get("jobs") == "ray":
        text += f" · on the Ray cluster, node {trained_by.get('node', '?')}"
    return text


def progress_text(job: Job) -> tuple[float, str]:
    """A job's progress as a fraction and a line of text: its place in the queue, or its epoch, loss and ETA."""
    if job.state == LOADING:
        return 0.0, "looking for a stored model…"
    if job.state == QUEUED:
        position = get_manager().position(job)
        return 0.0, f"queued, position {position}: another model is training; this one starts when it is its turn"
    progress = job.progress
    if job.state != RUNNING or progress is None:
        return (1.0 if job.state == DONE else 0.0), ((job.note or "starting…") if job.state == RUNNING else job.state)
    epoch = progress.epoch + (0 if progress.sequence_accuracy is not None else 1)
    text = f"epoch {epoch}/{progress.epochs} · loss {progress.loss:.4f}"
    if progress.eta_seconds is not None:
        text += f" · about {progress.eta_seconds:.0f} s left"
    if job.note:  # where it trains, when elsewhere: "training on the Ray cluster, 10.0.0.7 (GPU)"
        text += f" · {job.note}"
    return progress.fraction, text


def show_progress(job: Job, label: str = "") -> None:
    """One progress bar for `job` (not live on its own: see `watch_jobs`)."""
    fraction, text = progress_text(job)
    st.progress(fraction, text=f"{label}: {text}" if label else text)


def poll_interval(jobs: Iterable[Job], every: float = PROGRESS_EVERY_S) -> float | None:
    """How often a view of `jobs` reruns on its own: every `every` seconds while one of them has not ended (it is
    still being looked up, queued or training), never once they all have, since nothing it shows can change."""
    return every if any(job.state in UNFINISHED for job in jobs) else None


def polled(draw: Callable[..., None], jobs: Iterable[Job], every: float = PROGRESS_EVERY_S) -> Callable[..., None]:
    """`draw` as a fragment that reruns every `every` seconds while one of `jobs` has not ended, and not at all
    once they all have (`poll_interval`): call the result with `draw`'s arguments, once per full run.

    Streamlit keeps a fragment's timer in the browser: a full run that draws the fragment with an interval sets
    it, and a full run that draws it without one clears it. So the timed rerun that finds one of the jobs ended
    reruns the whole page instead: the page shows that job's outcome everywhere (the model, or why it failed),
    and the new full run keeps the timer only if another job still runs. An idle page costs the server nothing.
    """
    running = [job for job in jobs if job.state in UNFINISHED]

    @functools.wraps(draw)
    def watched(*args: Any, **kwargs: Any) -> None:
        if fragment_rerun() and any(job.state not in UNFINISHED for job in running):
            st.rerun(scope="app")
        draw(*args, **kwargs)

    return fragment(watched, run_every=poll_interval(running, every))


def _live_progress(jobs: Mapping[str, Job]) -> None:
    for label, job in jobs.items():
        show_progress(job, label)


def watch_jobs(jobs: Mapping[str, Job]) -> None:
    """Live progress bars for those of `jobs` (label -> job; "" for no label) that have not ended yet, redrawn
    every PROGRESS_EVERY_S seconds; the page reruns by itself when one ends, so it shows the model (or why it
    failed) without a reload. Draws nothing when every job has ended."""
    unfinished = {label: job for label, job in jobs.items() if job.state in UNFINISHED}
    if unfinished:
        polled(_live_progress, unfinished.values())(unfinished)


def require_symbols(task, what: str) -> None:
    """Stop the page, saying why, when `task` writes real values rather than symbols: `what` applies to symbols
    only ("decoding choices", "these interventions")."""
    if task.values != "tokens":
        st.info(
            f"The series autoencoder writes real values in one pass, not symbols; {what} apply to the symbols a "
            "decoder writes. Pick a token task in the sidebar."
        )
        st.stop()


def require_model(config: RunConfig | None = None) -> ModelBundle:
    """Return the finished bundle for the picked config; while it trains, show its live progress (the page fills
    in by itself when it is done); otherwise explain how to get one. In both cases the rest of the page stops."""
    job = model_job(config)
    bundle = job.bundle  # built on first use; None unless done, or when its file can no longer be read
    if bundle is not None:
        st.caption(f"Model: {describe_source(job)}")
        return bundle
    if job.state in UNFINISHED:
        st.info(
            "This configuration's model is being trained on the server (started from **Train & Compare**). "
            "This page fills in by itself as soon as it is ready."
        )
        watch_jobs({"": job})
        page_link(TRAINING_PAGE, label="Watch its learning curves on Train & Compare")
        st.stop()
    if job.state == FAILED and job.refused:
        st.warning(job.reason)
    elif job.state == FAILED and job.reason:
        st.warning(f"The last training run of this configuration did not finish: {job.reason}")
    st.info(
        "This configuration has no trained model yet. Train it on the **Train & Compare** page (it takes seconds "
        "for the default sizes), or pick a default configuration, which ships pretrained."
    )
    page_link(TRAINING_PAGE, label="Go to Train & Compare")
    st.stop()


@dataclass(frozen=True)
class OwnRun:
    """One of the learner's trained configurations, as the comparison shows it (from a job or a sidecar)."""

    label: str  # the architecture and what differs from its default, e.g. "luong · units=32"
    config: RunConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def own_runs(config: RunConfig) -> list[OwnRun]:
    """The learner's trained configurations on `config`'s task (same task parameters), other than the defaults
    the comparison already shows: this session's finished runs first, then the cache's, newest first; at most
    MAX_OWN_RUNS."""
    task = config.task
    found: dict[str, OwnRun] = {}
    manager = get_manager()
    for key, run in st.session_state.get(TRAINED_HERE_KEY, {}).items():
        job = manager.get(run)
        if run.task == task and changed_settings(run) != {} and job is not None and job.state == DONE:
            found[key] = OwnRun(run_label(run), run, job.metrics, list(job.history))
    for key, sidecar in _stored_runs(str(manager.store.cache_dir), _folder_stamp(manager.store.cache_dir)):
        run = RunConfig.from_dict(sidecar["config"])
        if key not in found and run.task == task and changed_settings(run) != {}:
            found[key] = OwnRun(run_label(run), run, sidecar.get("metrics", {}), sidecar.get("history", []))
    return list(found.values())[:MAX_OWN_RUNS]


def _folder_stamp(folder: Path) -> int:
    """Changes whenever a model is saved into or removed from `folder` (an atomic rename updates its mtime)."""
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False, max_entries=4)
def _stored_runs(cache_dir: str, stamp: int) -> list[tuple[str, dict[str, Any]]]:
    """The cache folder's readable sidecars, newest first, read once per change of the folder (`stamp`) rather
    than on every redraw of the comparison."""
    return ModelStore(cache_dir=cache_dir).stored_sidecars("cache")


def length_rows(job: Job, lengths: list[int]) -> list[dict[str, Any]]:
    """Exact-sequence accuracy of a finished job's model at each of `lengths`: the rows its sidecar stores when
    they were made for these lengths (every shipped model's are: `explorer pretrain`), else computed once per
    model and shared (`per_model`). Only then is the model itself needed."""
    from explorer.analysis import accuracy_by_length, stored_length_rows

    stored = stored_length_rows(job.sidecar, list(lengths))
    if stored is not None:
        return stored
    bundle = job.bundle
    if bundle is None:
        return []
    return per_model("Decoding fresh examples at each length…", 64)(accuracy_by_length)(bundle, list(lengths))


def _model_token(bundle: ModelBundle) -> str:
    """How Streamlit's caches tell loaded models apart: the config key and a digest of the weights, worked out once
    per loaded bundle. The same file loaded again (after the memory budget let the model go) finds the results of
    the first load; a model retrained under the same key (its file deleted while the app runs) has other weights,
    so it never gets the old one's. The token lives on the bundle: the caches keep no reference to the model."""
    token = bundle.__dict__.get("_cache_token")
    if token is None:
        digest = hashlib.sha256()
        for weights in bundle.training_model.get_weights():
            digest.update(np.ascontiguousarray(weights).tobytes())
        token = bundle.__dict__.setdefault("_cache_token", f"{bundle.config.key()}:{digest.hexdigest()[:32]}")
    return token


def per_model(show_spinner: bool | str = False, max_entries: int = 64):
    """`st.cache_data` for a page's computation on loaded models, shared by every session.

    Arguments that are `ModelBundle`s (also inside lists and dicts) are hashed by `_model_token`, everything
    else by value: `per_model("Decoding…")(position_accuracy)(bundle)`. (The type is named, not imported, so that
    this module imports no Keras.)
    """
    return st.cache_data(
        show_spinner=show_spinner, max_entries=max_entries, hash_funcs={"explorer.networks.ModelBundle": _model_token}
    )
