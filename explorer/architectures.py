"""The architecture registry: each entry's facts, and the builder that wires it into Keras models.

Three wiring patterns (`explorer.facts.Pattern`) cover the architectures:

- **stacked**: recurrent layers with `return_sequences=True` and a `TimeDistributed(Dense)` on top; one output per
  input step, so input and output lengths must match (`stacked-lstm`).
- **direct**: the encoder squeezes the input into its last hidden state, `RepeatVector` copies that vector once per
  output step and the decoder reads the copies (`repeat-vector`, `lstm-autoencoder`). The decoder never sees its
  own outputs, so free-running and teacher-forced decoding are the same computation.
- **recursive**: the decoder starts from the encoder's final states and reads the previous target token; during
  training the previous token is the true one (teacher forcing), at inference it is its own prediction. The
  bundle carries a separate inference encoder and a one-step decoder (`teacher-forcing` and the attention models).

An entry declares what the rest of the app needs to know (pattern, the values it reads, its default task, its
default model and training settings, the score functions a learner may choose, whether it attends), so pages,
the picker, presets and tests ask the registry and never name an architecture. This module is Keras-free at import
time, so configurations validate against it cheaply; `build` imports Keras (through `explorer.networks`) only when
a model is really made. Adding an architecture is one class here and one entry in `ARCHITECTURES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from explorer.facts import Pattern
from explorer.tasks import get_task

if TYPE_CHECKING:
    from explorer.config import ModelConfig, RunConfig, TaskConfig
    from explorer.networks import ModelBundle, Tap

__all__ = ["ARCHITECTURES", "Architecture", "Pattern", "build"]


class Architecture:
    """Base class: subclasses set the facts and implement `build`."""

    name: ClassVar[str]
    # A short human name for labels ("Bahdanau", "Luong").
    title: ClassVar[str]
    pattern: ClassVar[Pattern]
    values: ClassVar[str] = "tokens"  # the task values it reads: "tokens" or "real"
    description: ClassVar[str]
    # The task this architecture is shown with first.
    default_task: ClassVar[str]
    # ModelConfig / TrainConfig fields that differ from the dataclass defaults for this architecture.
    model_defaults: ClassVar[dict[str, Any]] = {"units": 64}
    train_defaults: ClassVar[dict[str, Any]] = {}
    # The attention mechanism ("additive", "global") or None, and the score functions a learner may choose
    # (`ModelConfig.score`); empty when the score is fixed by the mechanism or there is no attention.
    attention: ClassVar[str | None] = None
    scores: ClassVar[tuple[str, ...]] = ()

    @property
    def has_attention(self) -> bool:
        return self.attention is not None

    @property
    def uses_schedule(self) -> bool:
        """Scheduled sampling only means something where the decoder reads its previous token."""
        return self.pattern is Pattern.RECURSIVE

    def score_label(self, score: str) -> str:
        """How a score function of this architecture is named on the page: "general (Luong)"."""
        return f"{score if self.scores else self.attention} ({self.title})"

    def validate(self, task: TaskConfig, model: ModelConfig) -> None:
        """Raise ValueError when this architecture cannot learn `task` with `model`'s settings."""
        task_entry = get_task(task.name)
        if task_entry.values != self.values:
            wanted = "token tasks (symbols 1..n)" if self.values == "tokens" else "real-valued series tasks"
            raise ValueError(f"{self.name} works on {wanted}, not on {task.name}")
        if self.scores and model.score not in self.scores:
            elsewhere = [a.name for a in ARCHITECTURES.values() if model.score in (*a.scores, a.attention)]
            hint = f"; {model.score} scoring is the {' or '.join(elsewhere)} model" if elsewhere else ""
            raise ValueError(f"{self.name} scores with {', '.join(self.scores)}, not {model.score}{hint}")

    def build(self, config: RunConfig) -> ModelBundle:
        raise NotImplementedError


