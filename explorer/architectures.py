"""Model builders: a name-keyed registry of Keras 3 functional networks that all return one `ModelBundle`.

Four wiring patterns cover the six architectures:

- **stacked**: recurrent layers with `return_sequences=True` and a `TimeDistributed(Dense)` on top; one output per
  input step, so input and output lengths must match (`stacked-lstm`).
- **direct**: the encoder squeezes the input into its last hidden state, `RepeatVector` copies that vector once per
  output step and the decoder reads the copies (`repeat-vector`, `lstm-autoencoder`). The decoder never sees its
  own outputs, so free-running and teacher-forced decoding are the same computation.
- **recursive**: the decoder starts from the encoder's final states and reads the previous target token; during
  training the previous token is the true one (teacher forcing), at inference it is its own prediction. The
  bundle carries a separate inference encoder and a one-step decoder (`teacher-forcing`, `bahdanau`, `luong`).

Every layer is created once and then wired into several models (training, inference encoder, one-step decoder,
the unrolled decoder used for batched greedy decoding and scheduled sampling, and the probe), so all of them
share the same weights. Model code uses `keras.ops` only, so it runs on the TensorFlow and JAX backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import layers, ops

from explorer.tasks import get_task

if TYPE_CHECKING:
    from explorer.config import ModelConfig, RunConfig, TaskConfig

STATES_PER_CELL = {"lstm": 2, "gru": 1, "rnn": 1}
CELL_LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}
# Unrolling the recurrence into the graph is much faster on a CPU for the short sequences we teach with; above
# this length the symbolic loop is kept so graphs stay small.
UNROLL_UP_TO = 40


@keras.saving.register_keras_serializable(package="explorer")
class OneHot(layers.Layer):
    """(batch, time) integer tokens -> (batch, time, depth) one-hot floats, as the tutorials feed their LSTMs."""

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
    """Where a recurrent layer sits in the training graph, so the probe can replay it step by step."""

    layer: keras.layers.Layer
    role: str
    inputs: Any
    outputs: Any
    initial_state: list[Any] | None = None


@dataclass
class ModelBundle:
    """Everything the app and the CLI need from one trained network.

    - `training_model`: what `fit` trains. Inputs: `[encoder_inputs, decoder_inputs]` for the recursive pattern,
      `encoder_inputs` otherwise. Output: (batch, target_length, vocab) probabilities, or real values.
    - `encoder`: encoder_inputs -> [encoder_outputs (batch, input_length, units), *final states].
    - `decoder_step`: recursive pattern only: [token (batch, 1), *states, (encoder_outputs)] ->
      [probabilities (batch, 1, vocab), *new states, (attention (batch, 1, input_length))].
    - `unrolled`: recursive pattern only: [encoder_inputs, decoder_inputs, teacher_mask] -> a dict of per-step
      tokens, probabilities, top-layer states and attention; at step t the decoder reads the true previous token
      where teacher_mask[:, t] is 1 and its own previous prediction where it is 0.
    - `probe_model`: the training inputs -> every recurrent layer's input sequence, initial state and output.
    """

    config: RunConfig
    pattern: str
    training_model: keras.Model
    encoder: keras.Model
    decoder_step: keras.Model | None
    unrolled: keras.Model | None
    probe_model: keras.Model
    taps: list[Tap]
    has_attention: bool = False
    state_names: tuple[str, ...] = ("h", "c")
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_decoder_inputs(self) -> bool:
        return self.pattern == "recursive"

    @property
    def target_length(self) -> int:
        return get_task(self.config.task.name).target_length(self.config.task)

    def model_inputs(self, encoder_inputs: np.ndarray, decoder_inputs: np.ndarray | None = None) -> Any:
        """The training model's inputs for a batch (decoder_inputs are ignored by non-recursive models)."""
        if not self.uses_decoder_inputs:
            return encoder_inputs
        if decoder_inputs is None:
            raise ValueError("a teacher-forced decoder needs decoder_inputs (the targets shifted right)")
        return [encoder_inputs, decoder_inputs]


def _regularizer(config: RunConfig):
    l1, l2 = config.train.l1, config.train.l2
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def _recurrent_layer(model: ModelConfig, units: int, name: str, length: int, regularizer) -> layers.Layer:
    return CELL_LAYERS[model.cell](
        units,
        activation=model.activation,
        return_sequences=True,
        return_state=True,
        unroll=length <= UNROLL_UP_TO,
        kernel_regularizer=regularizer,
        recurrent_regularizer=regularizer,
        name=name,
    )


def _decoder_units(model: ModelConfig) -> int:
    return model.units * (2 if model.bidirectional else 1)


