"""Top-k candidates and sampled decoding: temperature, top-k and top-p beside greedy and beam search."""

import numpy as np
import pytest
from conftest import open_app

from explorer.cache import ModelStore
from explorer.decoding import greedy_decode, sample_decode, sampling_distribution, top_candidates
from explorer.presets import default_config
from explorer.tasks import make_batch

SHIPPED = [("reverse", "teacher-forcing"), ("copy-first-k", "bahdanau"), ("echo-partial", "repeat-vector")]


def _shipped(task: str, arch: str):
    config = default_config(task, arch)
    bundle = ModelStore().lookup(config).load()
    return bundle, make_batch(config.task, 1, seed=2024).encoder_inputs[0]


@pytest.mark.parametrize(("task", "arch"), SHIPPED)
@pytest.mark.parametrize("settings", [{"top_k": 1}, {"temperature": 1e-4}, {"top_p": 1e-6}])
def test_a_draw_that_keeps_only_the_most_likely_symbol_is_greedy(task, arch, settings):
    bundle, source = _shipped(task, arch)
    greedy = greedy_decode(bundle, source[None])
    drawn = sample_decode(bundle, source, samples=6, seed=3, **settings)
    assert np.array_equal(drawn.tokens, np.repeat(greedy.tokens, 6, axis=0))
    expected = np.log(greedy.confidence[0]).sum()
    np.testing.assert_allclose(drawn.log_probability, expected, rtol=1e-5)
    np.testing.assert_allclose(drawn.sampling_log_probability, 0.0, atol=1e-6)  # a certain draw
    assert drawn.distinct == 1


@pytest.mark.parametrize(("task", "arch"), SHIPPED)
def test_the_same_seed_draws_the_same_samples_and_a_hot_draw_varies(task, arch):
    bundle, source = _shipped(task, arch)
    first = sample_decode(bundle, source, samples=16, temperature=3.0, seed=5)
    again = sample_decode(bundle, source, samples=16, temperature=3.0, seed=5)
    other = sample_decode(bundle, source, samples=16, temperature=3.0, seed=6)
    assert np.array_equal(first.tokens, again.tokens)
    assert not np.array_equal(first.tokens, other.tokens)
    assert first.distinct > 1
    assert np.all(first.log_probability <= 0) and np.all(np.isfinite(first.log_probability))


def test_a_recursive_samples_log_probability_is_what_the_model_gives_that_sequence():
    """Scored again by teacher forcing on the sampled tokens, each sample's log probability is the same."""
    from explorer.decoding import teacher_forced_decode

    bundle, source = _shipped("reverse", "teacher-forcing")
    drawn = sample_decode(bundle, source, samples=8, temperature=2.0, seed=1)
    for tokens, log_probability in zip(drawn.tokens, drawn.log_probability, strict=True):
        forced = teacher_forced_decode(bundle, source[None], tokens[None])
        chances = np.take_along_axis(forced.probabilities[0], tokens[:, None], axis=-1)[:, 0]
        assert log_probability == pytest.approx(float(np.log(chances).sum()), rel=1e-4)


def test_a_direct_decoders_samples_follow_its_filtered_probabilities():
    bundle, source = _shipped("echo-partial", "repeat-vector")
    probabilities = greedy_decode(bundle, source[None]).probabilities[0]
    wanted = sampling_distribution(probabilities[:1], temperature=2.0, top_k=3)[0]
    drawn = sample_decode(bundle, source, samples=64, temperature=2.0, top_k=3, seed=0)
    more = [
        sample_decode(bundle, source, samples=64, temperature=2.0, top_k=3, seed=s).tokens[:, 0] for s in range(1, 16)
    ]
    firsts = np.concatenate([drawn.tokens[:, 0], *more])
    frequencies = np.bincount(firsts, minlength=len(wanted)) / len(firsts)
    assert set(np.flatnonzero(frequencies)) <= set(np.flatnonzero(wanted))  # nothing outside the top 3
    np.testing.assert_allclose(frequencies, wanted, atol=0.05)


def test_the_sampling_distribution_keeps_what_top_k_and_top_p_say():
    probabilities = np.array([[0.5, 0.3, 0.15, 0.05]])
    np.testing.assert_allclose(sampling_distribution(probabilities), probabilities)
    np.testing.assert_allclose(sampling_distribution(probabilities, top_k=2), [[0.625, 0.375, 0, 0]])
    # top-p 0.8: 0.5 + 0.3 reaches it, so the third symbol is left out; 0.81 needs the third too.
    np.testing.assert_allclose(sampling_distribution(probabilities, top_p=0.8), [[0.625, 0.375, 0, 0]])
    assert np.count_nonzero(sampling_distribution(probabilities, top_p=0.81)) == 3
    sharp = sampling_distribution(probabilities, temperature=0.5)[0]
    flat = sampling_distribution(probabilities, temperature=2.0)[0]
    assert sharp[0] > 0.5 > flat[0] and flat[-1] > 0.05
    symbols, chances = top_candidates(probabilities[0][None].repeat(2, axis=0), 2)
    assert symbols.tolist() == [[0, 1], [0, 1]] and chances[0].tolist() == [0.5, 0.3]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"samples": 0}, "1 to 64"),
        ({"temperature": 0.0}, "above 0"),
        ({"temperature": float("nan")}, "above 0"),
        ({"top_k": 0}, "top-k"),
        ({"top_p": 0.0}, "top-p"),
        ({"top_p": 1.5}, "top-p"),
    ],
)
def test_bad_sampling_settings_are_refused_with_a_reason(settings, message):
    bundle, source = _shipped("reverse", "teacher-forcing")
    with pytest.raises(ValueError, match=message):
        sample_decode(bundle, source, **settings)


def test_the_decoding_page_shows_candidates_and_samples_and_keeps_the_settings_in_the_link():
    app = open_app("app_pages/decoding.py", task="reverse", arch="teacher-forcing", temperature="3.0", samples="12")
    frames = [frame.value for frame in app.dataframe]
    candidates = next(f for f in frames if "1st" in f.columns)
    assert list(candidates.columns) == ["step", "1st", "2nd", "3rd"]
    samples = next(f for f in frames if "made by" in f.columns)
    assert list(samples["made by"][:2]) == ["greedy", "best beam"] and len(samples) == 2 + 12
    assert bool(samples["same as greedy"].iloc[0])
    app.select_slider(key="top_k").set_value(1).run()
    samples = next(f.value for f in app.dataframe if "made by" in f.value.columns)
    assert samples["same as greedy"].all()  # top-1 sampling is greedy decoding
    assert any("1 distinct sequence(s) among 12 samples" in caption.value for caption in app.caption)


def test_a_bad_sampling_value_in_a_link_is_explained():
    app = open_app("app_pages/decoding.py", task="reverse", arch="teacher-forcing", temperature="hot", samples="500")
    texts = " ".join(element.value for element in [*app.warning, *app.info, *app.error, *app.caption, *app.markdown])
    assert "temperature" in texts and "samples" in texts
