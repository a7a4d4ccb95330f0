"""Sequence tasks: a name-keyed registry of data generators that share one signature.

Every token task works on integer sequences whose symbols are 1..cardinality; 0 is reserved as the padding
symbol and as the decoder's start token. A task produces a `Batch`:

- `encoder_inputs`  (batch, input_length) int32: what the encoder reads;
- `decoder_inputs`  (batch, target_length) int32: the targets shifted right behind the start token 0, which is
  what a teacher-forced decoder reads while training;
- `targets`         (batch, target_length) int32: what the model must output.

The series task produces float32 arrays of shape (batch, time, 1) instead.

Each entry carries its own facts, so nothing else in the app names a task: its problem kind, its length rule
(`LengthRule`), its default architecture and parameters, its ideal alignment (which input step each output step
should read, given the input), the tutorials' published accuracies for it, and example parameter sets that the
tests run. Adding a task is one class here and one entry in `TASKS`; the picker, the pages, the CLI and the tests
discover it from the registry. This module imports NumPy only, never Keras.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from explorer.facts import PROBLEM_KINDS, LengthRule

if TYPE_CHECKING:
    from explorer.config import TaskConfig

__all__ = [
    "DEFAULT_TASK",
    "PAD_MARK",
    "PROBLEM_KINDS",
    "TASKS",
    "Batch",
    "LengthRule",
    "Published",
    "Task",
    "get_task",
    "make_batch",
]

# How the padding / start symbol 0 is drawn for a task whose symbols are characters.
PAD_MARK = "·"

# The attention tutorial's training budget: one epoch over 5,000 examples, batches of 4.
_ATTENTION_TUTORIAL_BUDGET = {"epochs": 1, "samples_per_epoch": 5000, "batch_size": 4, "learning_rate": 0.005}

# Parameter sets the tests run every task on, adapted to each task's length rule (`Task.examples`).
_EXAMPLE_SIZES = ((4, 4, 3), (9, 2, 20), (12, 12, 200), (1, 1, 2))


@dataclass(frozen=True)
class Published:
    """A tutorial's published exact-sequence accuracy for a task and architecture, and how it was obtained.

    `settings` are the tutorial's own training settings where they differ from our defaults (its budget), so
    `reproduce` and the Train page compare like with like; `runs` is how many runs its figure averages.
    """

    accuracy: float
    settings: dict[str, Any] = field(default_factory=dict)
    runs: int = 1


@dataclass(frozen=True)
class Batch:
    encoder_inputs: np.ndarray
    decoder_inputs: np.ndarray
    targets: np.ndarray
    # The series task in composite mode has a second target (the prediction) beside the reconstruction.
    extra_targets: np.ndarray | None = None
    # What generated each example (e.g. a sine's frequency), for colouring embeddings. None for token tasks.
    properties: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.encoder_inputs)


def shift_right(targets: np.ndarray, start_token: int = 0) -> np.ndarray:
    """Teacher-forcing inputs: (batch, time) -> the same shape, with `start_token` first and the last step dropped."""
    shifted = np.empty_like(targets)
    shifted[:, 0] = start_token
    shifted[:, 1:] = targets[:, :-1]
    return shifted


class Task:
    """Base class. Subclasses set the class attributes (the entry's facts) and implement `targets_for`."""

    name: ClassVar[str]
    kind: ClassVar[str]  # one of PROBLEM_KINDS
    values: ClassVar[str] = "tokens"  # "tokens" or "real"
    description: ClassVar[str]
    length_rule: ClassVar[LengthRule]
    # The architecture this task is shown with first (it must accept the task's default parameters).
    default_arch: ClassVar[str]
    defaults: ClassVar[dict[str, int | str]] = {}
    # The tutorials' published exact-sequence accuracy on this task, by architecture.
    published: ClassVar[dict[str, Published]] = {}
    # Parameter changes on top of `defaults` that the pages show and `pretrain` ships (e.g. each series mode).
    variants: ClassVar[tuple[dict[str, int | str], ...]] = ()
    # The variant (one of `variants`) that makes the task an example of its `kind` when its defaults do not, e.g.
    # a series whose default mode reconstructs but whose prediction mode is the prediction problem. {} = defaults.
    kind_variant: ClassVar[dict[str, int | str]] = {}

    # How the task's symbols read. None: as numbers (token t is written "t", typed as "3, 14, 15"). A string: the
    # task's alphabet, one character per symbol: token t (1-based) is alphabet[t - 1], the input is typed as text
    # and padded with the padding symbol 0 up to the input length.
    alphabet: ClassVar[str | None] = None
    # TrainConfig fields this task needs beyond its architecture's defaults (a harder task, a longer budget).
    train_defaults: ClassVar[dict[str, Any]] = {}
    # The architectures `pretrain` ships this task with; None: every compatible one. The rest train on demand.
    shipped_archs: ClassVar[tuple[str, ...] | None] = None
    # Task parameters the task itself fixes (a character task's cardinality is its alphabet's size): the picker
    # does not offer them and a link cannot change them.
    fixed_params: ClassVar[tuple[str, ...]] = ()

    def symbol(self, token: int) -> str:
        """How one token is written on the page: its number, or its character for a task with an alphabet (the
        padding / start symbol 0 shows as `PAD_MARK`)."""
        token = int(token)
        if self.alphabet is None:
            return str(token)
        return self.alphabet[token - 1] if 1 <= token <= len(self.alphabet) else PAD_MARK

    def symbols(self, tokens) -> list[str]:
        """`symbol` of every token of a 1-D sequence."""
        return [self.symbol(token) for token in np.asarray(tokens).reshape(-1)]

    def input_hint(self, config: TaskConfig) -> str:
        """What the input box asks for, in a few words."""
        if self.alphabet is not None:
            return f"up to {config.input_length} characters"
        hint = f"{config.input_length} values separated by commas or spaces"
        return hint + (f", each from 1 to {config.cardinality}" if self.values == "tokens" else "")

    def format_sequence(self, config: TaskConfig, sequence: np.ndarray) -> str:
        """A sequence as a student would type it (what `parse_sequence` reads back): whole numbers for tokens, two
        decimals for a series, the text itself (padding dropped) for a task with an alphabet."""
        values = np.asarray(sequence)
        if values.ndim == 2:  # series: (time, 1)
            values = values[:, 0]
        if self.alphabet is not None:
            return "".join(self.symbol(v) for v in values if int(v) != 0)
        if self.values == "tokens":
            return ", ".join(str(int(v)) for v in values)
        return ", ".join(f"{v:.2f}" for v in values)

    def parse_sequence(self, config: TaskConfig, text: str) -> np.ndarray:
        """Parse what a student typed into a validated 1-D array, or raise ValueError in words they understand.

        Nothing is evaluated: numbers are split on commas and white space and each piece must read as a number;
        a task with an alphabet reads the text character by character.
        """
        if not isinstance(text, str):
            raise ValueError("type the sequence as numbers separated by commas or spaces")
        if self.alphabet is not None:
            return self._parse_text(config, text)
        pieces = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
        if not pieces:
            raise ValueError("type at least one number")
        if len(pieces) > 1000:
            raise ValueError("that sequence is far too long")
        values: list[float] = []
        for piece in pieces:
            try:
                number = float(piece) if self.values == "real" else int(piece)
            except ValueError:
                kind = "number" if self.values == "real" else "whole number"
                raise ValueError(f"{piece[:20]!r} is not a {kind}") from None
            values.append(number)
        self.check_input(config, values)
        dtype = np.float32 if self.values == "real" else np.int32
        return np.asarray(values, dtype=dtype)

    def parse_symbols(self, config: TaskConfig, text: str, limit: int) -> np.ndarray:
        """A few symbols as typed (numbers, or characters for a task with an alphabet), at most `limit` of them,
        each from 0 to the cardinality: what a learner types to force a decoder's first outputs."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("type at least one symbol")
        if self.alphabet is not None:
            pieces = list(text.strip().lower() if self.alphabet == self.alphabet.lower() else text.strip())
            unknown = sorted({ch for ch in pieces if ch not in self.alphabet})
            if unknown:
                raise ValueError(f"not in the model's alphabet: {' '.join(repr(ch) for ch in unknown[:8])}")
            tokens = [self.alphabet.index(ch) + 1 for ch in pieces]
        else:
            pieces = [p for p in text.replace(",", " ").split() if p]
            try:
                tokens = [int(piece) for piece in pieces]
            except ValueError:
                raise ValueError("type whole numbers separated by commas or spaces") from None
        if len(tokens) > limit:
            raise ValueError(f"at most {limit} symbols; you gave {len(tokens)}")
        bad = [t for t in tokens if not 0 <= t <= config.cardinality]
        if bad:
            raise ValueError(f"every symbol must be from 0 to {config.cardinality}; out of range: {bad[0]}")
        return np.asarray(tokens, np.int32)

    def _parse_text(self, config: TaskConfig, text: str) -> np.ndarray:
        alphabet = self.alphabet or ""
        text = " ".join(text.split()).lower() if alphabet == alphabet.lower() else " ".join(text.split())
        if not text:
            raise ValueError("type some text")
        if len(text) > config.input_length:
            raise ValueError(f"this model reads at most {config.input_length} characters; you gave {len(text)}")
        unknown = sorted({ch for ch in text if ch not in alphabet})
        if unknown:
            shown = " ".join(repr(ch) for ch in unknown[:8])
            raise ValueError(f"these characters are not in the model's alphabet: {shown}")
        tokens = np.zeros(config.input_length, np.int32)
        tokens[: len(text)] = [alphabet.index(ch) + 1 for ch in text]
        self.check_input(config, tokens)
        return tokens

    def validate(self, config: TaskConfig) -> None:
        """Raise ValueError when the parameters make no sense for this task (the length rule, then task rules)."""
        rule, length, output = self.length_rule, config.input_length, config.output_length
        if rule is LengthRule.TIED and output != length:
            raise ValueError(f"{self.name} outputs one value per input step: output_length must equal input_length")
        if rule is LengthRule.PREFIX and output > length:
            raise ValueError(f"{self.name} reads a prefix of the input: output_length must be at most input_length")
        if rule is LengthRule.SINGLE and output != 1:
            raise ValueError(f"{self.name} answers with one symbol: output_length must be 1")

    @property
    def output_length_is_free(self) -> bool:
        """Whether the learner chooses the output length (else it follows from the input length)."""
        return self.length_rule in (LengthRule.PREFIX, LengthRule.FREE)

    def output_length_for(self, input_length: int, output_length: int) -> int:
        """The output length this task takes for inputs of `input_length`, keeping `output_length` where it may."""
        if self.length_rule is LengthRule.TIED:
            return input_length
        if self.length_rule is LengthRule.SINGLE:
            return 1
        if self.length_rule is LengthRule.PREFIX:
            return min(output_length, input_length)
        return output_length

    def shortest_input(self, config: TaskConfig) -> int:
        """The shortest input worth testing a model trained on `config` with (a prefix needs its k symbols)."""
        return config.output_length if self.output_length_is_free else 2

    def examples(self) -> list[dict[str, Any]]:
        """Valid, non-default parameter sets (besides `defaults`) that the tests run this task on."""
        found = []
        for input_length, output_length, cardinality in _EXAMPLE_SIZES:
            params = {
                "input_length": input_length,
                "output_length": self.output_length_for(input_length, output_length),
                "cardinality": cardinality,
            }
            found.append(params)
        return found

    def target_length(self, config: TaskConfig) -> int:
        return config.output_length

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def make_batch(self, config: TaskConfig, size: int, rng: np.random.Generator) -> Batch:
        encoder_inputs = rng.integers(1, config.cardinality + 1, size=(size, config.input_length), dtype=np.int32)
        targets = self.targets_for(config, encoder_inputs).astype(np.int32)
        return Batch(encoder_inputs, shift_right(targets), targets)

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray | None:
        """For each output step, the input step it should attend to (-1: none, e.g. padding), for the input
        `source` (input_length,). Shape (target_length,). None when no single input step explains an output."""
        return None

    def check_input(self, config: TaskConfig, sequence: list[int] | np.ndarray) -> None:
        """Raise ValueError, in words a student understands, when a typed sequence cannot be fed to the model."""
        sequence = list(sequence)
        if self.alphabet is not None:  # text: symbols, then the padding symbol 0 up to the input length
            if len(sequence) != config.input_length or not all(0 <= int(v) <= config.cardinality for v in sequence):
                raise ValueError(f"this model reads up to {config.input_length} characters of its alphabet")
            return
        if len(sequence) != config.input_length:
            raise ValueError(f"this model reads exactly {config.input_length} numbers; you gave {len(sequence)}")
        bad = [v for v in sequence if not 1 <= int(v) <= config.cardinality]
        if bad:
            raise ValueError(
                f"every number must be from 1 to {config.cardinality} (0 is the reserved start symbol); "
                f"out of range: {', '.join(str(v) for v in bad[:5])}"
            )


class Echo(Task):
    name = "echo"
    kind = "sequence-to-sequence"
    description = "Output the whole input sequence again, one symbol per step."
    length_rule = LengthRule.TIED
    default_arch = "stacked-lstm"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 5, "output_length": 5, "cardinality": 99}
    published: ClassVar[dict[str, Published]] = {"stacked-lstm": Published(1.0)}

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        return encoder_inputs.copy()

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray:
        return np.arange(config.input_length)


class EchoPartial(Task):
    name = "echo-partial"
    kind = "sequence-to-sequence"
    description = "Output only the first k symbols of the input (k = output_length)."
    length_rule = LengthRule.PREFIX
    default_arch = "repeat-vector"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 5, "output_length": 2, "cardinality": 99}
    published: ClassVar[dict[str, Published]] = {"repeat-vector": Published(1.0)}

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        return encoder_inputs[:, : config.output_length].copy()

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray:
        return np.arange(config.output_length)


class Reverse(Task):
    name = "reverse"
    kind = "sequence-to-sequence"
    description = "Output the first k input symbols in reverse order (k = output_length)."
    length_rule = LengthRule.PREFIX
    default_arch = "teacher-forcing"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 6, "output_length": 3, "cardinality": 50}
    published: ClassVar[dict[str, Published]] = {"teacher-forcing": Published(1.0)}

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        return encoder_inputs[:, : config.output_length][:, ::-1].copy()

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray:
        return np.arange(config.output_length)[::-1].copy()


class CopyFirstK(Task):
    name = "copy-first-k"
    kind = "sequence-to-sequence"
    description = (
        "Output the first k input symbols, then the padding symbol 0 up to the input length "
        "(k = output_length; the decoded sequence is input_length long)."
    )
    length_rule = LengthRule.PREFIX
    default_arch = "bahdanau"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 5, "output_length": 2, "cardinality": 50}
    # The attention tutorial's figures: one pass over 5,000 examples in batches of 4, mean of ten runs.
    published: ClassVar[dict[str, Published]] = {
        "repeat-vector": Published(0.231, {**_ATTENTION_TUTORIAL_BUDGET, "units": 150}, runs=10),
        "bahdanau": Published(0.957, _ATTENTION_TUTORIAL_BUDGET, runs=10),
    }

    def target_length(self, config: TaskConfig) -> int:
        return config.input_length

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        targets = np.zeros_like(encoder_inputs)
        targets[:, : config.output_length] = encoder_inputs[:, : config.output_length]
        return targets

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray:
        alignment = np.full(config.input_length, -1)
        alignment[: config.output_length] = np.arange(config.output_length)
        return alignment


class Largest(Task):
    name = "largest"
    kind = "classification"
    description = "Read the sequence and answer with one symbol: its largest value (many-to-one classification)."
    length_rule = LengthRule.SINGLE
    default_arch = "repeat-vector"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 6, "output_length": 1, "cardinality": 20}

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        return encoder_inputs.max(axis=1, keepdims=True)


class CountUp(Task):
    name = "count-up"
    kind = "generation"
    description = (
        "Generate k new symbols that count up from the last input symbol, wrapping from the largest back to 1 "
        "(k = output_length)."
    )
    length_rule = LengthRule.FREE
    default_arch = "teacher-forcing"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 4, "output_length": 4, "cardinality": 20}

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        steps = np.arange(1, config.output_length + 1)[None, :]
        return (encoder_inputs[:, -1:] - 1 + steps) % config.cardinality + 1

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray:
        return np.full(config.output_length, config.input_length - 1)


class Sort(Task):
    """Sorting: the first output is the smallest input symbol, wherever it stands.

    Unlike echo or reverse, where output step t always reads the same input step, the input step to read depends
    on the input itself, so attention has to search instead of walking a fixed diagonal.
    """

    name = "sort"
    kind = "sequence-to-sequence"
    description = "Output the input's symbols in ascending order (repeated symbols are repeated)."
    length_rule = LengthRule.TIED
    default_arch = "bahdanau"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 5, "output_length": 5, "cardinality": 20}

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        return np.sort(encoder_inputs, axis=1)

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray:
        # A stable sort: when a symbol repeats, its earlier position is read first. Either copy would do, so an
        # alignment score counts attention on the other copy as a miss; the tasks keep repeats rare by default.
        return np.argsort(np.asarray(source), kind="stable")


class Series(Task):
    """Real-valued series for the LSTM autoencoder, drawn from a family: ramps and sines.

    Each example is a ramp (random slope and offset) or a sine (random frequency and phase), scaled into [0, 1].
    `reconstruct` targets are the input itself; `predict` targets are the series one step ahead (the value after
    each input step); `composite` asks for both. The seeds' 0.1..0.9 ramp is one member of the family.
    """

    name = "series"
    kind = "prediction"
    values = "real"
    description = "Reconstruct a real-valued series (ramp or sine) and/or predict it one step ahead."
    length_rule = LengthRule.TIED
    default_arch = "lstm-autoencoder"
    defaults: ClassVar[dict[str, int | str]] = {"input_length": 9, "output_length": 9, "series_mode": "reconstruct"}
    variants: ClassVar[tuple[dict[str, int | str], ...]] = ({"series_mode": "predict"}, {"series_mode": "composite"})
    # Predicting the next value is what makes the series a prediction problem; reconstructing it is not.
    kind_variant: ClassVar[dict[str, int | str]] = {"series_mode": "predict"}

    def validate(self, config: TaskConfig) -> None:
        super().validate(config)
        if config.input_length < 2:
            raise ValueError("series needs at least 2 steps")

    def examples(self) -> list[dict[str, Any]]:
        modes = ("reconstruct", "predict", "composite")
        return [
            {"input_length": n, "output_length": n, "series_mode": mode}
            for n, mode in zip((4, 9, 12), modes, strict=True)
        ]

    def make_series(self, length: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(size, length + 1) float32 series and the properties that generated each one."""
        steps = np.arange(length + 1, dtype=np.float64)[None, :]
        is_sine = rng.random(size) < 0.5
        frequency = rng.uniform(0.05, 0.25, size)  # cycles per step
        phase = rng.uniform(0, 2 * np.pi, size)
        slope = rng.uniform(-0.1, 0.1, size)
        offset = rng.uniform(0.1, 0.9, size)
        sine = 0.5 + 0.4 * np.sin(2 * np.pi * frequency[:, None] * steps + phase[:, None])
        ramp = offset[:, None] + slope[:, None] * (steps - length / 2)
        series = np.clip(np.where(is_sine[:, None], sine, ramp), 0.0, 1.0).astype(np.float32)
        properties = {
            "shape": np.where(is_sine, "sine", "ramp"),
            "frequency": np.where(is_sine, frequency, 0.0),
            "slope": np.where(is_sine, 0.0, slope),
            "phase": np.where(is_sine, phase, 0.0),
        }
        return series, properties

    def batch_from_series(self, config: TaskConfig, series: np.ndarray, properties=None) -> Batch:
        """Split (batch, input_length + 1) series into inputs and the targets of the configured mode."""
        inputs = series[:, : config.input_length, None]
        ahead = series[:, 1 : config.input_length + 1, None]
        if config.series_mode == "reconstruct":
            return Batch(inputs, inputs, inputs.copy(), None, properties)
        if config.series_mode == "predict":
            return Batch(inputs, inputs, ahead, None, properties)
        return Batch(inputs, inputs, inputs.copy(), ahead, properties)

    def make_batch(self, config: TaskConfig, size: int, rng: np.random.Generator) -> Batch:
        series, properties = self.make_series(config.input_length, size, rng)
        return self.batch_from_series(config, series, properties)

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        # Only reconstruction is defined from the input alone; the future needs the generator.
        return encoder_inputs.copy()

    def check_input(self, config: TaskConfig, sequence) -> None:
        sequence = list(sequence)
        if len(sequence) != config.input_length:
            raise ValueError(f"this model reads exactly {config.input_length} numbers; you gave {len(sequence)}")
        bad = [v for v in sequence if not (np.isfinite(float(v)) and 0.0 <= float(v) <= 1.0)]
        if bad:
            raise ValueError(f"every value must be a number from 0 to 1; out of range: {bad[:5]}")


_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class DateFormat:
    """One way people write a date, as a template over its fields, with the `strptime` format that reads it back.

    Template fields: {day} (no leading zero), {dd}, {mm}, {yy}, {yyyy}, {month} (the name), {mon} (its first three
    letters), {wd} (the weekday's first three letters). `example` is 23 June 2009 written this way.
    """

    template: str
    strptime: str

    def write(self, day: date) -> str:
        return self.template.format(**_fields(day))

    def spans(self, day: date) -> dict[str, tuple[int, int]]:
        """Where each written field sits in `write(day)`: {field: (start, end)} for day, month and year."""
        fields, spans, position = _fields(day), {}, 0
        for literal, name, _, _ in string.Formatter().parse(self.template):
            position += len(literal)
            if name is None:
                continue
            kind = {"day": "day", "dd": "day", "mm": "month", "month": "month", "mon": "month"}.get(name)
            kind = kind or ("year" if name in ("yy", "yyyy") else None)
            if kind is not None:
                spans[kind] = (position, position + len(fields[name]))
            position += len(fields[name])
        return spans

    @property
    def example(self) -> str:
        return self.write(date(2009, 6, 23))

    @property
    def month_is_named(self) -> bool:
        return "{month}" in self.template or "{mon}" in self.template


def _fields(day: date) -> dict[str, str]:
    return {
        "day": str(day.day),
        "dd": f"{day.day:02d}",
        "mm": f"{day.month:02d}",
        "yy": f"{day.year % 100:02d}",
        "yyyy": f"{day.year:04d}",
        "month": _MONTHS[day.month - 1],
        "mon": _MONTHS[day.month - 1][:3],
        "wd": _WEEKDAYS[day.weekday()],
    }


class Dates(Task):
    """Date normalisation, character by character: a date in one of several human formats to ISO 8601.

    The same date reads "23 jun 2009", "june 23, 2009", "23/06/09" or "2009.06.23"; the model must write
    "2009-06-23". Numeric dates put the day first. Years run from 1970 to 2068, where a two-digit year reads one
    way only (Python's `%y`: 69-99 are 1900s, 00-68 are 2000s). Each output character is read from one place in the
    input when one place explains it (the year's digits from the year, wherever the format puts it), which is what
    attention should find; a month written as a name has no single character the digits come from.
    """

    name = "dates"
    kind = "sequence-to-sequence"
    description = (
        'Rewrite a date written the way people write it ("23 jun 2009", "june 23, 2009", "23/06/09", '
        'day first when numeric) as ISO "2009-06-23", one character at a time.'
    )
    length_rule = LengthRule.FREE
    default_arch = "bahdanau"
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ,./-"
    fixed_params = ("input_length", "output_length", "cardinality")
    formats: ClassVar[tuple[DateFormat, ...]] = (
        DateFormat("{day} {mon} {yyyy}", "%d %b %Y"),
        DateFormat("{day} {month} {yyyy}", "%d %B %Y"),
        DateFormat("{month} {day}, {yyyy}", "%B %d, %Y"),
        DateFormat("{mon} {dd} {yyyy}", "%b %d %Y"),
        DateFormat("{wd} {dd} {mon} {yyyy}", "%a %d %b %Y"),
        DateFormat("{dd} {mon} {yy}", "%d %b %y"),
        DateFormat("{dd}/{mm}/{yy}", "%d/%m/%y"),
        DateFormat("{dd}/{mm}/{yyyy}", "%d/%m/%Y"),
        DateFormat("{dd}.{mm}.{yyyy}", "%d.%m.%Y"),
        DateFormat("{yyyy}.{mm}.{dd}", "%Y.%m.%d"),
    )
    first_day, last_day = date(1970, 1, 1), date(2068, 12, 31)
    iso_length = 10  # "2009-06-23"
    # The longest a format writes a date: "september 23, 2009".
    longest = max(len(f.write(date(2000, 9, 23))) for f in formats)
    defaults: ClassVar[dict[str, int | str]] = {
        "input_length": longest,
        "output_length": iso_length,
        "cardinality": len(alphabet),
    }
    # Enough for the attention models: they reach 98-100% exact dates on fresh examples in 5-7 epochs, about 13 s
    # on our 2-core CPU; the epochs are a bound, kept low so the estimate stays well inside the training budget.
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 10, "samples_per_epoch": 16384}
    # Shipped pretrained for the attention models: the others train on demand.
    shipped_archs: ClassVar[tuple[str, ...] | None] = ("bahdanau", "luong", "luong-input-feeding")

    def validate(self, config: TaskConfig) -> None:
        for name, value in self.defaults.items():
            if getattr(config, name) != value:
                raise ValueError(
                    f"dates fixes {name} to {value} (its alphabet and longest format); got {getattr(config, name)}"
                )

    def examples(self) -> list[dict[str, Any]]:
        return []  # every parameter is fixed by the task

    def shortest_input(self, config: TaskConfig) -> int:
        return config.input_length

    def write(self, config: TaskConfig, day: date, fmt: DateFormat) -> np.ndarray:
        """`day` written in `fmt` as tokens padded to the input length."""
        text = fmt.write(day)
        tokens = np.zeros(config.input_length, np.int32)
        tokens[: len(text)] = [self.alphabet.index(ch) + 1 for ch in text]
        return tokens

    def iso_tokens(self, day: date) -> np.ndarray:
        return np.asarray([self.alphabet.index(ch) + 1 for ch in day.isoformat()], np.int32)

    def make_dates(self, size: int, rng: np.random.Generator) -> tuple[list[date], np.ndarray]:
        """`size` dates drawn uniformly from the task's range, and the index of the format each is written in."""
        span = (self.last_day - self.first_day).days + 1
        offsets = rng.integers(0, span, size)
        chosen = rng.integers(0, len(self.formats), size)
        return [self.first_day + timedelta(days=int(o)) for o in offsets], chosen

    def make_batch(self, config: TaskConfig, size: int, rng: np.random.Generator) -> Batch:
        days, chosen = self.make_dates(size, rng)
        encoder_inputs = np.stack([self.write(config, d, self.formats[c]) for d, c in zip(days, chosen, strict=True)])
        targets = np.stack([self.iso_tokens(d) for d in days]) if size else np.zeros((0, self.iso_length), np.int32)
        return Batch(encoder_inputs.reshape(size, config.input_length), shift_right(targets), targets)

    def read(self, text: str) -> tuple[date, DateFormat] | None:
        """The date `text` writes and the format it is written in, or None when no known format reads it."""
        for fmt in self.formats:
            try:
                day = datetime.strptime(text, fmt.strptime).date()
            except ValueError:
                continue
            if self.first_day <= day <= self.last_day:
                return day, fmt
        return None

    def _text(self, config: TaskConfig, tokens) -> str:
        return self.format_sequence(config, np.asarray(tokens))

    def targets_for(self, config: TaskConfig, encoder_inputs: np.ndarray) -> np.ndarray:
        rows = []
        for tokens in np.asarray(encoder_inputs):
            found = self.read(self._text(config, tokens))
            if found is None:
                raise ValueError(f"{self._text(config, tokens)!r} is not a date in a format this task knows")
            rows.append(self.iso_tokens(found[0]))
        return np.stack(rows) if rows else np.zeros((0, self.iso_length), np.int32)

    def check_input(self, config: TaskConfig, sequence) -> None:
        super().check_input(config, sequence)
        text = self._text(config, sequence)
        if self.read(text) is None:
            shown = ", ".join(f'"{f.example}"' for f in self.formats[:6])
            raise ValueError(
                f'"{text}" is not a date this model reads: write it like {shown}, day first when numeric, '
                f"{self.first_day.year} to {self.last_day.year}"
            )

    def ideal_alignment(self, config: TaskConfig, source: np.ndarray) -> np.ndarray | None:
        found = self.read(self._text(config, source))
        if found is None:
            return None
        day, fmt = found
        spans = fmt.spans(day)
        if fmt.write(day) != self._text(config, source):  # e.g. "3 jun" typed where the template pads "03"
            spans = DateFormat(fmt.template.replace("{dd}", "{day}"), fmt.strptime).spans(day)
        alignment = np.full(self.iso_length, -1)

        def place(field: str, output: range) -> None:
            start, end = spans[field]
            width = end - start
            for offset, position in enumerate(output[len(output) - width :] if width < len(output) else output):
                alignment[position] = start + offset

        place("year", range(0, 4))  # a two-digit year gives the last two; the century is read from nowhere
        if not fmt.month_is_named:
            place("month", range(5, 7))
        place("day", range(8, 10))  # a one-digit day gives the last digit; the leading zero is written from nowhere
        return alignment


