"""Training: seeded, batched, on fresh data every epoch, reporting progress only through callbacks.

`train(config, progress=..., should_stop=...)` builds the bundle, fits it epoch by epoch and after every epoch
measures what the tutorials measure: exact-sequence accuracy under free-running greedy decoding on examples the
model has never seen. It stops early at the target accuracy, when `should_stop()` turns true (cancel), or when
the loss turns NaN, in which case the result says so instead of raising. Nothing here knows about Streamlit.

With `snapshots=True` it also keeps a few copies of the weights along the way, for the pages' training replay
(`Snapshot`, `replay_points`): the initial weights (epoch 0) and the end of epochs 1, 2, 4, 8, ... before the last,
at most `MAX_SNAPSHOTS`. Each records its own free-running accuracy on the evaluation set of the epoch it falls in,
so a snapshot loaded again and evaluated with its `eval_seed` gives the same number. Taking them reads the weights
and draws no random numbers, so the final weights are the same with or without them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from explorer import architectures
from explorer.config import RunConfig
from explorer.decoding import greedy_decode, sequence_accuracy, token_accuracy
from explorer.networks import ModelBundle
from explorer.tasks import Batch, get_task

# A real-valued step counts as right when it is this close to the target (series tasks have no exact match).
SERIES_TOLERANCE = 0.05
# Evaluation draws from a stream that training never touches, so "fresh examples" really are fresh.
EVAL_STREAM = 1_000_003
# Replay snapshots: at most this many per run (each costs a file as big as the model's), ...
MAX_SNAPSHOTS = 4
# ... and, for a model that is already this good after its first epoch (many reach their target in one or two
# epochs of 8192 examples), the points inside epoch 1 where it is taken too, as fractions of the epoch: without
# them a replay would jump from random weights straight to a finished model.
EARLY_LEARNER = 0.9
IN_EPOCH_FRACTIONS = (0.125, 0.25, 0.5)


@dataclass
class Progress:
    """One report from a running training job."""

    epoch: int  # 1-based; 0 while the first epoch runs
    epochs: int
    step: int  # optimisation steps done in total
    steps: int  # optimisation steps planned in total
    loss: float
    token_accuracy: float | None = None
    sequence_accuracy: float | None = None
    elapsed: float = 0.0

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / max(1, self.steps))

    @property
    def eta_seconds(self) -> float | None:
        if self.step == 0:
            return None
        return self.elapsed / self.step * (self.steps - self.step)


@dataclass
class Snapshot:
    """The weights at one point of a run, and how well they did then (the training replay).

    `epoch` is 0 for the weights before any update, k for the end of epoch k, and a fraction (0.25) for a point
    inside epoch 1. The accuracies are free-running, on `eval_examples` examples drawn with `evaluate(...,
    seed=eval_seed)`: the evaluation set of the epoch the snapshot falls in, so they line up with the history.
    """

    epoch: float
    step: int  # optimisation steps taken before it
    weights: list[np.ndarray]  # the training model's weights, in `get_weights()` order
    evaluation: dict[str, float] = field(default_factory=dict)  # sequence_accuracy, token_accuracy (and mse)
    eval_seed: int = 0

    def record(self) -> dict[str, Any]:
        """What a sidecar lists about it (everything but the weights)."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "eval_seed": self.eval_seed,
            **{k: v for k, v in self.evaluation.items() if k != "examples"},
            "eval_examples": int(self.evaluation.get("examples", 0)),
        }


def replay_points(candidates: list[Snapshot], epochs_run: int, first_epoch_accuracy: float | None) -> list[Snapshot]:
    """Which of the snapshots taken during a run are kept: never the last epoch's (the final model is the main
    file); the ones inside epoch 1 only when the first epoch already ended past EARLY_LEARNER; at most
    MAX_SNAPSHOTS, the initial weights first and the others spread evenly over the rest, the latest always kept."""
    early = first_epoch_accuracy is not None and first_epoch_accuracy >= EARLY_LEARNER
    kept = [
        snapshot
        for snapshot in sorted(candidates, key=lambda s: s.epoch)
        if snapshot.epoch < epochs_run and (early or snapshot.epoch == int(snapshot.epoch))
    ]
    if len(kept) <= MAX_SNAPSHOTS:
        return kept
    first, rest = kept[0], kept[1:]
    picks = np.round(np.linspace(0, len(rest) - 1, MAX_SNAPSHOTS - 1)).astype(int)
    return [first, *(rest[i] for i in sorted(set(picks.tolist())))]


