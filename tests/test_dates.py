"""The dates task: a seeded generator of human-written dates, ISO targets, readable symbols, a shipped model."""

from datetime import date, datetime

import numpy as np
import pytest

from explorer.presets import default_config, pretrain_configs
from explorer.tasks import PAD_MARK, get_task, make_batch, parse_sequence

TASK = get_task("dates")
CONFIG = default_config("dates").task


def _text(tokens) -> str:
    return TASK.format_sequence(CONFIG, tokens)


@pytest.mark.parametrize("seed", range(5))
def test_the_generator_round_trips_through_datetime(seed):
    batch = make_batch(CONFIG, 400, seed=seed)
    for source, target in zip(batch.encoder_inputs, batch.targets, strict=True):
        written = _text(source)
        iso = _text(target)
        day = date.fromisoformat(iso)
        # Some format of the task reads the input text back as exactly the target's date.
        read = {datetime.strptime(written, fmt.strptime).date() for fmt in TASK.formats if _reads(written, fmt)}
        assert read == {day}, (written, iso)
        assert TASK.first_day <= day <= TASK.last_day


def _reads(text, fmt) -> bool:
    try:
        datetime.strptime(text, fmt.strptime)
    except ValueError:
        return False
    return True


def test_every_format_occurs_and_is_written_as_its_template_says():
    batch = make_batch(CONFIG, 2000, seed=7)
    used = {TASK.read(_text(source))[1] for source in batch.encoder_inputs}
    assert used == set(TASK.formats)
    assert [fmt.example for fmt in TASK.formats][:3] == ["23 jun 2009", "23 june 2009", "june 23, 2009"]
    assert max(len(fmt.write(date(2000, 9, 23))) for fmt in TASK.formats) == CONFIG.input_length


def test_the_same_seed_gives_the_same_dates_and_another_seed_others():
    first, again, other = (make_batch(CONFIG, 50, seed=s) for s in (3, 3, 4))
    assert np.array_equal(first.encoder_inputs, again.encoder_inputs)
    assert not np.array_equal(first.encoder_inputs, other.encoder_inputs)
    assert np.array_equal(first.decoder_inputs[:, 1:], first.targets[:, :-1])


def test_the_ideal_alignment_points_at_the_characters_the_output_copies():
    batch = make_batch(CONFIG, 500, seed=11)
    pointed = 0
    for source, target in zip(batch.encoder_inputs, batch.targets, strict=True):
        alignment = TASK.ideal_alignment(CONFIG, source)
        assert alignment.shape == (10,)
        for step, position in enumerate(alignment):
            if position >= 0:
                assert source[position] == target[step], (_text(source), step, position)
                pointed += 1
        assert alignment[4] == alignment[7] == -1  # the dashes are written from nowhere
    assert pointed > 500 * 5  # the year and day digits at least


def test_a_named_month_has_no_single_source_and_a_numeric_one_does():
    named = parse_sequence("june 23, 2009", CONFIG)
    assert TASK.ideal_alignment(CONFIG, named).tolist() == [9, 10, 11, 12, -1, -1, -1, -1, 5, 6]
    numeric = parse_sequence("23/06/09", CONFIG)
    assert TASK.ideal_alignment(CONFIG, numeric).tolist() == [-1, -1, 6, 7, -1, 3, 4, -1, 0, 1]
    short_day = parse_sequence("3 jun 2009", CONFIG)
    assert TASK.ideal_alignment(CONFIG, short_day).tolist() == [6, 7, 8, 9, -1, -1, -1, -1, -1, 0]


def test_typed_dates_parse_case_and_spacing_aside_and_targets_follow():
    tokens = parse_sequence("  June   23,  2009 ", CONFIG)
    assert _text(tokens) == "june 23, 2009"
    assert tokens.shape == (CONFIG.input_length,) and tokens[len("june 23, 2009") :].tolist() == [0] * 5
    assert _text(TASK.targets_for(CONFIG, tokens[None])[0]) == "2009-06-23"
    assert TASK.symbols(tokens)[:4] == ["j", "u", "n", "e"] and TASK.symbol(0) == PAD_MARK


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31 feb 2009", "not a date this model reads"),
        ("2009-06-23", "not a date this model reads"),
        ("23 jun 1850", "1970 to 2068"),
        ("june 23rd; 2009", "not in the model's alphabet"),
        ("wednesday the twenty third of june", "at most 18 characters"),
        ("", "type some text"),
    ],
)
def test_bad_dates_get_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_sequence(text, CONFIG)


def test_the_task_fixes_its_own_parameters():
    with pytest.raises(ValueError, match="dates fixes input_length"):
        default_config("dates", input_length=12)
    assert set(TASK.fixed_params) == {"input_length", "output_length", "cardinality"}


def test_only_the_attention_models_are_shipped():
    shipped = {c.model.arch for c in pretrain_configs() if c.task.name == "dates"}
    assert shipped == set(TASK.shipped_archs) == {"bahdanau", "luong", "luong-input-feeding"}


def test_the_shipped_bahdanau_model_normalises_fresh_dates():
    from explorer.cache import ModelStore
    from explorer.decoding import greedy_decode, sequence_accuracy

    config = default_config("dates", "bahdanau")
    found = ModelStore().lookup(config)
    assert found is not None and found.source == "pretrained"
    batch = make_batch(config.task, 500, seed=12345)
    bundle = found.load()
    assert sequence_accuracy(greedy_decode(bundle, batch.encoder_inputs).tokens, batch.targets) >= 0.95
    typed = parse_sequence("june 23, 2009", config.task)[None]
    assert _text(greedy_decode(bundle, typed).tokens[0]) == "2009-06-23"