TASKS: dict[str, Task] = {
    task.name: task
    for task in (Echo(), EchoPartial(), Reverse(), CopyFirstK(), Largest(), CountUp(), Sort(), Series(), Dates())
}
# The task a fresh visitor, a bare `default_config()` and the CLI start from.
DEFAULT_TASK = "reverse"


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}") from None


# The seed of the input every page opens with (and every lesson step, so a class looks at one input together).
SAMPLE_SEED = 2024


def make_batch(config: TaskConfig, size: int, seed: int | None = None) -> Batch:
    """`size` fresh examples; the same (config, seed) always gives the same batch."""
    rng = np.random.default_rng(config.seed if seed is None else seed)
    return get_task(config.name).make_batch(config, size, rng)


def format_sequence(config: TaskConfig, sequence: np.ndarray) -> str:
    """A sequence as a student would type it (what `parse_sequence` reads back); see `Task.format_sequence`."""
    return get_task(config.name).format_sequence(config, sequence)


def parse_sequence(text: str, config: TaskConfig) -> np.ndarray:
    """Parse what a student typed ("3, 14, 15" or "3 14 15"; text for a task with an alphabet) into a validated
    1-D array, or raise ValueError; see `Task.parse_sequence`."""
    return get_task(config.name).parse_sequence(config, text)
