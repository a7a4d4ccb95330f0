import numpy as np
import pytest

from explorer.config import TaskConfig
from explorer.tasks import TASKS, make_batch, parse_sequence, shift_right


def _aligned(name: str) -> bool:
    task = TASKS[name]
    config = TaskConfig(name=name, **task.defaults)
    source = make_batch(config, 1).encoder_inputs[0]
    return task.values == "tokens" and task.ideal_alignment(config, source) is not None


TOKEN_TASKS = [name for name in TASKS if _aligned(name)]


def _configs(name):
    """The task's defaults and every example parameter set it declares (`Task.examples`)."""
    task = TASKS[name]
    for params in [dict(task.defaults), *task.examples()]:
        yield TaskConfig(name=name, seed=3, **params)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_example_parameter_set_is_valid_and_not_the_default(name):
    task = TASKS[name]
    examples = task.examples()
    if set(task.fixed_params) >= {"input_length", "output_length", "cardinality"}:
        assert examples == []  # a task that fixes its parameters has nothing else to try
        return
    assert len(examples) >= 3
    for params in examples:
        config = TaskConfig(name=name, **params)
        assert config.output_length == task.output_length_for(config.input_length, config.output_length)
    assert any({**task.defaults, **params} != task.defaults for params in examples)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_makes_deterministic_batches_of_the_right_shape(name):
    task = TASKS[name]
    for config in _configs(name):
        batch = make_batch(config, 17)
        again = make_batch(config, 17)
        other = make_batch(config, 17, seed=99)
        length = task.target_length(config)
        np.testing.assert_array_equal(batch.encoder_inputs, again.encoder_inputs)
        np.testing.assert_array_equal(batch.targets, again.targets)
        assert not np.array_equal(batch.encoder_inputs, other.encoder_inputs)
        if task.values == "tokens":
            assert batch.encoder_inputs.shape == (17, config.input_length)
            assert batch.targets.shape == batch.decoder_inputs.shape == (17, length)
            # Text is padded with the symbol 0 after its characters; other token tasks never read 0.
            lowest = 0 if task.alphabet is not None else 1
            assert batch.encoder_inputs.min() >= lowest and batch.encoder_inputs.max() <= config.cardinality
            assert batch.encoder_inputs[:, 0].min() >= 1
            np.testing.assert_array_equal(batch.decoder_inputs, shift_right(batch.targets))
            np.testing.assert_array_equal(batch.targets, task.targets_for(config, batch.encoder_inputs))
        else:
            assert batch.encoder_inputs.shape == (17, config.input_length, 1)
            assert batch.encoder_inputs.dtype == np.float32
            assert batch.encoder_inputs.min() >= 0.0 and batch.encoder_inputs.max() <= 1.0


@pytest.mark.parametrize("name", TOKEN_TASKS)
def test_ideal_alignment_matches_the_task_definition(name):
    task = TASKS[name]
    for config in _configs(name):
        batch = make_batch(config, 50)
        made_from: dict[tuple[int, int], int] = {}
        for source, targets in zip(batch.encoder_inputs, batch.targets, strict=True):
            alignment = task.ideal_alignment(config, source)
            assert alignment.shape == (task.target_length(config),)
            read = [int(source[step]) if step >= 0 else 0 for step in alignment]
            if task.kind == "generation":
                # A generated output is made from the symbol it reads, not a copy of it: the same symbol read at
                # the same step must always give the same output, whatever the rest of the input is.
                for step, (value, target) in enumerate(zip(read, targets.tolist(), strict=True)):
                    assert made_from.setdefault((step, value), target) == target
                continue
            if task.alphabet is not None:
                # Text: where an output character has a source, it is that character; the rest (a dash, a month
                # written as a name) is written from nowhere (tests/test_dates.py checks which).
                assert all(r == t for r, t, a in zip(read, targets.tolist(), alignment, strict=True) if a >= 0)
                continue
            # Copying tasks: each output is exactly the input symbol it should read (0, padding, where none).
            assert read == targets.tolist()


def test_reverse_and_copy_semantics_on_a_known_sequence():
    sequence = np.array([[5, 6, 7, 8, 9, 10]])
    reverse = TaskConfig(name="reverse", input_length=6, output_length=3)
    assert TASKS["reverse"].targets_for(reverse, sequence).tolist() == [[7, 6, 5]]
    copy = TaskConfig(name="copy-first-k", input_length=6, output_length=2)
    assert TASKS["copy-first-k"].targets_for(copy, sequence).tolist() == [[5, 6, 0, 0, 0, 0]]


@pytest.mark.parametrize("mode", ["reconstruct", "predict", "composite"])
def test_series_modes(mode):
    config = TaskConfig(name="series", input_length=9, output_length=9, series_mode=mode)
    batch = make_batch(config, 8)
    if mode != "predict":
        np.testing.assert_allclose(batch.targets, batch.encoder_inputs)
    if mode != "reconstruct":
        ahead = batch.extra_targets if mode == "composite" else batch.targets
        # the prediction target is the input shifted one step ahead
        np.testing.assert_allclose(ahead[:, :-1, 0], batch.encoder_inputs[:, 1:, 0])
    assert set(batch.properties) >= {"shape", "frequency", "slope"}


def test_largest_and_count_up_on_a_known_sequence():
    sequence = np.array([[3, 19, 4, 20]])
    largest = TaskConfig(name="largest", input_length=4, output_length=1, cardinality=20)
    assert TASKS["largest"].targets_for(largest, sequence).tolist() == [[20]]
    count = TaskConfig(name="count-up", input_length=4, output_length=3, cardinality=20)
    assert TASKS["count-up"].targets_for(count, sequence).tolist() == [[1, 2, 3]]


def test_every_problem_kind_has_a_task():
    from explorer.tasks import PROBLEM_KINDS

    assert {task.kind for task in TASKS.values()} == set(PROBLEM_KINDS)


def test_parse_sequence_accepts_commas_and_spaces():
    config = TaskConfig()
    assert parse_sequence("1, 2 3,4;5  6", config).tolist() == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "at least one"),
        ("1 2 3", "exactly 6"),
        ("1 2 3 4 5 x", "not a whole number"),
        ("1 2 3 4 5 2.5", "not a whole number"),
        ("1 2 3 4 5 51", "from 1 to 50"),
        ("0 1 2 3 4 5", "reserved"),
        ("__import__('os') 1 2 3 4 5", "not a whole number"),
    ],
)
def test_parse_sequence_rejects_bad_input_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_sequence(text, TaskConfig())


def test_parse_real_sequence():
    config = TaskConfig(name="series", input_length=3, output_length=3)
    assert parse_sequence("0.1 0.5 1", config).tolist() == pytest.approx([0.1, 0.5, 1.0])
    with pytest.raises(ValueError, match="from 0 to 1"):
        parse_sequence("0.1 nan 2", config)
