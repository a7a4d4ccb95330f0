"""Interventions: a change to one thing, before and after, checked against the plain decode."""

import numpy as np
import pytest
from conftest import open_app

from explorer.cache import ModelStore
from explorer.decoding import greedy_decode
from explorer.interventions import (
    ChangeInput,
    ClampUnit,
    ForceAttention,
    ForcePrefix,
    intervene,
    own_value,
    steered_decode,
)
from explorer.presets import default_config
from explorer.tasks import make_batch

RECURSIVE = [
    ("reverse", "teacher-forcing"),
    ("copy-first-k", "bahdanau"),
    ("copy-first-k", "luong"),
    ("sort", "luong-input-feeding"),
]
ATTENTION = RECURSIVE[1:]
DIRECT = [("echo-partial", "repeat-vector"), ("echo", "stacked-lstm")]


def _shipped(task: str, arch: str, seed: int = 2024):
    config = default_config(task, arch)
    bundle = ModelStore().lookup(config).load()
    return bundle, make_batch(config.task, 1, seed=seed).encoder_inputs[0]


@pytest.mark.parametrize(("task", "arch"), RECURSIVE)
def test_the_stepped_decoder_with_nothing_changed_is_the_plain_decode(task, arch):
    bundle, _ = _shipped(task, arch)
    batch = make_batch(bundle.config.task, 16, seed=3).encoder_inputs
    plain = greedy_decode(bundle, batch)
    stepped = steered_decode(bundle, batch)
    assert np.array_equal(stepped.tokens, plain.tokens)
    np.testing.assert_allclose(stepped.probabilities, plain.probabilities, atol=1e-5)
    np.testing.assert_allclose(stepped.hidden, plain.hidden, atol=1e-5)
    if plain.attention is not None:
        np.testing.assert_allclose(stepped.attention, plain.attention, atol=1e-5)


@pytest.mark.parametrize(("task", "arch"), RECURSIVE + DIRECT)
def test_forcing_the_prefix_to_the_models_own_outputs_changes_nothing(task, arch):
    bundle, source = _shipped(task, arch)
    own = greedy_decode(bundle, source[None]).tokens[0]
    for k in (1, len(own)):
        outcome = intervene(bundle, source, ForcePrefix(tuple(int(t) for t in own[:k])))
        assert outcome.first_effect is None and not outcome.changed.any()
        np.testing.assert_array_equal(outcome.after.probabilities, outcome.before.probabilities)


@pytest.mark.parametrize(("task", "arch"), RECURSIVE)
@pytest.mark.parametrize("step", [0, None])
def test_clamping_a_unit_to_its_own_value_changes_nothing(task, arch, step):
    bundle, source = _shipped(task, arch)
    plain = intervene(bundle, source, ForcePrefix((int(greedy_decode(bundle, source[None]).tokens[0, 0]),)))
    for state in bundle.state_names:
        for unit in (0, 7):
            probe_clamp = ClampUnit(unit, 0.0, step if step is not None else 0, state)
            value = own_value(plain, probe_clamp)
            outcome = intervene(bundle, source, ClampUnit(unit, value, step if step is not None else 0, state))
            assert outcome.first_effect is None


@pytest.mark.parametrize(("task", "arch"), ATTENTION)
def test_forcing_the_attention_to_the_models_own_weights_changes_nothing(task, arch):
    bundle, source = _shipped(task, arch)
    weights = greedy_decode(bundle, source[None]).attention[0]
    for output_step in range(bundle.target_length):
        row = tuple(float(w) for w in weights[output_step] / weights[output_step].sum())
        outcome = intervene(bundle, source, ForceAttention(output_step, weights=row))
        assert outcome.first_effect is None, output_step


def test_forcing_a_different_first_symbol_changes_what_a_recursive_decoder_writes_next():
    bundle, source = _shipped("reverse", "teacher-forcing")
    own = greedy_decode(bundle, source[None]).tokens[0]
    other = next(t for t in range(1, 51) if t not in own)
    outcome = intervene(bundle, source, ForcePrefix((other,)))
    assert outcome.first_effect == 0 and outcome.after.tokens[0] == other
    # The decoder read the forced symbol: what follows moved too (the probabilities at least).
    assert np.abs(outcome.after.probabilities[1:] - outcome.before.probabilities[1:]).max() > 1e-3


