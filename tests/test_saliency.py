"""Saliency: gradients of each chosen output's log probability with respect to each input symbol."""

import json

import numpy as np
import pytest
from conftest import open_app

from explorer.cache import ModelStore
from explorer.decoding import greedy_decode
from explorer.presets import default_config
from explorer.saliency import agreement, normalise_rows, saliency
from explorer.tasks import make_batch, parse_sequence


def _shipped(task: str, arch: str):
    config = default_config(task, arch)
    return ModelStore().lookup(config).load(), config


def _sample(config, seed: int = 2024) -> np.ndarray:
    return make_batch(config.task, 1, seed=seed).encoder_inputs[0]


def test_a_causal_model_has_zero_saliency_on_the_inputs_it_has_not_read_yet():
    # A unidirectional stacked LSTM writes output t after reading inputs 1..t only: nothing later can reach it.
    bundle, config = _shipped("echo", "stacked-lstm")
    found = saliency(bundle, _sample(config))
    assert found.shape == (5, 5)
    assert np.all(found[np.triu_indices(5, k=1)] == 0.0)
    assert np.all(np.diag(found) > 0)
    # Echo reads its answer from the same step: the diagonal carries most of each row.
    assert np.all(normalise_rows(found).argmax(axis=1) == np.arange(5))


@pytest.mark.parametrize(
    ("task", "arch"), [("echo-partial", "repeat-vector"), ("copy-first-k", "bahdanau"), ("reverse", "teacher-forcing")]
)
def test_encoder_decoders_depend_on_every_input_and_rows_are_finite(task, arch):
    bundle, config = _shipped(task, arch)
    found = saliency(bundle, _sample(config))
    assert found.shape == (bundle.target_length, config.task.input_length)
    assert np.all(np.isfinite(found)) and np.all(found > 0)
    np.testing.assert_allclose(normalise_rows(found).sum(axis=1), 1.0, rtol=1e-6)


def test_the_batched_map_equals_one_gradient_per_output_step():
    """Row t of the batched call is the gradient of step t's log probability alone (computed here one by one)."""
    import keras

    from explorer.backend import input_gradients
    from explorer.tasks import shift_right

    bundle, config = _shipped("reverse", "teacher-forcing")
    source = _sample(config)
    batched = saliency(bundle, source)
    chosen = greedy_decode(bundle, source[None]).tokens[0]
    eye = np.eye(config.task.vocab_size, dtype=np.float32)
    model = bundle.training_model
    cut = keras.Model(
        [model.get_layer("encoder_one_hot").output, model.get_layer("decoder_one_hot").output], model.output
    )
    inputs = [eye[source][None], eye[shift_right(chosen[None])[0]][None]]
    for step, symbol in enumerate(chosen):

        def step_loss(_, predictions, step=step, symbol=symbol):
            return -keras.ops.log(predictions[:, step, symbol] + 1e-12)

        gradient = input_gradients(cut, step_loss, inputs, np.zeros(1))[0][0]
        np.testing.assert_allclose(batched[step], np.linalg.norm(gradient, axis=-1), rtol=1e-4, atol=1e-7)


def test_dates_saliency_reads_the_year_from_where_it_is_written():
    bundle, config = _shipped("dates", "bahdanau")
    source = parse_sequence("23 june 2009", config.task)
    shares = normalise_rows(saliency(bundle, source))
    year = slice(8, 12)
    # The four year digits of the output depend more on the written year than on the day at the start.
    assert np.all(shares[:4, year].sum(axis=1) > shares[:4, 0:2].sum(axis=1))


def test_agreement_counts_rows_with_the_same_top_and_their_rank_correlation():
    attention = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    same = agreement(attention * 5, attention)
    assert same.same_top.tolist() == [True, True, True]
    assert same.rank_correlation[:2] == pytest.approx([1.0, 1.0]) and np.isnan(same.rank_correlation[2])
    assert same.mean_rank_correlation == pytest.approx(1.0)
    reversed_rows = agreement(attention[:, ::-1], attention)
    assert reversed_rows.same_top.tolist()[:2] == [False, False]
    assert reversed_rows.rank_correlation[0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        agreement(attention[:2], attention)


def test_a_series_model_is_refused_with_a_reason():
    bundle, config = _shipped("series", "lstm-autoencoder")
    with pytest.raises(ValueError, match="token tasks"):
        saliency(bundle, make_batch(config.task, 1).encoder_inputs[0])


def test_the_attention_page_shows_saliency_beside_attention_with_their_agreement():
    app = open_app("app_pages/attention.py", task="copy-first-k", arch="bahdanau")
    specs = [json.dumps(spec) for spec in (json.loads(c.proto.spec) for c in app.get("vega_lite_chart"))]
    assert any('"attention"' in spec for spec in specs) and any("saliency (row share)" in spec for spec in specs)
    texts = [element.value for element in [*app.markdown, *app.caption]]
    assert any("Agreement with attention" in text for text in texts)


def _written(frame, axis: str) -> str:
    return "".join(frame.drop_duplicates(axis).sort_values(axis)[f"{axis}_label"])


def test_the_attention_page_labels_a_dates_map_with_characters():
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    app = open_app("app_pages/attention.py", task="dates", arch="bahdanau", seq="23 june 2009")
    chart = next(c for c in app.get("vega_lite_chart") if "saliency (row share)" in c.proto.spec)
    frame = convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)
    assert _written(frame, "input_step")[:12] == "23 june 2009"
    assert _written(frame, "output_step") == "2009-06-23"
