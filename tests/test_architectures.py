"""Structural lessons checked on every registered (task, architecture) pair and every cell type."""

import numpy as np
import pytest
from conftest import ALL_PAIRS, tiny_config

from explorer import architectures
from explorer.decoding import greedy_decode, teacher_forced_decode
from explorer.probe import GATE_NAMES, probe
from explorer.storage import load_bundle, save_bundle
from explorer.tasks import TASKS, get_task, make_batch

VARIANTS = [
    {"cell": "lstm"},
    {"cell": "gru"},
    {"cell": "rnn"},
    {"cell": "lstm", "bidirectional": True, "layers": 2},
    {"cell": "gru", "reverse_source": True, "layers": 2},
]
# Every pair with the default cell, and every cell variant on each architecture's own default task.
CASES = [(task, arch, VARIANTS[0]) for task, arch in ALL_PAIRS] + [
    (entry.default_task, name, variant)
    for name, entry in architectures.ARCHITECTURES.items()
    for variant in VARIANTS[1:]
]


def _ids(case):
    task, arch, variant = case
    return f"{task}-{arch}-" + "-".join(f"{k}={v}" for k, v in variant.items())


# The fast run builds each architecture on its own default task (every cell variant) and each task with its own
# default architecture; the remaining pairs of the matrix are the same code on other sizes, so they run with the
# slow tests (the full suite, CI).
REPRESENTATIVE = {(entry.default_task, name) for name, entry in architectures.ARCHITECTURES.items()} | {
    (name, entry.default_arch) for name, entry in TASKS.items()
}
PARAMS = [
    pytest.param(case, id=_ids(case), marks=() if case[:2] in REPRESENTATIVE else pytest.mark.slow) for case in CASES
]


@pytest.fixture(scope="module", params=PARAMS)
def built(request):
    task, arch, variant = request.param
    config = tiny_config(task, arch, **variant)
    bundle = architectures.build(config)
    batch = make_batch(config.task, 6, seed=5)
    return bundle, batch


def test_every_architecture_is_in_a_default_pair():
    assert {arch for _, arch in ALL_PAIRS} == set(architectures.ARCHITECTURES)


def test_output_shapes(built):
    bundle, batch = built
    outputs = bundle.training_model.predict_on_batch(bundle.model_inputs(batch.encoder_inputs, batch.decoder_inputs))
    outputs = outputs if isinstance(outputs, list) else [outputs]
    task = get_task(bundle.config.task.name)
    length = task.target_length(bundle.config.task)
    width = 1 if task.values == "real" else bundle.config.task.vocab_size
    for output in outputs:
        assert np.asarray(output).shape == (6, length, width)
        if task.values == "tokens":
            np.testing.assert_allclose(np.asarray(output).sum(-1), 1.0, atol=1e-5)


def test_probe_replays_keras_exactly(built):
    """Recomputed gates reproduce every recurrent layer's own return_sequences output."""
    bundle, batch = built
    traced = probe(bundle, batch.encoder_inputs, batch.decoder_inputs if bundle.uses_decoder_inputs else None)
    assert len(traced.layers) == len(bundle.taps)
    # A stacked network is one recurrent stack; every encoder-decoder has recurrent layers on both sides.
    roles = {tap.role for tap in bundle.taps}
    assert roles == ({"encoder"} if bundle.pattern == "stacked" else {"encoder", "decoder"})
    for layer in traced.layers:
        np.testing.assert_allclose(layer.hidden, layer.keras_output, atol=2e-5, err_msg=layer.name)
        assert set(layer.gates) == set(GATE_NAMES[bundle.config.model.cell])
        for name, gate in layer.gates.items():
            assert gate.shape == layer.hidden.shape
            if name != "candidate":
                assert gate.min() >= 0.0 and gate.max() <= 1.0
        assert (layer.cell_state is not None) == (bundle.config.model.cell == "lstm")


def test_return_sequences_versus_return_state(built):
    """The encoder's returned state_h is the last step of its return_sequences output."""
    bundle, batch = built
    encoded = bundle.encoder.predict_on_batch(batch.encoder_inputs)
    traced = probe(bundle, batch.encoder_inputs, batch.decoder_inputs if bundle.uses_decoder_inputs else None)
    top_encoder = traced.by_role("encoder")[-1]
    np.testing.assert_allclose(top_encoder.keras_output, encoded[0], atol=1e-6)
    if not bundle.config.model.bidirectional:
        top_h = bundle.final_encoder_state(encoded, "h")
        np.testing.assert_allclose(top_encoder.final_hidden, top_h, atol=2e-5)
        if bundle.config.model.cell == "lstm":
            top_c = bundle.final_encoder_state(encoded, "c")
            np.testing.assert_allclose(top_encoder.cell_state[:, -1], top_c, atol=2e-5)


def test_one_step_decoder_reproduces_teacher_forcing(built):
    bundle, batch = built
    if bundle.pattern != "recursive":
        pytest.skip("only recursive decoders have a one-step model")
    full = np.asarray(bundle.training_model.predict_on_batch([batch.encoder_inputs, batch.decoder_inputs]))
    encoded = bundle.encoder.predict_on_batch(batch.encoder_inputs)
    memory, states = encoded[0], bundle.initial_decoder_states(encoded)
    for step in range(batch.targets.shape[1]):
        inputs = [batch.decoder_inputs[:, step : step + 1], *states] + ([memory] if bundle.has_attention else [])
        out = bundle.decoder_step.predict_on_batch(inputs)
        np.testing.assert_allclose(np.asarray(out[0])[:, 0], full[:, step], atol=2e-5)
        states = list(out[1 : 1 + len(states)])
    forced = teacher_forced_decode(bundle, batch.encoder_inputs, batch.targets)
    np.testing.assert_allclose(forced.probabilities, full, atol=2e-5)


def test_attention_rows_sum_to_one(built):
    bundle, batch = built
    if not bundle.has_attention:
        pytest.skip("no attention in this architecture")
    trace = greedy_decode(bundle, batch.encoder_inputs)
    length = bundle.config.task.input_length
    assert trace.attention.shape == (6, bundle.target_length, length)
    np.testing.assert_allclose(trace.attention.sum(-1), 1.0, atol=1e-5)
    traced = probe(bundle, batch.encoder_inputs)
    np.testing.assert_allclose(traced.attention.sum(-1), 1.0, atol=1e-5)


def test_save_then_load_gives_identical_outputs(built, tmp_path):
    bundle, batch = built
    save_bundle(bundle, tmp_path, {"metrics": {}})
    loaded, sidecar = load_bundle(tmp_path, bundle.config.key())
    assert sidecar["key"] == bundle.config.key()
    inputs = bundle.model_inputs(batch.encoder_inputs, batch.decoder_inputs)
    before = bundle.training_model.predict_on_batch(inputs)
    after = loaded.training_model.predict_on_batch(inputs)
    for b, a in zip(
        before if isinstance(before, list) else [before], after if isinstance(after, list) else [after], strict=True
    ):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_build_is_deterministic_under_a_seed():
    config = tiny_config("reverse", "bahdanau")
    first = architectures.build(config).training_model.get_weights()
    second = architectures.build(config).training_model.get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