class StackedLSTM(Architecture):
    name = "stacked-lstm"
    title = "stacked LSTM"
    pattern = Pattern.STACKED
    default_task = "echo"
    description = "Recurrent layers that emit one output per input step through a TimeDistributed Dense."

    def validate(self, task: TaskConfig, model: ModelConfig) -> None:
        super().validate(task, model)
        if get_task(task.name).target_length(task) != task.input_length:
            raise ValueError(
                "stacked-lstm emits one output per input step, so the output must be as long as the input; "
                "use an encoder-decoder for this task"
            )

    def build(self, config: RunConfig) -> ModelBundle:
        import keras

        from explorer import networks

        taps: list[Tap] = []
        encoder_inputs = keras.Input((config.task.input_length,), dtype="int32", name="encoder_inputs")
        sequence, states = networks.encode(config, encoder_inputs, taps)
        probabilities = networks.output_layer(config.task)(sequence)
        training = keras.Model(encoder_inputs, probabilities, name="stacked_lstm")
        encoder = keras.Model(encoder_inputs, [sequence, *states[-1]], name="encoder")
        return networks.finish(config, self.pattern, training, encoder, taps)


class RepeatVectorEncoderDecoder(Architecture):
    name = "repeat-vector"
    title = "RepeatVector"
    pattern = Pattern.DIRECT
    default_task = "echo-partial"
    model_defaults: ClassVar[dict[str, Any]] = {"units": 128}
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 15, "target_accuracy": 0.99}
    description = "Encoder's last hidden state, repeated once per output step by RepeatVector, read by a decoder."

    def build(self, config: RunConfig) -> ModelBundle:
        import keras

        from explorer import networks

        task = config.task
        taps: list[Tap] = []
        target_length = get_task(task.name).target_length(task)
        encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
        encoder_outputs, states = networks.encode(config, encoder_inputs, taps)
        sequence = networks.direct_decoder(config, states[-1][0], target_length, "decoder", taps)
        training = keras.Model(encoder_inputs, networks.output_layer(task)(sequence), name="repeat_vector")
        encoder = keras.Model(encoder_inputs, [encoder_outputs, *states[-1]], name="encoder")
        return networks.finish(config, self.pattern, training, encoder, taps)


class LSTMAutoencoder(Architecture):
    name = "lstm-autoencoder"
    title = "LSTM autoencoder"
    pattern = Pattern.DIRECT
    values = "real"
    default_task = "series"
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 20, "learning_rate": 0.003, "target_accuracy": 0.95}
    description = (
        "Encode a real-valued series into one vector, then decode it to reconstruct the input, predict the next "
        "steps, or both (composite)."
    )

    def build(self, config: RunConfig) -> ModelBundle:
        import keras
        from keras import layers

        from explorer import networks

        task = config.task
        taps: list[Tap] = []
        encoder_inputs = keras.Input((task.input_length, 1), dtype="float32", name="encoder_inputs")
        encoder_outputs, states = networks.encode(config, encoder_inputs, taps)
        heads = ("reconstruct", "predict") if task.series_mode == "composite" else (task.series_mode,)
        outputs = []
        for head in heads:
            sequence = networks.direct_decoder(config, states[-1][0], task.input_length, f"decoder_{head}", taps)
            outputs.append(layers.TimeDistributed(layers.Dense(1), name=f"output_{head}")(sequence))
        training = keras.Model(encoder_inputs, outputs if len(outputs) > 1 else outputs[0], name="lstm_autoencoder")
        encoder = keras.Model(encoder_inputs, [encoder_outputs, *states[-1]], name="encoder")
        return networks.finish(config, self.pattern, training, encoder, taps, heads=heads)