def _is_snapshot_epoch(epoch: int) -> bool:
    """Epochs 1, 2, 4, 8, ...: dense where a model changes most, sparse later."""
    return epoch >= 1 and epoch & (epoch - 1) == 0


@dataclass
class TrainResult:
    bundle: ModelBundle
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    status: str  # "completed", "target reached", "cancelled", "diverged"
    reason: str = ""
    train_seconds: float = 0.0
    samples_seen: int = 0
    # With record_gradients: per-layer gradient norms, one dict per measurement, with "step" and "epoch" keys.
    gradient_norms: list[dict[str, float]] = field(default_factory=list)
    # With snapshots=True: the replay points kept (see `replay_points`), earliest first.
    snapshots: list[Snapshot] = field(default_factory=list)


def teacher_forcing_ratio(schedule: str, epoch: int, epochs: int) -> float:
    """Probability of feeding the true previous token at 0-based `epoch` (scheduled sampling, Bengio et al. 2015)."""
    if schedule == "none":
        return 1.0
    progress = epoch / max(1, epochs - 1)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    if schedule == "exponential":
        return 0.05**progress
    # inverse sigmoid: stays near 1 for the first epochs, falls through 0.5 half way, ends near 0
    return 1.0 / (1.0 + math.exp(10.0 * (progress - 0.5)))


def make_optimizer(config: RunConfig) -> keras.optimizers.Optimizer:
    train = config.train
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[train.optimizer]
    return optimizer(
        learning_rate=train.learning_rate,
        clipnorm=train.clipnorm or None,
        clipvalue=train.clipvalue or None,
        global_clipnorm=train.global_clipnorm or None,
    )


def _loss_for(config: RunConfig):
    if get_task(config.task.name).values == "real":
        return "mse", ["mae"]
    return "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]


def _targets(bundle: ModelBundle, batch: Batch):
    return bundle.model_targets(batch.targets, batch.extra_targets)


def evaluate(bundle: ModelBundle, examples: int = 1000, seed: int | None = None) -> dict[str, float]:
    """Free-running accuracy on `examples` fresh examples (never seen in training under the same config)."""
    config = bundle.config
    task = get_task(config.task.name)
    rng = np.random.default_rng(EVAL_STREAM + (config.train.seed if seed is None else seed))
    batch = task.make_batch(config.task, examples, rng)
    if task.values == "real":
        predicted = bundle.training_model.predict(batch.encoder_inputs, batch_size=4096, verbose=0)
        predicted = predicted if isinstance(predicted, list) else [predicted]
        targets = _targets(bundle, batch)
        targets = targets if isinstance(targets, list) else [targets]
        errors = np.concatenate([np.abs(p - t)[..., 0] for p, t in zip(predicted, targets, strict=True)], axis=1)
        return {
            "token_accuracy": float(np.mean(errors < SERIES_TOLERANCE)),
            "sequence_accuracy": float(np.mean(np.all(errors < SERIES_TOLERANCE, axis=1))),
            "mse": float(np.mean(errors**2)),
            "examples": examples,
        }
    decoded = greedy_decode(bundle, batch.encoder_inputs).tokens
    return {
        "token_accuracy": token_accuracy(decoded, batch.targets),
        "sequence_accuracy": sequence_accuracy(decoded, batch.targets),
        "examples": examples,
    }


def gradient_norms(bundle: ModelBundle, batch: Batch, trainer: keras.Model | None = None) -> dict[str, float]:
    """L2 norm of the loss gradient for each layer's weights on one batch (the exploding-gradients view).

    From inside `fit`, pass the model being fitted as `trainer`: under JAX it, not the layers' variables, holds the
    current weights until the epoch ends (see `explorer.backend.trainer_values`).
    """
    from explorer.backend import loss_gradients

    model = bundle.training_model
    inputs = bundle.model_inputs(batch.encoder_inputs, batch.decoder_inputs)
    loss_name, _ = _loss_for(bundle.config)
    loss_fn = keras.losses.get(loss_name)
    targets = _targets(bundle, batch)
    gradients = loss_gradients(model, loss_fn, inputs, targets, trainer=trainer)
    norms: dict[str, float] = {}
    for variable, gradient in zip(model.trainable_variables, gradients, strict=True):
        layer = variable.path.split("/")[0]
        norms[layer] = norms.get(layer, 0.0) + float(np.sum(np.square(np.asarray(gradient, np.float64))))
    return {layer: math.sqrt(total) for layer, total in norms.items()}


