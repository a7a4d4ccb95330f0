"""The Keras side of the architectures: shared layers, the encoder stack, decoders, and the `ModelBundle`.

`explorer.architectures` holds the registry (each entry's facts and its `build`); the builders call into this
module, which is the only place besides them that touches Keras layers. Every layer is created once and then wired
into several models (training, inference encoder, one-step decoder, the unrolled decoder used for batched greedy
decoding and scheduled sampling, and the probe), so all of them share the same weights. Model code uses
`keras.ops` only, so it runs on the TensorFlow and JAX backends.

Shapes: B = batch, T_in = input length, T_out = target length, U = decoder units, V = vocabulary size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import layers, ops

from explorer.facts import STATES_PER_CELL, Pattern
from explorer.tasks import get_task

if TYPE_CHECKING:
    from explorer.config import ModelConfig, RunConfig, TaskConfig

CELL_LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}
# Unrolling the recurrence into the graph is much faster on a CPU for the short sequences we teach with; above
# this length the symbolic loop is kept so graphs stay small.
UNROLL_UP_TO = 40


@keras.saving.register_keras_serializable(package="explorer")
class OneHot(layers.Layer):
    """(B, time) integer tokens -> (B, time, depth) one-hot floats, as the tutorials feed their LSTMs."""

    def __init__(self, depth: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, tokens):
        return ops.one_hot(ops.cast(tokens, "int32"), self.depth)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "depth": self.depth}


@keras.saving.register_keras_serializable(package="explorer")
class ReverseTime(layers.Layer):
    """Reverse the time axis: Sutskever et al.'s trick of feeding the source backwards."""

    def call(self, sequence):
        return ops.flip(sequence, axis=1)


@keras.saving.register_keras_serializable(package="explorer")
class PreviousState(layers.Layer):
    """Bahdanau's query for output step t is the decoder state *before* step t: [h_0, h_1, ..., h_{T-1}]."""

    def call(self, inputs):
        initial_hidden, hidden_sequence = inputs
        return ops.concatenate([ops.expand_dims(initial_hidden, 1), hidden_sequence[:, :-1]], axis=1)

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


@dataclass
class Tap:
    """Where a recurrent layer sits in the training graph, so the probe can replay it step by step.

    `inputs` (B, time, features) and `outputs` (B, time, units) cover the whole sequence the layer read, even
    when the builder called it one step at a time (the replay from `initial_state` is the same computation).
    """

    layer: keras.layers.Layer
    role: str
    inputs: Any
    outputs: Any
    initial_state: list[Any] | None = None