class TeacherForcing(Architecture):
    """The recursive encoder-decoder; subclasses add an attention read-out on top of the decoder.

    The decoder's layers are made once (`make_decoder`) and wired three times by `decode`: over the whole target
    sequence (the training model), over one step (the inference decoder) and step by step (batched greedy
    decoding). A subclass changes what one decoder step computes by overriding `attend` or `decode`.
    """

    name = "teacher-forcing"
    title = "teacher forcing"
    pattern = Pattern.RECURSIVE
    default_task = "reverse"
    description = (
        "Decoder starts from the encoder's final states and reads the previous target token (teacher forcing); "
        "at inference it reads its own previous prediction through a one-step decoder model."
    )

    def feed_units(self, config: RunConfig) -> int:
        """Units of a vector fed from each decoder step to the next besides the recurrent states (0: none)."""
        return 0

    def make_attention_layers(self, config: RunConfig) -> dict[str, Any]:
        return {}

    def attend(self, parts: dict[str, Any], hidden, initial_hidden, encoder_outputs):
        """Return (context (B, T_out, U), weights (B, T_out, T_in)); overridden by attention models."""
        raise NotImplementedError

    def make_decoder(self, config: RunConfig) -> dict[str, Any]:
        """The decoder's layers, created once: one-hot input, recurrent stack, attention, output."""
        from explorer import networks

        task, model = config.task, config.model
        target_length = get_task(task.name).target_length(task)
        units = networks.decoder_units(model)
        weight_penalty = networks.regularizer(config)
        return {
            "one_hot": networks.OneHot(task.vocab_size, name="decoder_one_hot"),
            "recurrent": [
                networks.recurrent_layer(model, units, f"decoder_{i}", target_length, weight_penalty)
                for i in range(model.layers)
            ],
            "attention": self.make_attention_layers(config),
            "output": networks.output_layer(task),
        }

    def run_stack(self, parts, x, states_per_layer, record_taps: list[Tap] | None):
        """The recurrent stack over `x` (B, T, features) from `states_per_layer`: (top output, new states)."""
        from explorer.networks import Tap

        new_states = []
        for recurrent, initial in zip(parts["recurrent"], states_per_layer, strict=True):
            inputs = x
            result = recurrent(inputs, initial_state=list(initial))
            x = result[0]
            new_states.append(list(result[1:]))
            if record_taps is not None:
                record_taps.append(Tap(recurrent, "decoder", inputs, x, list(initial)))
        return x, new_states

    def decode(
        self, parts, tokens, states_per_layer, encoder_outputs, feed, record_taps: list[Tap] | None = None, steer=None
    ):
        """Decode the tokens (B, T) from the given states: see `networks.DecodeFunction`. `steer`, when given, is
        (weights (B, T, T_in), use (B, T)): where `use` is 1 the step reads with those attention weights instead of
        its own (`steer_attention`)."""
        from keras import layers

        hidden, new_states = self.run_stack(parts, parts["one_hot"](tokens), states_per_layer, record_taps)
        weights = None
        x = hidden
        if self.has_attention:
            context, weights = self.attend(parts["attention"], hidden, states_per_layer[-1][0], encoder_outputs)
            if steer is not None:
                context, weights = steer_attention(weights, encoder_outputs, *steer)
            x = parts["attention"]["combine"](layers.Concatenate()([hidden, context]))
        return parts["output"](x), new_states, None, weights

    def build(self, config: RunConfig) -> ModelBundle:
        import keras

        from explorer import networks
        from explorer.facts import STATES_PER_CELL

        task, model = config.task, config.model
        target_length = get_task(task.name).target_length(task)
        units = networks.decoder_units(model)
        n_states = STATES_PER_CELL[model.cell]
        feed_units = self.feed_units(config)
        taps: list[Tap] = []

        encoder_inputs = keras.Input((task.input_length,), dtype="int32", name="encoder_inputs")
        encoder_outputs, encoder_states = networks.encode(config, encoder_inputs, taps)
        encoder = keras.Model(
            encoder_inputs, [encoder_outputs, *[s for layer in encoder_states for s in layer]], name="encoder"
        )
        parts = self.make_decoder(config)

        def decode(tokens, states, memory, feed, record_taps=None, steer=None):
            return self.decode(parts, tokens, states, memory, feed, record_taps, steer)

        # Training model: teacher forcing over the whole target sequence.
        decoder_inputs = keras.Input((target_length,), dtype="int32", name="decoder_inputs")
        first_feed = networks.initial_feed(config, encoder_states, feed_units)
        probabilities, _, _, weights = decode(decoder_inputs, encoder_states, encoder_outputs, first_feed, taps)
        training = keras.Model([encoder_inputs, decoder_inputs], probabilities, name=self.name.replace("-", "_"))

        # One-step decoder: the previous token and the decoder states in, the next distribution and states out.
        token_input = keras.Input((1,), dtype="int32", name="token")
        state_inputs = [
            [keras.Input((units,), name=f"state_{name}_{i}") for name in ("h", "c")[:n_states]]
            for i in range(model.layers)
        ]
        feed_input = keras.Input((feed_units,), name="feed") if feed_units else None
        memory_input = keras.Input((task.input_length, units), name="encoder_outputs") if self.has_attention else None
        step_inputs = [token_input, *[s for layer in state_inputs for s in layer]]
        step_inputs += [extra for extra in (feed_input, memory_input) if extra is not None]
        step_probabilities, step_states, step_feed, step_weights = decode(
            token_input, state_inputs, memory_input, feed_input
        )
        step_outputs = [step_probabilities, *[s for layer in step_states for s in layer]]
        step_outputs += [extra for extra in (step_feed, step_weights) if extra is not None]
        decoder_step = keras.Model(step_inputs, step_outputs, name="decoder_step")
        steered_step = None
        if self.has_attention:
            # The same step with the attention weights given from outside where `use` is 1: what "force the
            # attention of an output step" runs (explorer.interventions).
            forced_weights = keras.Input((1, task.input_length), name="forced_attention")
            use = keras.Input((1,), name="use_forced_attention")
            steered = decode(token_input, state_inputs, memory_input, feed_input, steer=(forced_weights, use))
            steered_outputs = [steered[0], *[s for layer in steered[1] for s in layer]]
            steered_outputs += [extra for extra in (steered[2], steered[3]) if extra is not None]
            steered_step = keras.Model([*step_inputs, forced_weights, use], steered_outputs, name="steered_step")

        unrolled, scheduled = networks.unrolled_decoder(config, target_length, encoder, decode, feed_units)
        return networks.finish(
            config,
            self.pattern,
            training,
            encoder,
            taps,
            attention=weights,
            decoder_step=decoder_step,
            steered_step=steered_step,
            unrolled=unrolled,
            scheduled_model=scheduled,
            has_attention=self.has_attention,
            feed_units=feed_units,
        )


