"""Training replay on a page: an epoch slider over a model's snapshots, and the weights the learner picked.

- `replay_bundle(config, bundle)`: the "Training epoch" slider (each replay snapshot's epoch, then "final"), kept in
  the URL as `epoch`, and a line saying what the picked weights are and how well they did when they were taken.
  Returns the bundle the page's figures use and the picked epoch (None for the final model). A model without
  snapshots gets a line saying so, and the final model.
- `diverging_epoch_offer(config, source, ...)`: on the Decoding page, when the final model's two decodes agree on
  the typed input, a button that moves the slider to an early epoch where they do not.
- `snapshot_caption(...)`: the words of that line, from what the sidecar recorded (pure, no Streamlit).

The snapshots come from the job (`Job.snapshot_bundle`), which holds them under the model memory budget. A page runs
them through `explorer.ui.results`, whose caches tell models apart by a digest of their weights (`_model_token`),
so each snapshot has cache entries of its own and never gets the final model's results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from explorer.config import RunConfig
from explorer.tasks import get_task
from explorer.ui.inputs import format_sequence, set_sequence, url_choice
from explorer.ui.locks import control_frame, locked
from explorer.ui.models import model_job

if TYPE_CHECKING:
    from explorer.jobs import Job
    from explorer.networks import ModelBundle

# The slider's key, which is also its URL parameter, and its last stop.
EPOCH_KEY = "epoch"
FINAL = "final"
# Fresh inputs searched per snapshot when none of them diverges on the typed input.
DIVERGENCE_TRIES = 1000
# Session-state key of what the early-epoch button found, for the run after its click to say.
_DIVERGING_FOUND = "diverging_epoch_found"


def _steps_per_epoch(config: RunConfig) -> int:
    return -(-config.train.samples_per_epoch // config.train.batch_size)


def accuracy_words(accuracy: float, config: RunConfig) -> str:
    """A recorded exact-sequence accuracy in words; for a series, what "exact" means there."""
    if get_task(config.task.name).values == "tokens":
        return f"{accuracy:.1%} exact-sequence accuracy"
    from explorer.training import SERIES_TOLERANCE

    return f"{accuracy:.1%} of series rebuilt within {SERIES_TOLERANCE} at every step"


def snapshot_caption(entry: dict[str, Any], config: RunConfig, epochs_run: int) -> str:
    """What a replay snapshot is, e.g. "Weights after epoch 2 of 7: 64.2% exact-sequence accuracy on held-out
    examples, recorded then." `entry` is one of `Job.snapshots`; `epochs_run` the epochs the whole run took."""
    epoch = float(entry["epoch"])
    if epoch == 0:
        when = f"Initial weights, before any training (epoch 0 of {epochs_run})"
    elif epoch.is_integer():
        when = f"Weights after epoch {int(epoch)} of {epochs_run}"
    else:
        per_epoch = _steps_per_epoch(config)
        done = int(entry["step"]) - int(epoch) * per_epoch
        when = (
            f"Weights after {done} of the {per_epoch} steps of epoch {int(epoch) + 1} of {epochs_run} "
            f"(epoch {entry['label']})"
        )
    accuracy = entry.get("sequence_accuracy")
    if not isinstance(accuracy, (int, float)):
        return f"{when}."
    return f"{when}: {accuracy_words(float(accuracy), config)} on held-out examples, recorded then."


def _epochs_run(job: Job) -> int:
    return int(job.metrics.get("epochs_run") or len(job.history) or 0)


def _no_snapshots_text(job: Job) -> str:
    if job.source == "pretrained":
        return (
            "Training replay: this shipped model keeps no snapshots of its training (only the models the lessons "
            "open first ship them, to keep the download small). A model you train in the app keeps its own."
        )
    if job.save_error:
        return "Training replay: this model could not be saved, so its training snapshots were not kept."
    return "Training replay: this model was stored without snapshots of its training; train it again to get them."


def _settle(options: list[str]) -> None:
    """A slider position kept from another model that this one has no snapshot at goes back to the final model
    (before the slider is drawn, which a widget's value may only be changed before)."""
    if st.session_state.get(EPOCH_KEY, FINAL) not in options:
        st.session_state[EPOCH_KEY] = FINAL