def test_a_direct_decoder_writes_the_rest_as_before_whatever_is_forced():
    bundle, source = _shipped("echo-partial", "repeat-vector")
    outcome = intervene(bundle, source, ForcePrefix((1,)))
    np.testing.assert_array_equal(outcome.after.tokens[1:], outcome.before.tokens[1:])
    np.testing.assert_array_equal(outcome.after.probabilities, outcome.before.probabilities)


def test_a_clamp_out_of_a_step_leaves_that_step_and_the_earlier_ones_alone():
    bundle, source = _shipped("reverse", "teacher-forcing")
    outcome = intervene(bundle, source, ClampUnit(3, 5.0, 1, "c"))
    np.testing.assert_array_equal(outcome.after.probabilities[:2], outcome.before.probabilities[:2])
    assert outcome.first_effect is None or outcome.first_effect >= 1
    assert outcome.after.cell[1, 3] == pytest.approx(5.0)  # the carried state holds the clamp
    everywhere = intervene(bundle, source, ClampUnit(3, 5.0, None, "c"))
    assert everywhere.first_effect == 0  # clamping every step also sets the state the first step reads


def test_forcing_the_attention_elsewhere_makes_the_copying_step_write_what_is_there():
    bundle, source = _shipped("copy-first-k", "bahdanau")
    source = np.array([7, 19, 33, 41, 2])
    outcome = intervene(bundle, source, ForceAttention(0, input_step=2))
    assert outcome.before.tokens[0] == 7
    assert outcome.first_effect == 0
    np.testing.assert_allclose(outcome.after.attention[0], np.eye(5)[2], atol=1e-6)


def test_changing_one_input_symbol_of_echo_changes_exactly_that_output():
    bundle, source = _shipped("echo", "stacked-lstm")
    replacement = 1 if source[2] != 1 else 2
    outcome = intervene(bundle, source, ChangeInput(2, replacement))
    assert outcome.changed.tolist() == [False, False, True, False, False]
    assert outcome.after.tokens[2] == replacement
    assert outcome.first_effect == 2  # a causal model: nothing before the change moves
    assert outcome.shift[2] < -0.5


@pytest.mark.parametrize(
    ("intervention", "message"),
    [
        (ForcePrefix(()), "from 1 to"),
        (ForcePrefix((999,)), "vocabulary"),
        (ClampUnit(9999, 1.0), "unit must be"),
        (ClampUnit(0, float("nan")), "a number"),
        (ClampUnit(0, 1.0, 99), "step must be"),
        (ForceAttention(0, 99), "input step"),
        (ForceAttention(0, weights=(1.0, 1.0, 0.0, 0.0, 0.0)), "summing to 1"),
        (ChangeInput(99, 1), "position"),
        (ChangeInput(0, 0), "from 1 to"),
    ],
)
def test_an_intervention_that_cannot_apply_says_why(intervention, message):
    bundle, source = _shipped("copy-first-k", "bahdanau")
    with pytest.raises(ValueError, match=message):
        intervene(bundle, source, intervention)


CONFIGURATIONS = [
    ("echo", "stacked-lstm", {}),
    ("echo", "stacked-lstm", {"layers": 2, "bidirectional": True}),
    ("echo-partial", "repeat-vector", {"bidirectional": True, "cell": "gru", "layers": 2}),
    ("reverse", "teacher-forcing", {}),
    ("copy-first-k", "bahdanau", {"bidirectional": True}),
    ("copy-first-k", "luong", {"reverse_source": True, "layers": 2}),
    ("sort", "luong-input-feeding", {"cell": "rnn"}),
]


