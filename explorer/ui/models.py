"""Getting a page its model: the job for a configuration, where the model came from, and per-model caching.

- `model_job(config)` / `lookup_job(config)`: the shared job manager's job (found models come back done);
- `require_model(config)`: the finished bundle, or an explanation and a link to the training page, then stop;
- `per_model(...)`: `st.cache_data` for a page computation on loaded models, shared by every session.
"""

from __future__ import annotations

import uuid

import streamlit as st

from explorer.config import RunConfig
from explorer.jobs import CANCELLED, DONE, FAILED, Job
from explorer.networks import ModelBundle
from explorer.ui.pages import page_link
from explorer.ui.picker import current_config
from explorer.ui.runtime import get_manager

# The registry name of the page where a missing model is trained.
TRAINING_PAGE = "train"


def model_job(config: RunConfig | None = None, train: bool = False) -> Job:
    """The job for a config: found (pretrained/cache) jobs come back done; `train=True` queues training."""
    config = config or current_config()
    manager = get_manager()
    job = manager.get(config)
    if job is not None and (job.state != CANCELLED or not train) and not (job.state == FAILED and train):
        return job
    return manager.request(config, train_if_missing=train)


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
    return f"{where.get(job.source, job.source)} · trained on {device} with {backend}"


def require_model(config: RunConfig | None = None) -> ModelBundle:
    """Return the finished bundle for the picked config, or explain how to get one and stop the page."""
    job = model_job(config)
    if job.state == DONE:
        st.caption(f"Model: {describe_source(job)}")
        return job.bundle
    st.info(
        "This configuration has no trained model yet. Train it on the **Train & Compare** page (it takes seconds "
        "for the default sizes), or pick a default configuration, which ships pretrained."
    )
    page_link(TRAINING_PAGE, label="Go to Train & Compare")
    st.stop()


def _model_token(bundle: ModelBundle) -> str:
    """How Streamlit's caches tell loaded models apart: the config key plus a tag of this very object, so that a
    model retrained under the same key (its file deleted while the app runs) never gets the old one's results."""
    return bundle.__dict__.setdefault("_cache_token", f"{bundle.config.key()}:{uuid.uuid4().hex}")


def per_model(show_spinner: bool | str = False, max_entries: int = 64):
    """`st.cache_data` for a page's computation on loaded models, shared by every session.

    Arguments that are `ModelBundle`s (also inside lists and dicts) are hashed by `_model_token`, everything
    else by value: `per_model("Decoding…")(position_accuracy)(bundle)`.
    """
    return st.cache_data(show_spinner=show_spinner, max_entries=max_entries, hash_funcs={ModelBundle: _model_token})