def _encode(config: RunConfig, encoder_inputs, taps: list[Tap]):
    """Run the encoder stack. Returns (top output sequence, [final states of each layer])."""
    task, model = config.task, config.model
    if get_task(task.name).values == "tokens":
        x = OneHot(task.vocab_size, name="encoder_one_hot")(encoder_inputs)
    else:
        x = encoder_inputs
    if model.reverse_source:
        x = ReverseTime(name="reverse_source")(x)
    regularizer = _regularizer(config)
    n_states = STATES_PER_CELL[model.cell]
    states_per_layer = []
    for index in range(model.layers):
        recurrent = _recurrent_layer(model, model.units, f"encoder_{index}", task.input_length, regularizer)
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


class Architecture:
    """Base class: subclasses name the pattern and implement `build`."""

    name: str
    pattern: str
    values = "tokens"
    description: str

    def validate(self, task: TaskConfig, model: ModelConfig) -> None:
        task_values = get_task(task.name).values
        if task_values != self.values:
            wanted = "token tasks (echo, reverse, ...)" if self.values == "tokens" else "the series task"
            raise ValueError(f"{self.name} works on {wanted}, not on {task.name}")

    def build(self, config: RunConfig) -> ModelBundle:
        raise NotImplementedError


class StackedLSTM(Architecture):
    name = "stacked-lstm"
    pattern = "stacked"
    description = "Recurrent layers that emit one output per input step through a TimeDistributed Dense."

    def validate(self, task: TaskConfig, model: ModelConfig) -> None:
        super().validate(task, model)
        if get_task(task.name).target_length(task) != task.input_length:
            raise ValueError(
                "stacked-lstm emits one output per input step, so the output must be as long as the input; "
                "use an encoder-decoder (repeat-vector, teacher-forcing, attention) for this task"
            )

    def build(self, config: RunConfig) -> ModelBundle:
        task = config.task
        taps: list[Tap] = []
        encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
        sequence, states = _encode(config, encoder_inputs, taps)
        output = layers.TimeDistributed(layers.Dense(task.vocab_size, activation="softmax"), name="output")
        probabilities = output(sequence)
        training = keras.Model(encoder_inputs, probabilities, name="stacked_lstm")
        encoder = keras.Model(encoder_inputs, [sequence, *states[-1]], name="encoder")
        return _finish(config, self.pattern, training, encoder, None, None, taps)


class RepeatVectorEncoderDecoder(Architecture):
    name = "repeat-vector"
    pattern = "direct"
    description = "Encoder's last hidden state, repeated once per output step by RepeatVector, read by a decoder."

    def build(self, config: RunConfig) -> ModelBundle:
        task = config.task
        taps: list[Tap] = []
        target_length = get_task(task.name).target_length(task)
        encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
        encoder_outputs, states = _encode(config, encoder_inputs, taps)
        sequence = _direct_decoder(config, states[-1][0], target_length, "decoder", taps)
        output = layers.TimeDistributed(layers.Dense(task.vocab_size, activation="softmax"), name="output")
        training = keras.Model(encoder_inputs, output(sequence), name="repeat_vector")
        encoder = keras.Model(encoder_inputs, [encoder_outputs, *states[-1]], name="encoder")
        return _finish(config, self.pattern, training, encoder, None, None, taps)


def _direct_decoder(config: RunConfig, vector, length: int, prefix: str, taps: list[Tap]):
    """RepeatVector the encoding `length` times and run the decoder stack over the copies."""
    model = config.model
    x = layers.RepeatVector(length, name=f"{prefix}_repeat")(vector)
    for index in range(model.layers):
        recurrent = _recurrent_layer(model, _decoder_units(model), f"{prefix}_{index}", length, _regularizer(config))
        inputs = x
        x = recurrent(inputs)[0]
        taps.append(Tap(recurrent, "decoder", inputs, x))
    return x


class LSTMAutoencoder(Architecture):
    name = "lstm-autoencoder"
    pattern = "direct"
    values = "real"
    description = (
        "Encode a real-valued series into one vector, then decode it to reconstruct the input, predict the next "
        "steps, or both (composite)."
    )

    def build(self, config: RunConfig) -> ModelBundle:
        task = config.task
        taps: list[Tap] = []
        encoder_inputs = keras.Input((task.input_length, 1), dtype="float32", name="encoder_inputs")
        encoder_outputs, states = _encode(config, encoder_inputs, taps)
        heads = ["reconstruct", "predict"] if task.series_mode == "composite" else [task.series_mode]
        outputs = []
        for head in heads:
            sequence = _direct_decoder(config, states[-1][0], task.input_length, f"decoder_{head}", taps)
            outputs.append(layers.TimeDistributed(layers.Dense(1), name=f"output_{head}")(sequence))
        training = keras.Model(encoder_inputs, outputs if len(outputs) > 1 else outputs[0], name="lstm_autoencoder")
        encoder = keras.Model(encoder_inputs, [encoder_outputs, *states[-1]], name="encoder")
        bundle = _finish(config, self.pattern, training, encoder, None, None, taps)
        bundle.extras["heads"] = heads
        return bundle


