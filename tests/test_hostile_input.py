"""Property-based tests: whatever a student types or a link carries, the answer is a valid result or a clear
ValueError, never another exception. Together these generate well over 500 cases per run."""

import string

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.config import RunConfig
from explorer.presets import coerce, default_config, pairs
from explorer.tasks import TASKS, get_task, parse_sequence
from explorer.urlstate import URL_FIELDS, config_from_params, params_from_config

TASK_CONFIGS = [default_config(task).task for task in TASKS] + [
    default_config("reverse", input_length=3, output_length=2, cardinality=5).task,
    default_config("series", input_length=4, output_length=4).task,
]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(st.integers(-(10**6), 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str))
noise = st.text(alphabet=string.printable + "éλ٣🙂\u200b", max_size=40)
typed = st.one_of(noise, st.lists(st.one_of(numbers, noise), max_size=12).map(lambda parts: st_join(parts)))


def st_join(parts):
    return ", ".join(parts)


@FAST
@given(text=typed, config_index=st.integers(0, len(TASK_CONFIGS) - 1))
def test_any_typed_text_is_parsed_or_explained(text, config_index):
    config = TASK_CONFIGS[config_index]
    try:
        values = parse_sequence(text, config)
    except ValueError as error:
        assert str(error)  # a message the page can show
        return
    assert values.shape == (config.input_length,)
    task = get_task(config.name)
    if task.alphabet is not None:  # text: symbols, then padding
        written = values[values > 0]
        assert len(written) and values.max() <= config.cardinality
        assert np.all(values[: len(written)] > 0) and np.all(values[len(written) :] == 0)
    elif task.values == "tokens":
        assert values.min() >= 1 and values.max() <= config.cardinality
    else:
        assert np.all(np.isfinite(values)) and values.min() >= 0 and values.max() <= 1


@FAST
@given(values=st.lists(st.integers(1, 50), min_size=6, max_size=6))
def test_every_valid_sequence_is_accepted(values):
    config = default_config("reverse").task
    assert parse_sequence(" ".join(map(str, values)), config).tolist() == values


url_values = st.one_of(
    noise,
    numbers,
    st.sampled_from(
        ["0", "-1", "1e308", "nan", "inf", "true", "lstm", "gru", "dot", "concat", "predict", "linear", "9" * 300]
    ),
)
url_params = st.dictionaries(
    st.sampled_from(["task", "arch", *URL_FIELDS, "seq", "step", "junk"]),
    st.one_of(url_values, st.sampled_from([*list(TASKS), "stacked-lstm", "luong", "lstm-autoencoder", "bahdanau"])),
    max_size=8,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=url_params)
def test_any_url_gives_a_valid_config_and_says_what_it_dropped(params):
    config, problems = config_from_params(params)
    assert isinstance(config, RunConfig)
    assert all(isinstance(p, str) and p for p in problems)
    # The config round-trips through its own URL exactly.
    again, none = config_from_params(params_from_config(config))
    assert again == config and none == []


@FAST
@given(
    pair=st.sampled_from(pairs()),
    name=st.sampled_from(
        [
            "units",
            "layers",
            "epochs",
            "learning_rate",
            "cell",
            "input_length",
            "output_length",
            "cardinality",
            "batch_size",
            "clipnorm",
            "teacher_forcing",
        ]
    ),
    text=url_values,
)
def test_any_cli_or_form_parameter_gives_a_config_or_a_value_error(pair, name, text):
    try:
        default_config(*pair, **{name: coerce(name, text)})
    except ValueError as error:
        assert str(error)