@pytest.mark.parametrize(("task", "arch", "settings"), CONFIGURATIONS)
def test_the_numpy_replay_that_clamps_reproduces_the_model_and_a_clamp_to_the_own_value_changes_nothing(
    task, arch, settings
):
    """Untrained models are enough: the replay must compute what Keras computes, whatever the weights."""
    from explorer.architectures import build
    from explorer.interventions import _replayed
    from explorer.probe import probe

    bundle = build(default_config(task, arch, units=8, **settings))
    source = make_batch(bundle.config.task, 1, seed=1).encoder_inputs[0]
    pair = np.stack([source, source])
    replayed = _replayed(bundle, pair, None)
    np.testing.assert_allclose(replayed.probabilities, greedy_decode(bundle, pair).probabilities, atol=1e-5)
    layers = probe(bundle, source[None]).layers
    for index, trace in enumerate(layers):
        role = trace.role
        within = sum(other.role == role for other in layers[:index])
        for state in bundle.state_names:
            values = trace.hidden if state == "h" else trace.cell_state
            own = float(values[0, 1, 3])
            outcome = intervene(bundle, source, ClampUnit(3, own, 1, state, within, role))
            assert outcome.first_effect is None, (trace.name, state)


def test_a_clamped_encoder_or_stacked_unit_moves_only_what_can_read_it():
    bundle, source = _shipped("echo", "stacked-lstm")
    outcome = intervene(bundle, source, ClampUnit(3, 3.0, 2, "h", 0, "encoder"))
    # A causal stack: outputs before the clamped step cannot move; the clamped h is that step's output too.
    np.testing.assert_array_equal(outcome.after.probabilities[:2], outcome.before.probabilities[:2])
    assert outcome.first_effect == 2
    # The cell state c of step 2 was read into h before the clamp: the next step is the first to read it.
    assert intervene(bundle, source, ClampUnit(3, 3.0, 2, "c", 0, "encoder")).first_effect == 3
    recursive, source = _shipped("reverse", "teacher-forcing")
    assert intervene(recursive, source, ClampUnit(0, 3.0, None, "c", 0, "encoder")).first_effect == 0


def test_models_without_what_an_intervention_needs_say_so():
    direct, source = _shipped("echo", "stacked-lstm")
    with pytest.raises(ValueError, match="no decoder layers"):
        intervene(direct, source, ClampUnit(0, 1.0))
    plain, source = _shipped("reverse", "teacher-forcing")
    with pytest.raises(ValueError, match="no attention"):
        intervene(plain, source, ForceAttention(0, 1))


def test_the_what_if_page_forces_a_prefix_and_marks_where_the_effects_start():
    app = open_app("app_pages/whatif.py", task="reverse", arch="teacher-forcing", force="3")
    table = next(frame.value for frame in app.dataframe if "before" in frame.value.columns)
    assert table["after"].iloc[0] == "3" and table["changed"].iloc[0]  # symbols as the task writes them
    assert any("The effects start at output step 1" in w.value for w in app.warning)
    assert len(app.get("vega_lite_chart")) == 2  # the probability shifts and the states' change


def test_the_what_if_page_runs_each_intervention_from_its_radio():
    app = open_app("app_pages/whatif.py", task="copy-first-k", arch="bahdanau")
    assert any("Nothing downstream moved" in s.value for s in app.success)  # its own first output, forced
    for kind in ("clamp a unit", "force the attention", "change an input"):
        app.radio(key="whatif").set_value(kind).run()
        assert not app.exception, kind
        assert any("before" in frame.value.columns for frame in app.dataframe), kind


def test_the_what_if_page_clamps_any_layer_and_explains_a_bad_value():
    app = open_app(
        "app_pages/whatif.py",
        task="echo",
        arch="stacked-lstm",
        whatif="clamp a unit",
        clamp_step="2",
        clamp_value="3.0",
    )
    assert app.selectbox(key="clamp_layer").value == "encoder_0 (encoder)"
    assert any("The effects start at output step 2" in w.value for w in app.warning)
    app = open_app("app_pages/whatif.py", task="echo", arch="stacked-lstm", force="1, 2")
    assert any("before" in frame.value.columns for frame in app.dataframe)
    app = open_app("app_pages/whatif.py", task="reverse", arch="teacher-forcing", force="3, x")
    assert any("cannot be applied" in e.value for e in app.error)
    for page, what in (("whatif", "these interventions"), ("decoding", "decoding choices")):
        app = open_app(f"app_pages/{page}.py", task="series", arch="lstm-autoencoder")
        assert any("real values" in i.value and what in i.value for i in app.info), page
    app = open_app("app_pages/whatif.py", task="reverse", arch="teacher-forcing", whatif="bend spoons")
    assert any("not a choice here" in w.value for w in app.warning)