class TeacherForcing(Architecture):
    """The recursive encoder-decoder; subclasses add an attention read-out on top of the decoder."""

    name = "teacher-forcing"
    pattern = "recursive"
    description = (
        "Decoder starts from the encoder's final states and reads the previous target token (teacher forcing); "
        "at inference it reads its own previous prediction through a one-step decoder model."
    )
    attention: str | None = None

    def make_attention_layers(self, config: RunConfig) -> dict[str, layers.Layer]:
        return {}

    def attend(self, attention_layers, hidden, initial_hidden, encoder_outputs):
        """Return (context (batch, T_out, units), weights (batch, T_out, T_in)); overridden by attention models."""
        raise NotImplementedError

    def build(self, config: RunConfig) -> ModelBundle:
        task, model = config.task, config.model
        target_length = get_task(task.name).target_length(task)
        units = _decoder_units(model)
        regularizer = _regularizer(config)
        taps: list[Tap] = []

        encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
        encoder_outputs, encoder_states = _encode(config, encoder_inputs, taps)
        encoder = keras.Model(
            encoder_inputs, [encoder_outputs, *[s for layer in encoder_states for s in layer]], name="encoder"
        )

        # The decoder's layers are made once and wired three times below: over the whole target sequence
        # (training), over one step (inference) and unrolled step by step (batched greedy decoding).
        decoder_one_hot = OneHot(task.vocab_size, name="decoder_one_hot")
        decoder_layers = [
            _recurrent_layer(model, units, f"decoder_{i}", target_length, regularizer) for i in range(model.layers)
        ]
        attention_layers = self.make_attention_layers(config)
        output = layers.TimeDistributed(layers.Dense(task.vocab_size, activation="softmax"), name="output")
        n_states = STATES_PER_CELL[model.cell]

        def decode(tokens, states_per_layer, encoder_sequence, record_taps: list[Tap] | None = None):
            x = decoder_one_hot(tokens)
            new_states = []
            for recurrent, initial in zip(decoder_layers, states_per_layer, strict=True):
                inputs = x
                result = recurrent(inputs, initial_state=list(initial))
                x = result[0]
                new_states.append(list(result[1:]))
                if record_taps is not None:
                    record_taps.append(Tap(recurrent, "decoder", inputs, x, list(initial)))
            hidden = x
            weights = None
            if self.attention:
                context, weights = self.attend(attention_layers, hidden, states_per_layer[-1][0], encoder_sequence)
                x = attention_layers["combine"](layers.Concatenate()([hidden, context]))
            return output(x), new_states, hidden, weights

        # Training model: teacher forcing over the whole target sequence at once.
        decoder_inputs = keras.Input((target_length,), dtype="int32", name="decoder_inputs")
        probabilities, _, _, weights = decode(decoder_inputs, encoder_states, encoder_outputs, taps)
        training = keras.Model([encoder_inputs, decoder_inputs], probabilities, name=self.name.replace("-", "_"))

        # One-step decoder: the previous token and the states in, the next distribution and states out.
        token_input = keras.Input((1,), dtype="int32", name="token")
        state_inputs = [
            [keras.Input((units,), name=f"state_{name}_{i}") for name in ("h", "c")[:n_states]]
            for i in range(model.layers)
        ]
        step_inputs = [token_input, *[s for layer in state_inputs for s in layer]]
        if self.attention:
            memory_input = keras.Input((task.input_length, units), name="encoder_outputs")
            step_inputs.append(memory_input)
        else:
            memory_input = None
        step_probabilities, step_states, _, step_weights = decode(token_input, state_inputs, memory_input)
        step_outputs = [step_probabilities, *[s for layer in step_states for s in layer]]
        if self.attention:
            step_outputs.append(step_weights)
        decoder_step = keras.Model(step_inputs, step_outputs, name="decoder_step")

        unrolled, scheduled = _unrolled_decoder(
            task, target_length, encoder, decode, model.layers, n_states, self.attention
        )
        bundle = _finish(config, self.pattern, training, encoder, decoder_step, unrolled, taps, weights)
        bundle.extras["scheduled_model"] = scheduled
        bundle.has_attention = bool(self.attention)
        bundle.state_names = ("h", "c")[:n_states]
        return bundle