class _InEpochSnapshots(keras.callbacks.Callback):
    """Copies the weights after chosen optimisation steps (inside epoch 1): reads them, changes nothing."""

    def __init__(self, bundle: ModelBundle, trainer: keras.Model, state, at_steps: dict[int, float], taken):
        super().__init__()
        self.bundle, self.trainer, self.state = bundle, trainer, state
        self.at_steps, self.taken = at_steps, taken

    def on_train_batch_end(self, batch, logs=None):
        # Runs after _KerasProgress, which has counted this step already.
        step = self.state["step"]
        if step in self.at_steps and "diverged_at" not in self.state:
            from explorer.backend import trainer_values

            # Under JAX the fitted model, not the variables, holds the current values in the middle of an epoch.
            values = trainer_values(self.bundle.training_model.weights, trainer=self.trainer)
            self.taken.append(Snapshot(self.at_steps[step], step, [np.array(v) for v in values]))


class _KerasProgress(keras.callbacks.Callback):
    """Bridges Keras' batch hooks to our Progress reports, cancel requests and NaN detection."""

    def __init__(self, report, should_stop, state, measure_gradients=None):
        super().__init__()
        self.report, self.should_stop, self.state = report, should_stop, state
        self.measure_gradients = measure_gradients

    def on_train_batch_begin(self, batch, logs=None):
        # Measured before the update, on a fixed probe batch, so successive values are comparable.
        if self.measure_gradients is not None:
            self.measure_gradients(self.state["step"])

    def on_train_batch_end(self, batch, logs=None):
        self.state["step"] += 1
        loss = float((logs or {}).get("loss", float("nan")))
        self.state["loss"] = loss
        if not math.isfinite(loss):
            self.state["diverged_at"] = self.state["step"]
            self.model.stop_training = True
        elif self.should_stop():
            self.state["cancelled"] = True
            self.model.stop_training = True
        # Reporting every batch would flood a UI for big runs; every 10th plus the last is plenty.
        if self.state["step"] % 10 == 0:
            self.report(self.state)