@dataclass
class ModelBundle:
    """Everything the app and the CLI need from one trained network.

    - `training_model`: what `fit` trains. Inputs: `[encoder_inputs, decoder_inputs]` for the recursive pattern,
      `encoder_inputs` otherwise. Output: (B, T_out, V) probabilities, or real values (one output per head).
    - `encoder`: encoder_inputs -> [encoder_outputs (B, T_in, units), *final states of every layer, flat].
    - `decoder_step`: recursive pattern only: [token (B, 1), *decoder states, (encoder_outputs)] ->
      [probabilities (B, 1, V), *new decoder states, (attention (B, 1, T_in))]. The decoder states are
      `initial_decoder_states(encoder outputs)`: the encoder's final states, plus the fed vector of input feeding.
    - `steered_step`: attention models only: `decoder_step` with two more inputs, forced attention weights
      (B, 1, T_in) and a flag (B, 1); where the flag is 1 the step reads with the forced weights (interventions).
    - `unrolled`: recursive pattern only: [encoder_inputs, decoder_inputs, teacher_mask] -> a dict of per-step
      tokens, probabilities, top-layer states and attention; at step t the decoder reads the true previous token
      where teacher_mask[:, t] is 1 and its own previous prediction where it is 0.
    - `scheduled_model`: recursive pattern only: `unrolled`'s probabilities as a trainable model (scheduled
      sampling trains through it).
    - `probe_model`: the training inputs -> every recurrent layer's input sequence, initial state and output.
    - `heads`: the names of the training model's outputs when it has named heads (the autoencoder's
      "reconstruct" / "predict"); empty for single-output token models.
    - `feed_units`: the size of a vector passed from one decoder step to the next besides the recurrent states
      (Luong's input feeding); 0 when there is none.
    """

    config: RunConfig
    pattern: Pattern
    training_model: keras.Model
    encoder: keras.Model
    decoder_step: keras.Model | None
    unrolled: keras.Model | None
    probe_model: keras.Model
    taps: list[Tap]
    has_attention: bool = False
    state_names: tuple[str, ...] = ("h", "c")
    heads: tuple[str, ...] = ()
    scheduled_model: keras.Model | None = None
    feed_units: int = 0
    steered_step: keras.Model | None = None

    @property
    def uses_decoder_inputs(self) -> bool:
        return self.pattern is Pattern.RECURSIVE

    @property
    def target_length(self) -> int:
        return get_task(self.config.task.name).target_length(self.config.task)

    @property
    def has_several_heads(self) -> bool:
        return len(self.heads) > 1

    def model_inputs(self, encoder_inputs: np.ndarray, decoder_inputs: np.ndarray | None = None) -> Any:
        """The training model's inputs for a batch (decoder_inputs are ignored by non-recursive models)."""
        if not self.uses_decoder_inputs:
            return encoder_inputs
        if decoder_inputs is None:
            raise ValueError("a teacher-forced decoder needs decoder_inputs (the targets shifted right)")
        return [encoder_inputs, decoder_inputs]

    def model_targets(self, targets: np.ndarray, extra_targets: np.ndarray | None = None) -> Any:
        """What `fit` and the losses compare the outputs with: one array, or one per head."""
        if not self.has_several_heads:
            return targets
        return [targets, targets if extra_targets is None else extra_targets]

    def initial_decoder_states(self, encoded: list) -> list[np.ndarray]:
        """The one-step decoder's first states from the inference encoder's outputs `[memory, *states]`."""
        states = [np.asarray(state) for state in encoded[1:]]
        if self.feed_units:
            states.append(np.zeros((len(states[0]), self.feed_units), np.float32))
        return states

    def final_encoder_state(self, encoded: list, name: str = "h") -> np.ndarray:
        """The top encoder layer's final `name` state ("h" or "c") from the inference encoder's outputs."""
        # The encoder returns [memory, *states]: every layer's states for recursive decoders (they start from
        # them), only the top layer's for the others.
        top = encoded[1:][-len(self.state_names) :]
        return np.asarray(top[self.state_names.index(name)])


def regularizer(config: RunConfig):
    l1, l2 = config.train.l1, config.train.l2
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def recurrent_layer(model: ModelConfig, units: int, name: str, length: int, weight_penalty) -> layers.Layer:
    return CELL_LAYERS[model.cell](
        units,
        activation=model.activation,
        return_sequences=True,
        return_state=True,
        unroll=length <= UNROLL_UP_TO,
        kernel_regularizer=weight_penalty,
        recurrent_regularizer=weight_penalty,
        name=name,
    )


def decoder_units(model: ModelConfig) -> int:
    """A bidirectional encoder hands the decoder forward and backward states side by side: twice the units."""
    return model.units * (2 if model.bidirectional else 1)


def output_layer(task: TaskConfig) -> layers.Layer:
    return layers.TimeDistributed(layers.Dense(task.vocab_size, activation="softmax"), name="output")


def encode(config: RunConfig, encoder_inputs, taps: list[Tap]):
    """Run the encoder stack. Returns (top output sequence (B, T_in, U), [final states of each layer])."""
    task, model = config.task, config.model
    if get_task(task.name).values == "tokens":
        x = OneHot(task.vocab_size, name="encoder_one_hot")(encoder_inputs)
    else:
        x = encoder_inputs
    if model.reverse_source:
        x = ReverseTime(name="reverse_source")(x)
    weight_penalty = regularizer(config)
    n_states = STATES_PER_CELL[model.cell]
    states_per_layer = []
    for index in range(model.layers):
        recurrent = recurrent_layer(model, model.units, f"encoder_{index}", task.input_length, weight_penalty)
        if model.bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"encoder_{index}")
        inputs = x
        result = recurrent(inputs)
        x = result[0]
        if model.bidirectional:
            forward, backward = result[1 : 1 + n_states], result[1 + n_states :]
            states = [layers.Concatenate()([f, b]) for f, b in zip(forward, backward, strict=True)]
        else:
            states = list(result[1:])
        taps.append(Tap(recurrent, "encoder", inputs, x))
        states_per_layer.append(states)
    return x, states_per_layer


def direct_decoder(config: RunConfig, vector, length: int, prefix: str, taps: list[Tap]):
    """RepeatVector the encoding (B, U) `length` times and run the decoder stack over the copies."""
    model = config.model
    x = layers.RepeatVector(length, name=f"{prefix}_repeat")(vector)
    for index in range(model.layers):
        recurrent = recurrent_layer(model, decoder_units(model), f"{prefix}_{index}", length, regularizer(config))
        inputs = x
        x = recurrent(inputs)[0]
        taps.append(Tap(recurrent, "decoder", inputs, x))
    return x


