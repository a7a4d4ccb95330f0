"""The few things that differ between Keras backends, kept out of model code.

Model code uses `keras.ops` only. Taking gradients outside `fit` (for the per-layer gradient norms the
gradients page plots) has no backend-neutral Keras API, so it is dispatched here.
"""

from __future__ import annotations

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


def loss_gradients(model: keras.Model, loss_fn, inputs, targets) -> list[np.ndarray]:
    """Gradients of the mean loss on one batch, one array per `model.trainable_variables` entry."""
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

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

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