class Bahdanau(TeacherForcing):
    name = "bahdanau"
    title = "Bahdanau"
    attention = "additive"
    default_task = "copy-first-k"
    description = (
        "Teacher-forced encoder-decoder with additive (Bahdanau) attention: the decoder state before each step "
        "scores every encoder output through a small tanh network; the weighted context joins the decoder output."
    )

    def make_attention_layers(self, config: RunConfig) -> dict[str, Any]:
        from keras import layers

        from explorer.networks import decoder_units

        units = decoder_units(config.model)
        return {
            "query": layers.Dense(units, use_bias=False, name="attention_query"),
            "key": layers.Dense(units, use_bias=False, name="attention_key"),
            "score": layers.AdditiveAttention(name="attention"),
            "combine": layers.Dense(units, activation="tanh", name="attention_combine"),
        }

    def attend(self, parts, hidden, initial_hidden, encoder_outputs):
        from explorer.networks import PreviousState

        query = parts["query"](PreviousState(name=None)([initial_hidden, hidden]))
        keys = parts["key"](encoder_outputs)
        return parts["score"]([query, encoder_outputs, keys], return_attention_scores=True)


class Luong(TeacherForcing):
    name = "luong"
    title = "Luong"
    attention = "global"
    scores = ("dot", "general", "concat")
    default_task = "copy-first-k"
    model_defaults: ClassVar[dict[str, Any]] = {"units": 64, "score": "general"}
    description = (
        "Teacher-forced encoder-decoder with Luong's global attention: the current decoder output scores every "
        "encoder output (dot, general or concat), and the context is combined with it before the softmax."
    )

    def make_attention_layers(self, config: RunConfig) -> dict[str, Any]:
        from keras import layers

        from explorer.networks import decoder_units

        units = decoder_units(config.model)
        score = config.model.score
        made = {
            "score": layers.Attention(score_mode="concat" if score == "concat" else "dot", name="attention"),
            "combine": layers.Dense(units, activation="tanh", name="attention_combine"),
        }
        if score == "general":
            made["general"] = layers.Dense(units, use_bias=False, name="attention_general")
        return made

    def attend(self, parts, hidden, initial_hidden, encoder_outputs):
        query = parts["general"](hidden) if "general" in parts else hidden
        return parts["score"]([query, encoder_outputs], return_attention_scores=True)


