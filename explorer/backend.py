"""The few things that differ between Keras backends, kept out of model code.

Model code uses `keras.ops` only. Taking gradients outside the optimiser's step (for the per-layer gradient norms
the gradients page plots) has no backend-neutral Keras API, so it is dispatched here.

Under JAX, `fit` does not keep the weights in the model's variables. Keras' JAX trainer
(keras/src/backend/jax/trainer.py, `JAXTrainer.fit`) takes the values out of the variables before the first step
of an epoch (`_get_jax_state(..., purge_model_variables=True)` sets every variable's `_value` to None), threads
them through its compiled step function, and after each step keeps the newest values in `model._jax_state`, with
`model._jax_state_synced` False. They go back into the variables only at the end of the epoch or when something
calls `model.jax_state_sync()`. A callback that reads `v.value` in the middle of an epoch therefore reads a purged
variable, which Keras treats as uninitialised and tries to fill from its (already released) initializer: the
`'NoneType' object is not callable` error. `trainer_values` reads the trainer's current values instead.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def backend_name() -> str:
    return keras.backend.backend()


def device_name() -> str:
    """'gpu' when the active backend sees an accelerator, else 'cpu'."""
    backend = backend_name()
    try:
        if backend == "jax":
            import jax

            return "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"
        if backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
        if backend == "torch":
            import torch

            return "gpu" if torch.cuda.is_available() else "cpu"
    except Exception:  # a broken accelerator driver must not stop the app: report the CPU
        return "cpu"
    return "cpu"


def _total_loss(loss_fn, targets, predictions):
    if isinstance(predictions, (list, tuple)):
        return sum(keras.ops.mean(loss_fn(t, p)) for t, p in zip(targets, predictions, strict=True))
    return keras.ops.mean(loss_fn(targets, predictions))


def _jax_trainer_state(trainer: keras.Model | None) -> dict[int, Any]:
    """The values a JAX trainer holds in the middle of `fit`, by `id` of the variable they belong to.

    Empty when no training step has run since the variables were last written (before the first step of an epoch,
    after `fit`, or outside it), because then the variables themselves hold the current values. The lists in
    `_jax_state` follow the order of `trainer.trainable_variables` and `trainer.non_trainable_variables`, the same
    order `JAXTrainer.jax_state_sync` relies on when it writes them back. Both attributes are Keras' private ones
    (keras 3.15): tests/test_backends.py compares the norms read this way with TensorFlow's, so an upgrade that
    renames them fails there rather than in a student's run.
    """
    state = getattr(trainer, "_jax_state", None) if trainer is not None else None
    if not state or getattr(trainer, "_jax_state_synced", True):
        return {}
    values: dict[int, Any] = {}
    for key, variables in (
        ("trainable_variables", trainer.trainable_variables),
        ("non_trainable_variables", trainer.non_trainable_variables),
    ):
        held = state.get(key)
        if held:
            values.update({id(variable): value for variable, value in zip(variables, held, strict=True)})
    return values


def trainer_values(variables: list[keras.Variable], trainer: keras.Model | None = None) -> list[Any]:
    """The current value of each variable, read from `trainer`'s state while a JAX `fit` holds it.

    `trainer` is the model being fitted, which may be a larger model that shares these variables (the scheduled
    sampling model shares the training model's layers). We read the trainer's state rather than call
    `trainer.jax_state_sync()`: a sync writes every weight, optimizer slot and metric back into the variables and
    makes the next step take them out again, work a measurement has no need to cause. On other backends, and under
    JAX outside `fit`, the variables hold their values and this is `[v.value for v in variables]`.
    """
    held = _jax_trainer_state(trainer) if backend_name() == "jax" else {}
    # Not `held.get(id(variable), variable.value)`: that reads `variable.value` first, purged or not.
    return [held[id(variable)] if id(variable) in held else variable.value for variable in variables]  # noqa: SIM401


def loss_gradients(
    model: keras.Model, loss_fn, inputs, targets, trainer: keras.Model | None = None
) -> list[np.ndarray]:
    """Gradients of the mean loss on one batch, one array per `model.trainable_variables` entry.

    Pass the model being fitted as `trainer` when calling from a `fit` callback: under JAX the current weights
    then come from the trainer's state (see `trainer_values`), so the gradients are those of the weights the
    next step will update, as they are under TensorFlow.
    """
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = _total_loss(loss_fn, targets, model(inputs, training=True))
        return [
            np.asarray(g) if g is not None else np.zeros(v.shape)
            for g, v in zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True)
        ]
    if backend == "jax":
        import jax

        trainable = trainer_values(model.trainable_variables, trainer)
        frozen = trainer_values(model.non_trainable_variables, trainer)

        def compute(values):
            predictions, _ = model.stateless_call(values, frozen, inputs, training=True)
            return _total_loss(loss_fn, targets, predictions)

        return [np.asarray(g) for g in jax.grad(compute)(trainable)]
    if backend == "torch":
        model.zero_grad()
        loss = _total_loss(loss_fn, targets, model(inputs, training=True))
        loss.backward()
        return [v.value.grad.detach().cpu().numpy() for v in model.trainable_variables]
    raise ValueError(f"gradient norms are not supported on the {backend} backend")


def _single(values: list):
    """A one-input model is called with the tensor itself, not a one-element list."""
    return values[0] if len(values) == 1 else values


def input_gradients(model: keras.Model, loss_fn, inputs: list[np.ndarray], targets) -> list[np.ndarray]:
    """Gradients of the mean loss with respect to the model's (float) inputs, one array per input."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            for tensor in tensors:
                tape.watch(tensor)
            loss = _total_loss(loss_fn, targets, model(_single(tensors), training=False))
        return [np.asarray(g) for g in tape.gradient(loss, tensors)]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def compute(values):
            predictions, _ = model.stateless_call(trainable, frozen, _single(values), training=False)
            return _total_loss(loss_fn, targets, predictions)

        return [np.asarray(g) for g in jax.grad(compute)(list(inputs))]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
        _total_loss(loss_fn, targets, model(_single(tensors), training=False)).backward()
        return [t.grad.detach().cpu().numpy() for t in tensors]
    raise ValueError(f"input gradients are not supported on the {backend} backend")
