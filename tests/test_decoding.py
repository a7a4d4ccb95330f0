import numpy as np
import pytest
from conftest import tiny_config

from explorer import architectures
from explorer.decoding import beam_search, decode_per_step_loop, greedy_decode, teacher_forced_decode
from explorer.probe import probe
from explorer.tasks import make_batch


def test_batched_greedy_equals_the_tutorials_per_step_loop(trained_reversal):
    bundle = trained_reversal.bundle
    inputs = make_batch(bundle.config.task, 3, seed=8).encoder_inputs
    np.testing.assert_array_equal(greedy_decode(bundle, inputs).tokens, decode_per_step_loop(bundle, inputs))


def test_teacher_forced_decode_of_a_good_model_equals_the_targets(trained_reversal):
    bundle = trained_reversal.bundle
    batch = make_batch(bundle.config.task, 400, seed=9)
    forced = teacher_forced_decode(bundle, batch.encoder_inputs, batch.targets)
    np.testing.assert_array_equal(forced.fed_tokens[:, 1:], batch.targets[:, :-1])
    assert np.mean(np.all(forced.tokens == batch.targets, axis=1)) >= 0.97


def test_free_running_reads_its_own_predictions(trained_reversal):
    bundle = trained_reversal.bundle
    batch = make_batch(bundle.config.task, 50, seed=10)
    trace = greedy_decode(bundle, batch.encoder_inputs)
    np.testing.assert_array_equal(trace.fed_tokens[:, 0], 0)
    np.testing.assert_array_equal(trace.fed_tokens[:, 1:], trace.tokens[:, :-1])
    assert trace.hidden.shape == (50, 3, 64) and trace.cell.shape == (50, 3, 64)
    assert np.all((trace.confidence > 0) & (trace.confidence <= 1))


@pytest.mark.parametrize("arch", ["teacher-forcing", "bahdanau", "repeat-vector"])
def test_beam_width_one_is_greedy(arch):
    bundle = architectures.build(tiny_config("reverse", arch, units=16))
    inputs = make_batch(bundle.config.task, 4, seed=11).encoder_inputs
    greedy = greedy_decode(bundle, inputs).tokens
    for row in range(4):
        result = beam_search(bundle, inputs[row], width=1)
        assert result.sequences[0][0] == greedy[row].tolist()


def test_beam_search_scores_are_sorted_and_tree_is_consistent(trained_reversal):
    bundle = trained_reversal.bundle
    source = make_batch(bundle.config.task, 1, seed=13)
    result = beam_search(bundle, source.encoder_inputs[0], width=4)
    scores = [score for _, score in result.sequences]
    assert len(result.sequences) == 4 and scores == sorted(scores, reverse=True)
    assert result.sequences[0][0] == source.targets[0].tolist()
    assert [len(kept) for kept in result.kept] == [4, 4, 4]
    for node in result.nodes:
        assert node.parent == -1 if node.step == 0 else result.nodes[node.parent].step == node.step - 1
    with pytest.raises(ValueError):
        beam_search(bundle, source.encoder_inputs[0], width=0)


def test_probe_without_decoder_inputs_shows_free_running(trained_reversal):
    bundle = trained_reversal.bundle
    inputs = make_batch(bundle.config.task, 2, seed=14).encoder_inputs
    traced = probe(bundle, inputs)
    trace = greedy_decode(bundle, inputs)
    np.testing.assert_array_equal(traced.decoder_inputs, trace.fed_tokens)
    np.testing.assert_allclose(traced.by_role("decoder")[-1].hidden, trace.hidden, atol=2e-5)


def test_attention_of_a_reversed_source_model_is_given_in_source_order():
    """A model that reads its source backwards is, weight for weight, the plain model fed the reversed input: its
    attention over the source must be that model's attention, turned back into source order."""
    reversed_bundle = architectures.build(tiny_config("copy-first-k", "bahdanau", reverse_source=True))
    plain = architectures.build(tiny_config("copy-first-k", "bahdanau"))
    plain.training_model.set_weights(reversed_bundle.training_model.get_weights())
    inputs = make_batch(plain.config.task, 4, seed=12).encoder_inputs
    read_reversed = greedy_decode(reversed_bundle, inputs)
    fed_reversed = greedy_decode(plain, inputs[:, ::-1])
    np.testing.assert_array_equal(read_reversed.tokens, fed_reversed.tokens)
    np.testing.assert_allclose(read_reversed.attention, fed_reversed.attention[..., ::-1], atol=1e-6)