class LuongInputFeeding(Luong):
    """Luong et al.'s input feeding: the attentional vector of step t-1 joins the decoder's input at step t.

    Plain global attention decides where to look afresh at every step; fed its previous attentional vector, the
    decoder knows what it has already read, which is what a task like sorting needs (each symbol once). The
    feed makes each step depend on the one before, so even teacher-forced training runs step by step.
    """

    name = "luong-input-feeding"
    title = "Luong, input feeding"
    default_task = "sort"
    description = (
        "Luong's global attention with input feeding: each decoder step also reads the previous step's attentional "
        "vector (the tanh mix of context and decoder output), so the decoder knows where it has already looked."
    )

    def feed_units(self, config: RunConfig) -> int:
        from explorer.networks import decoder_units

        return decoder_units(config.model)

    def decode(
        self, parts, tokens, states_per_layer, encoder_outputs, feed, record_taps: list[Tap] | None = None, steer=None
    ):
        from keras import layers, ops

        from explorer.networks import Tap

        one_hot = parts["one_hot"](tokens)  # (B, T, V)
        states = states_per_layer
        per_step: list[list[Tap]] = []
        probabilities, weights = [], []
        for step in range(tokens.shape[1]):
            x = layers.Concatenate()([one_hot[:, step : step + 1], ops.expand_dims(feed, 1)])  # (B, 1, V + U)
            step_taps: list[Tap] = []
            hidden, states = self.run_stack(parts, x, states, step_taps)
            context, step_weights = self.attend(parts["attention"], hidden, None, encoder_outputs)
            if steer is not None:
                forced, use = steer
                context, step_weights = steer_attention(
                    step_weights, encoder_outputs, forced[:, step : step + 1], use[:, step : step + 1]
                )
            attentional = parts["attention"]["combine"](layers.Concatenate()([hidden, context]))  # (B, 1, U)
            feed = attentional[:, 0]
            probabilities.append(parts["output"](attentional))
            weights.append(step_weights)
            per_step.append(step_taps)
        if record_taps is not None:
            # One tap per layer over the whole sequence: replaying the layer over the concatenated step inputs
            # from the first initial state is exactly the chain of one-step calls above.
            for index, first in enumerate(per_step[0]):
                inputs = ops.concatenate([taps[index].inputs for taps in per_step], axis=1)
                outputs = ops.concatenate([taps[index].outputs for taps in per_step], axis=1)
                record_taps.append(Tap(first.layer, "decoder", inputs, outputs, first.initial_state))
        return ops.concatenate(probabilities, axis=1), states, feed, ops.concatenate(weights, axis=1)


def steer_attention(weights, encoder_outputs, forced, use):
    """Attention weights (B, T, T_in) replaced by `forced` (B, T, T_in) where `use` (B, T) is 1, and the context
    they read: the weighted sum of the encoder outputs, as Keras' `Attention` and `AdditiveAttention` compute it
    (their value is the encoder outputs)."""
    from keras import ops

    use = ops.expand_dims(use, -1)
    weights = use * forced + (1.0 - use) * weights
    return ops.matmul(weights, encoder_outputs), weights


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        StackedLSTM(),
        RepeatVectorEncoderDecoder(),
        TeacherForcing(),
        Bahdanau(),
        Luong(),
        LuongInputFeeding(),
        LSTMAutoencoder(),
    )
}


def build(config: RunConfig) -> ModelBundle:
    """Build the untrained bundle for a validated run configuration (weights seeded by the train seed)."""
    import keras

    keras.utils.set_random_seed(config.train.seed)
    return ARCHITECTURES[config.model.arch].build(config)