def _unrolled_decoder(task, target_length, encoder, decode, n_layers, n_states, attention):
    """A model that decodes `target_length` steps in one compiled call, choosing each step's input token."""
    encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
    decoder_inputs = keras.Input((target_length,), dtype="int32", name="decoder_inputs")
    teacher_mask = keras.Input((target_length,), dtype="float32", name="teacher_mask")
    encoded = encoder(encoder_inputs)
    encoder_outputs, flat_states = encoded[0], encoded[1:]
    states = [flat_states[i * n_states : (i + 1) * n_states] for i in range(n_layers)]
    tokens, probabilities, hidden, cells, weights, fed = [], [], [], [], [], []
    previous_prediction = None
    for step in range(target_length):
        true_token = decoder_inputs[:, step : step + 1]
        if previous_prediction is None:
            token = true_token  # the start token
        else:
            use_truth = ops.greater(teacher_mask[:, step : step + 1], 0.5)
            token = ops.where(use_truth, true_token, previous_prediction)
        step_probabilities, states, _, step_weights = decode(token, states, encoder_outputs)
        previous_prediction = ops.cast(ops.argmax(step_probabilities, axis=-1), "int32")
        fed.append(token)
        tokens.append(previous_prediction)
        probabilities.append(step_probabilities)
        hidden.append(ops.expand_dims(states[-1][0], 1))
        if n_states == 2:
            cells.append(ops.expand_dims(states[-1][1], 1))
        if attention:
            weights.append(step_weights)
    outputs = {
        "probabilities": ops.concatenate(probabilities, axis=1),
        "tokens": ops.concatenate(tokens, axis=1),
        "fed_tokens": ops.concatenate(fed, axis=1),
        "hidden": ops.concatenate(hidden, axis=1),
    }
    if cells:
        outputs["cell"] = ops.concatenate(cells, axis=1)
    if attention:
        outputs["attention"] = ops.concatenate(weights, axis=1)
    inputs = [encoder_inputs, decoder_inputs, teacher_mask]
    trainable = keras.Model(inputs, outputs["probabilities"], name="scheduled_sampling")
    return keras.Model(inputs, outputs, name="unrolled_decoder"), trainable


class Bahdanau(TeacherForcing):
    name = "bahdanau"
    attention = "additive"
    description = (
        "Teacher-forced encoder-decoder with additive (Bahdanau) attention: the decoder state before each step "
        "scores every encoder output through a small tanh network; the weighted context joins the decoder output."
    )

    def make_attention_layers(self, config: RunConfig) -> dict[str, layers.Layer]:
        units = _decoder_units(config.model)
        return {
            "query": layers.Dense(units, use_bias=False, name="attention_query"),
            "key": layers.Dense(units, use_bias=False, name="attention_key"),
            "score": layers.AdditiveAttention(name="attention"),
            "combine": layers.Dense(units, activation="tanh", name="attention_combine"),
        }

    def attend(self, attention_layers, hidden, initial_hidden, encoder_outputs):
        query = attention_layers["query"](PreviousState(name=None)([initial_hidden, hidden]))
        keys = attention_layers["key"](encoder_outputs)
        return attention_layers["score"]([query, encoder_outputs, keys], return_attention_scores=True)


class Luong(TeacherForcing):
    name = "luong"
    attention = "global"
    description = (
        "Teacher-forced encoder-decoder with Luong's global attention: the current decoder output scores every "
        "encoder output (dot, general or concat), and the context is combined with it before the softmax."
    )

    def validate(self, task: TaskConfig, model: ModelConfig) -> None:
        super().validate(task, model)
        if model.score == "additive":
            raise ValueError("luong scores with dot, general or concat; additive scoring is the bahdanau model")

    def make_attention_layers(self, config: RunConfig) -> dict[str, layers.Layer]:
        units = _decoder_units(config.model)
        score = config.model.score
        made = {
            "score": layers.Attention(score_mode="concat" if score == "concat" else "dot", name="attention"),
            "combine": layers.Dense(units, activation="tanh", name="attention_combine"),
        }
        if score == "general":
            made["general"] = layers.Dense(units, use_bias=False, name="attention_general")
        return made

    def attend(self, attention_layers, hidden, initial_hidden, encoder_outputs):
        query = attention_layers["general"](hidden) if "general" in attention_layers else hidden
        return attention_layers["score"]([query, encoder_outputs], return_attention_scores=True)


def _finish(config, pattern, training, encoder, decoder_step, unrolled, taps, attention=None) -> ModelBundle:
    """Build the probe model over the recorded taps and assemble the bundle."""
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
        decoder_step=decoder_step,
        unrolled=unrolled,
        probe_model=probe_model,
        taps=taps,
        state_names=("h", "c")[: STATES_PER_CELL[config.model.cell]],
    )


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (StackedLSTM(), RepeatVectorEncoderDecoder(), TeacherForcing(), Bahdanau(), Luong(), LSTMAutoencoder())
}


def build(config: RunConfig) -> ModelBundle:
    """Build the untrained bundle for a validated run configuration (weights seeded by the train seed)."""
    keras.utils.set_random_seed(config.train.seed)
    return ARCHITECTURES[config.model.arch].build(config)
