"""Unit pattern search (explorer/unitsearch.py) on cases whose answer is known, and on the States page."""

import numpy as np
import pytest
from conftest import open_app, tiny_config

from explorer import architectures
from explorer.tasks import get_task, make_batch
from explorer.unitsearch import CATEGORICAL, NUMERIC, Track, eta_squared, r_squared, search, task_tracks
from explorer.urlstate import config_from_params, params_from_config

SIZE = 500


def _tracks(task_name: str, role: str, steps: int, reverse: bool = False, **params):
    config = tiny_config(task_name, get_task(task_name).default_arch, **params).task
    batch = make_batch(config, SIZE, seed=1)
    return batch, {t.name: t for t in task_tracks(get_task(task_name), config, batch, role, steps, reverse)}


def test_a_unit_that_counts_positions_predicts_the_position_and_nothing_unrelated():
    _, tracks = _tracks("reverse", "encoder", 6)
    activation = tracks["position"].values / 6  # a synthetic unit that reads 1/6, 2/6, ... at every input
    found = search(activation, list(tracks.values()), threshold=0.6)
    scores = {s.track: s for s in found.scores}
    assert scores["position"].value == pytest.approx(1.0) and scores["position"].measure == "r²"
    assert scores["steps left"].value == pytest.approx(1.0)  # steps left is the position backwards
    assert scores["symbol read"].measure == "η²" and scores["symbol read"].value < 0.05  # random symbols
    # On at steps 4, 5, 6 (4/6 > 0.6) of every input, never before.
    np.testing.assert_array_equal(found.on_by_position, [0, 0, 0, 1, 1, 1])
    assert found.steps_on == 3 * SIZE and found.inputs_on == SIZE and found.message is None
    assert len(found.examples) == 5


def test_a_unit_that_copies_the_symbol_read_predicts_it_exactly():
    _, tracks = _tracks("reverse", "encoder", 6)
    activation = np.tanh(tracks["symbol read"].values / 10.0)
    scores = {s.track: s.value for s in search(activation, list(tracks.values()), 0.5).scores}
    assert scores["symbol read"] == pytest.approx(1.0)
    assert scores["position"] < 0.01


def test_a_threshold_above_every_activation_finds_nothing_and_says_so():
    _, tracks = _tracks("reverse", "encoder", 6)
    activation = np.random.default_rng(0).uniform(-0.5, 0.5, (SIZE, 6))
    found = search(activation, list(tracks.values()), threshold=0.9)
    assert found.steps_on == 0 and found.examples == () and not found.on_by_position.any()
    assert "never above 0.9" in found.message and f"{activation.max():.3f}" in found.message


def test_the_encoder_reads_the_source_reversed_when_the_model_does():
    batch, tracks = _tracks("reverse", "encoder", 6, reverse=True)
    np.testing.assert_array_equal(tracks["symbol read"].values, batch.encoder_inputs[:, ::-1])


def test_decoder_tracks_follow_the_output_and_the_ideal_alignment():
    batch, tracks = _tracks("reverse", "decoder", 3)
    assert set(tracks) == {"position", "steps left", "symbol written", "aligned input step", "aligned symbol"}
    np.testing.assert_array_equal(tracks["steps left"].values[0], [2, 1, 0])  # to the end of the output
    np.testing.assert_array_equal(tracks["symbol written"].values, batch.targets)
    # Reversing the first 3 of 6: output step 1 reads input step 3, and the symbol there is the one written.
    np.testing.assert_array_equal(tracks["aligned input step"].values[0], [3, 2, 1])
    np.testing.assert_array_equal(tracks["aligned symbol"].values, batch.targets)
    activation = (tracks["symbol written"].values % 7) / 7.0
    scores = {s.track: s.value for s in search(activation, list(tracks.values()), 0.5).scores}
    assert scores["symbol written"] == pytest.approx(1.0) and scores["aligned symbol"] == pytest.approx(1.0)


def test_series_tracks_are_numbers():
    _, tracks = _tracks("series", "encoder", 9)
    assert tracks["value read"].kind == NUMERIC
    _, decoder = _tracks("series", "decoder", 9)
    assert decoder["value written"].kind == NUMERIC and "aligned symbol" not in decoder


def test_the_measures_on_small_hand_made_cases():
    assert r_squared(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(1.0)
    assert r_squared(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, -1.0, -1.0, 1.0])) == pytest.approx(0.0)
    assert np.isnan(r_squared(np.array([1.0, 2.0]), np.array([5.0, 5.0])))  # a constant track explains nothing
    # Groups {a: 0, 0} and {b: 1, 1}: all variance is between the groups; -1 entries are left out.
    assert eta_squared(np.array([0.0, 0.0, 1.0, 1.0, 9.0]), np.array([1, 1, 2, 2, -1])) == pytest.approx(1.0)
    # Within-group spread only: the two groups have the same mean.
    assert eta_squared(np.array([0.0, 1.0, 0.0, 1.0]), np.array([1, 1, 2, 2])) == pytest.approx(0.0)
    assert np.isnan(eta_squared(np.array([0.0, 1.0]), np.array([3, 3])))  # one category


def test_search_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="not"):
        search(np.zeros((4, 3)), [Track("position", NUMERIC, np.zeros((4, 2)))], 0.5)
    with pytest.raises(ValueError, match="batch, time"):
        search(np.zeros(4), [], 0.5)
    assert CATEGORICAL == "categorical"


# -- the States page --------------------------------------------------------------------------------------------------


@pytest.fixture
def model_cache(app_cache):
    """Where these tests put untrained tiny models for the pages to find (the equations hold for any weights)."""
    return app_cache


def _stored(cache, cell: str) -> dict[str, str]:
    from explorer.storage import save_bundle

    params = params_from_config(tiny_config("reverse", "teacher-forcing", cell=cell))
    config, problems = config_from_params(params)
    assert not problems
    save_bundle(architectures.build(config), cache, {"metrics": {}, "history": []})
    return params


def _search_results(app):
    import json

    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    frames = {}
    for chart in app.get("vega_lite_chart"):
        for data in chart.proto.datasets:
            frame = convert_arrow_bytes_to_pandas_df(data.data.data)
            if "share on" in frame.columns:
                frames["on"] = frame
            if "measure" in frame.columns:
                frames["scores"] = frame
        assert json.loads(chart.proto.spec)
    return frames


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_pattern_search_runs_on_the_states_page(model_cache, cell):
    params = _stored(model_cache, cell)
    app = open_app("app_pages/states.py", **params, unit="2", threshold="-0.9")
    frames = _search_results(app)
    assert set(frames["scores"]["track"]) == {"position", "steps left", "symbol read"}
    assert len(frames["on"]) == 6 and frames["on"]["share on"].between(0, 1).all()
    [examples] = [f.value for f in app.dataframe if "sequence, [on]" in f.value.columns]
    assert 1 <= len(examples) <= 5 and examples["sequence, [on]"].str.contains(r"\[").all()
    # The decoder layer gets the decoder's tracks, the alignment of the reversal included.
    app.selectbox(key="layer").set_value(1).run()
    assert not app.exception
    tracks = set(_search_results(app)["scores"]["track"])
    assert tracks == {"position", "steps left", "symbol written", "aligned input step", "aligned symbol"}


def test_a_threshold_no_step_reaches_is_explained_on_the_page(model_cache):
    params = _stored(model_cache, "lstm")
    app = open_app("app_pages/states.py", **params, threshold="0.9")
    assert any("never above 0.9" in info.value for info in app.info)
    assert "on" not in _search_results(app)  # no firing chart, but the scores still show