# decode(tokens (B, T), states per layer, memory (B, T_in, U) or None, fed vector (B, U) or None, taps or None)
#   -> (probabilities (B, T, V), new states per layer, new fed vector or None, attention (B, T, T_in) or None)
DecodeFunction = Callable[..., tuple[Any, list[list[Any]], Any, Any]]


def initial_feed(config: RunConfig, states_per_layer, feed_units: int):
    """Input feeding starts from a zero vector (B, U); None for decoders without it."""
    return ops.zeros_like(states_per_layer[-1][0]) if feed_units else None


def unrolled_decoder(config: RunConfig, target_length: int, encoder, decode: DecodeFunction, feed_units: int):
    """A model that decodes `target_length` steps in one compiled call, choosing each step's input token.

    Returns (the unrolled model with a dict of outputs, the same probabilities as a trainable model).
    """
    task, model = config.task, config.model
    n_layers, n_states = model.layers, STATES_PER_CELL[model.cell]
    encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
    decoder_inputs = keras.Input((target_length,), dtype="int32", name="decoder_inputs")
    teacher_mask = keras.Input((target_length,), dtype="float32", name="teacher_mask")
    encoded = encoder(encoder_inputs)
    encoder_outputs, flat_states = encoded[0], encoded[1:]
    states = [flat_states[i * n_states : (i + 1) * n_states] for i in range(n_layers)]
    feed = initial_feed(config, states, feed_units)
    tokens, probabilities, hidden, cells, weights, fed = [], [], [], [], [], []
    previous_prediction = None
    for step in range(target_length):
        true_token = decoder_inputs[:, step : step + 1]
        if previous_prediction is None:
            token = true_token  # the start token
        else:
            use_truth = ops.greater(teacher_mask[:, step : step + 1], 0.5)
            token = ops.where(use_truth, true_token, previous_prediction)
        step_probabilities, states, feed, step_weights = decode(token, states, encoder_outputs, feed)
        previous_prediction = ops.cast(ops.argmax(step_probabilities, axis=-1), "int32")
        fed.append(token)
        tokens.append(previous_prediction)
        probabilities.append(step_probabilities)
        hidden.append(ops.expand_dims(states[-1][0], 1))
        if n_states == 2:
            cells.append(ops.expand_dims(states[-1][1], 1))
        if step_weights is not None:
            weights.append(step_weights)
    outputs = {
        "probabilities": ops.concatenate(probabilities, axis=1),
        "tokens": ops.concatenate(tokens, axis=1),
        "fed_tokens": ops.concatenate(fed, axis=1),
        "hidden": ops.concatenate(hidden, axis=1),
    }
    if cells:
        outputs["cell"] = ops.concatenate(cells, axis=1)
    if weights:
        outputs["attention"] = ops.concatenate(weights, axis=1)
    inputs = [encoder_inputs, decoder_inputs, teacher_mask]
    trainable = keras.Model(inputs, outputs["probabilities"], name="scheduled_sampling")
    return keras.Model(inputs, outputs, name="unrolled_decoder"), trainable


def finish(config: RunConfig, pattern: Pattern, training, encoder, taps: list[Tap], **typed: Any) -> ModelBundle:
    """Build the probe model over the recorded taps and assemble the bundle.

    `typed` fills the bundle's optional fields (decoder_step, unrolled, scheduled_model, heads, has_attention,
    feed_units); `attention` (B, T_out, T_in), when given, becomes one of the probe's outputs.
    """
    attention = typed.pop("attention", None)
    outputs: dict[str, Any] = {}
    for index, tap in enumerate(taps):
        outputs[f"{index}_inputs"] = tap.inputs
        outputs[f"{index}_outputs"] = tap.outputs
        for j, state in enumerate(tap.initial_state or []):
            outputs[f"{index}_initial_{j}"] = state
    if attention is not None:
        outputs["attention"] = attention
    probe_model = keras.Model(training.inputs, outputs, name="probe")
    return ModelBundle(
        config=config,
        pattern=pattern,
        training_model=training,
        encoder=encoder,
        decoder_step=typed.pop("decoder_step", None),
        unrolled=typed.pop("unrolled", None),
        probe_model=probe_model,
        taps=taps,
        state_names=("h", "c")[: STATES_PER_CELL[config.model.cell]],
        **typed,
    )
