"""The vocabulary that configurations and registries share: enums and choice lists, with no Keras in sight.

`explorer.config` validates against these, and so do the task and architecture registries, so building any
configuration (`TaskConfig`, `ModelConfig`, `RunConfig`) imports NumPy at most, never Keras or TensorFlow. The
Keras-side machinery that wires layers into models lives in `explorer.networks`.
"""

from __future__ import annotations

from enum import StrEnum


class Pattern(StrEnum):
    """How an architecture wires its decoder to its encoder (see `explorer.architectures`).

    A `StrEnum`, so a pattern reads and serialises as its plain name ("recursive") in JSON, URLs and sidecars.
    """

    # One output per input step from the same recurrent stack: input and output lengths are tied.
    STACKED = "stacked"
    # The encoder's last hidden state is repeated once per output step; the decoder never reads its own outputs.
    DIRECT = "direct"
    # The decoder reads the previous token: the truth while training (teacher forcing), its own prediction at
    # inference, through a separate inference encoder and one-step decoder.
    RECURSIVE = "recursive"


class LengthRule(StrEnum):
    """How a task's output length relates to its input length (`TaskConfig.output_length`)."""

    # Output length always equals the input length; the output length is not a free choice.
    TIED = "tied"
    # The output reads a prefix of the input: 1 <= output_length <= input_length.
    PREFIX = "prefix"
    # Any output length, independent of the input's.
    FREE = "free"
    # Exactly one output symbol (many-to-one).
    SINGLE = "single"


PROBLEM_KINDS = ("prediction", "classification", "generation", "sequence-to-sequence")
VALUE_KINDS = ("tokens", "real")
CELL_TYPES = ("lstm", "gru", "rnn")
# How many state vectors each cell type carries from step to step: LSTM has h and c, the others only h.
STATES_PER_CELL = {"lstm": 2, "gru": 1, "rnn": 1}
ACTIVATIONS = ("tanh", "relu")
SCORE_FUNCTIONS = ("dot", "general", "concat", "additive")
SERIES_MODES = ("reconstruct", "predict", "composite")
SCHEDULES = ("none", "linear", "inverse-sigmoid", "exponential")
OPTIMIZERS = ("adam", "sgd")