def train(
    config: RunConfig,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    bundle: ModelBundle | None = None,
    snapshots: bool = False,
) -> TrainResult:
    """Train `config` from scratch (or continue `bundle`) and return the bundle with its history and metrics.

    `snapshots`: also keep the replay snapshots (`TrainResult.snapshots`; see the module docstring)."""
    started = time.perf_counter()
    progress = progress or (lambda report: None)
    should_stop = should_stop or (lambda: False)
    bundle = bundle or architectures.build(config)
    task = get_task(config.task.name)
    train_config = config.train
    loss, metrics = _loss_for(config)
    scheduled = train_config.teacher_forcing != "none" and bundle.scheduled_model is not None
    # Scheduled sampling trains through the unrolled decoder, which can feed the model's own predictions.
    fit_model = bundle.scheduled_model if scheduled else bundle.training_model
    heads = len(bundle.heads)
    fit_model.compile(optimizer=make_optimizer(config), loss=loss, metrics=[metrics] * heads if heads > 1 else metrics)

    steps_per_epoch = math.ceil(train_config.samples_per_epoch / train_config.batch_size)
    state: dict[str, Any] = {"step": 0, "loss": float("nan")}
    history: list[dict[str, Any]] = []
    norms_history: list[dict[str, float]] = []
    samples_seen = 0

    def report(current: dict[str, Any], epoch: int = 0, evaluation: dict[str, float] | None = None) -> None:
        progress(
            Progress(
                epoch=epoch,
                epochs=train_config.epochs,
                step=current["step"],
                steps=steps_per_epoch * train_config.epochs,
                loss=current["loss"],
                token_accuracy=(evaluation or {}).get("token_accuracy"),
                sequence_accuracy=(evaluation or {}).get("sequence_accuracy"),
                elapsed=time.perf_counter() - started,
            )
        )

    measure = None
    if train_config.record_gradients:
        probe_batch = task.make_batch(config.task, 64, np.random.default_rng([train_config.seed, 31337]))

        def measure(step: int) -> None:
            # Every step for short runs; about 60 points over a long one.
            every = max(1, steps_per_epoch * train_config.epochs // 60)
            if step % every == 0:
                norms = gradient_norms(bundle, probe_batch, trainer=fit_model)
                norms_history.append({"step": step, "epoch": len(history) + 1, **norms})

    callback = _KerasProgress(lambda current: report(current, len(history)), should_stop, state, measure)
    callbacks: list[keras.callbacks.Callback] = [callback]
    taken: list[Snapshot] = []
    if snapshots:
        taken.append(Snapshot(0.0, 0, [np.array(w) for w in bundle.training_model.get_weights()]))
        at_steps = {
            step: step / steps_per_epoch
            for step in (round(steps_per_epoch * fraction) for fraction in IN_EPOCH_FRACTIONS)
            if 0 < step < steps_per_epoch
        }
        callbacks.append(_InEpochSnapshots(bundle, fit_model, state, at_steps, taken))
    status, reason = "completed", ""
    for epoch in range(train_config.epochs):
        rng = np.random.default_rng([train_config.seed, config.task.seed, epoch])
        batch = task.make_batch(config.task, train_config.samples_per_epoch, rng)
        ratio = teacher_forcing_ratio(train_config.teacher_forcing, epoch, train_config.epochs)
        if scheduled:
            mask = (rng.random(batch.targets.shape) < ratio).astype(np.float32)
            inputs = [batch.encoder_inputs, batch.decoder_inputs, mask]
        else:
            inputs = bundle.model_inputs(batch.encoder_inputs, batch.decoder_inputs)
        fit = fit_model.fit(
            inputs,
            _targets(bundle, batch),
            batch_size=train_config.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        steps_this_epoch = state["step"] - epoch * steps_per_epoch
        samples_seen += min(train_config.samples_per_epoch, steps_this_epoch * train_config.batch_size)
        if "diverged_at" in state:
            status = "diverged"
            reason = (
                f"the loss became NaN or infinite at step {state['diverged_at']} (epoch {epoch + 1}): the weights "
                "blew up. Lower the learning rate, clip gradients (clipnorm / clipvalue) or use an LSTM/GRU cell."
            )
            history.append({"epoch": epoch + 1, "loss": float("nan"), "teacher_forcing_ratio": ratio})
            break
        evaluation = evaluate(bundle, train_config.eval_examples, seed=train_config.seed + epoch)
        entry = {
            "epoch": epoch + 1,
            "loss": float(fit.history["loss"][-1]) if fit.history.get("loss") else float("nan"),
            "teacher_forcing_ratio": ratio,
            "seconds": time.perf_counter() - started,
            **{k: v for k, v in evaluation.items() if k != "examples"},
        }
        if norms_history:
            last = {k: v for k, v in norms_history[-1].items() if k not in ("step", "epoch")}
            entry["gradient_norm"] = math.sqrt(sum(v * v for v in last.values()))
        history.append(entry)
        if snapshots and _is_snapshot_epoch(epoch + 1):
            # The history's own evaluation of these very weights: the replay and the learning curve agree.
            weights = [np.array(w) for w in bundle.training_model.get_weights()]
            taken.append(Snapshot(float(epoch + 1), state["step"], weights, evaluation, train_config.seed + epoch))
        report(state, epoch + 1, evaluation)
        if state.get("cancelled"):
            status, reason = "cancelled", f"cancelled after {epoch + 1} epoch(s)"
            break
        if evaluation["sequence_accuracy"] >= train_config.target_accuracy:
            status = "target reached"
            reason = f"reached {evaluation['sequence_accuracy']:.1%} exact-sequence accuracy after {epoch + 1} epoch(s)"
            break

    train_seconds = time.perf_counter() - started
    final = (
        evaluate(bundle, train_config.eval_examples, seed=train_config.seed + 10_007) if status != "diverged" else {}
    )
    metrics = {
        "sequence_accuracy": final.get("sequence_accuracy", float("nan")),
        "token_accuracy": final.get("token_accuracy", float("nan")),
        "eval_examples": train_config.eval_examples,
        "epochs_run": len(history),
        "status": status,
    }
    if "mse" in final:
        metrics["mse"] = final["mse"]
    kept: list[Snapshot] = []
    if snapshots and status != "diverged":
        first_accuracy = history[0].get("sequence_accuracy") if history else None
        kept = replay_points(taken, len(history), first_accuracy)
        _evaluate_snapshots(bundle, [s for s in kept if not s.evaluation], train_config)
    return TrainResult(bundle, history, metrics, status, reason, train_seconds, samples_seen, norms_history, kept)


def _evaluate_snapshots(bundle: ModelBundle, snapshots: list[Snapshot], train_config) -> None:
    """Evaluate the snapshots taken before or inside an epoch, after training (evaluating in the middle of `fit`
    would need the weights out of a JAX trainer's state twice over), each on the evaluation set of the epoch it
    falls in. The bundle's weights are swapped in and then put back exactly as they were."""
    if not snapshots:
        return
    final_weights = bundle.training_model.get_weights()
    try:
        for snapshot in snapshots:
            snapshot.eval_seed = train_config.seed + int(snapshot.epoch)
            bundle.training_model.set_weights(snapshot.weights)
            snapshot.evaluation = evaluate(bundle, train_config.eval_examples, seed=snapshot.eval_seed)
    finally:
        bundle.training_model.set_weights(final_weights)