def replay_bundle(config: RunConfig, bundle: ModelBundle) -> tuple[ModelBundle, float | None]:
    """The slider over `config`'s replay snapshots and the bundle it picks: `bundle` (the final model, which the
    page got from `require_model`) and None, or a snapshot's bundle and its epoch. Call it where the page gets its
    model; every figure after it should use the returned bundle."""
    job = model_job(config)
    entries = job.snapshots
    if not entries:
        st.caption(_no_snapshots_text(job))
        return bundle, None
    options = [entry["label"] for entry in entries] + [FINAL]
    _settle(options)
    label = url_choice(
        st.select_slider,
        "Training epoch",
        options,
        key=EPOCH_KEY,
        default=FINAL,
        help="Replay training: the weights as they were at each snapshot taken while the model trained, then "
        "the final model. Every figure on this page uses the weights picked here.",
    )
    epochs_run = _epochs_run(job)
    if label == FINAL:
        accuracy = job.metrics.get("sequence_accuracy")
        words = f": {accuracy_words(float(accuracy), config)} on held-out examples" if accuracy is not None else ""
        st.caption(f"Final weights, after epoch {epochs_run} of {epochs_run}{words}.")
        return bundle, None
    entry = next(entry for entry in entries if entry["label"] == label)
    snapshot = job.snapshot_bundle(label)
    if snapshot is None:
        st.warning(f"The snapshot at epoch {label} could not be loaded; showing the final weights.")
        return bundle, None
    st.info(
        f"**Replay snapshot.** {snapshot_caption(entry, config, epochs_run)} Every figure below uses these "
        f"weights; move the slider to *{FINAL}* for the trained model."
    )
    return snapshot, float(entry["epoch"])


def _divergence_on(bundle: ModelBundle, source: np.ndarray, targets: np.ndarray) -> int | None:
    """The first output step (0-based) where `bundle`'s two decodes of `source` differ, or None."""
    from explorer.analysis import first_divergence
    from explorer.ui.results import free_running, teacher_forced

    forced = teacher_forced(bundle, source[None], targets).tokens[0]
    free = free_running(bundle, source[None]).tokens[0]
    return first_divergence(forced, free)


def find_diverging_epoch(config: RunConfig, source: np.ndarray) -> dict[str, Any]:
    """The latest replay snapshot whose free-running decode of `source` leaves its teacher-forced one (`label`,
    `step`); else, searching fresh inputs on each snapshot, latest first, the first that diverges there (also
    `source`, `tried`, `diverging`); else `{}`. Latest first, because a nearly trained model shows a divergence
    that starts late, after several right steps, which is the one that teaches something."""
    from explorer.analysis import find_divergence

    job = model_job(config)
    labels = [entry["label"] for entry in reversed(job.snapshots)]

    def loaded():
        # One at a time: the first snapshot looked at usually diverges, and the others need not be loaded.
        for label in labels:
            bundle = job.snapshot_bundle(label)
            if bundle is not None:
                yield label, bundle

    targets = get_task(config.task.name).targets_for(config.task, source[None])
    for label, bundle in loaded():
        step = _divergence_on(bundle, source, targets)
        if step is not None:
            return {"label": label, "step": step}
    seed = int(np.random.default_rng().integers(2**31))
    for label, bundle in loaded():
        found = find_divergence(bundle, DIVERGENCE_TRIES, seed=seed)
        if found.source is not None:
            return {
                "label": label,
                "step": found.step,
                "source": found.source,
                "tried": found.tried,
                "diverging": found.diverging,
            }
    return {}


def _show_diverging_epoch(config: RunConfig, source: np.ndarray) -> None:
    """Button callback (it runs before the page, so the slider and the box can still be changed): move the slider
    to an early epoch where the decodes diverge. Given the configuration and the input, not a model: a session
    keeps a button's arguments for as long as it lives, and a model there would escape the memory budget."""
    found = find_diverging_epoch(config, source)
    if found.get("source") is not None:
        set_sequence(format_sequence(config, found["source"]))
    if found:
        st.session_state[EPOCH_KEY] = found["label"]
    st.session_state[_DIVERGING_FOUND] = {key: value for key, value in found.items() if key != "source"}


def diverging_epoch_offer(config: RunConfig, source: np.ndarray, agree: bool, epoch: float | None) -> None:
    """On the Decoding page, under the decodes: when the final model's decodes agree on the typed input (`agree`,
    `epoch` None) and it has replay snapshots, the button "Show an early epoch where they diverge"; after a click,
    what it found."""
    found = st.session_state.pop(_DIVERGING_FOUND, None)
    if found is not None:
        if not found:
            st.info(
                "None of this model's training snapshots makes the two decodes diverge, on this input or on "
                f"{DIVERGENCE_TRIES:,} fresh ones each."
            )
        elif "tried" in found:
            st.info(
                f"At epoch {found['label']} the decodes agree on the input you had typed, but {found['diverging']:,} "
                f"of {found['tried']:,} fresh inputs make them diverge; the box holds the first."
            )
        else:
            st.info(
                f"At epoch {found['label']} of training the model was not yet good enough: its free-running decode "
                f"of this input leaves the teacher-forced one at step {found['step'] + 1}."
            )
    if not agree or epoch is not None or not model_job(config).snapshots:
        return
    with control_frame("early_epoch"):
        st.button(
            "Show an early epoch where they diverge",
            key="early_epoch",
            on_click=_show_diverging_epoch,
            args=(config, np.asarray(source)),
            disabled=locked("controls"),
            help="Moves the Training epoch slider back to a snapshot taken while the model was still learning, "
            "where its own mistakes feed the next step.",
        )
