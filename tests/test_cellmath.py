"""One LSTM / GRU / SimpleRNN step in numbers (explorer/cellmath.py) and the States page that shows it.

The formula view recomputes one step of one unit from the layer's weights and the probe's previous state; it must
reproduce the probe's gates, c and h at that step, for encoder and decoder layers, both directions of a
bidirectional layer, and every cell type, and the parts it shows must add up to each pre-activation.
"""

import numpy as np
import pytest
from conftest import open_app, tiny_config

from explorer import architectures
from explorer.cellmath import step_latex, step_math, step_rows, weight_rows
from explorer.probe import probe
from explorer.tasks import make_batch
from explorer.urlstate import config_from_params, params_from_config

CELLS = ("lstm", "gru", "rnn")
# (architecture, model options): a plain recursive encoder-decoder (its decoder starts from the encoder's state),
# a bidirectional encoder, a direct (RepeatVector) decoder, and input feeding (a decoder reading more than a token).
VARIANTS = [
    ("teacher-forcing", {}),
    ("teacher-forcing", {"bidirectional": True}),
    ("repeat-vector", {}),
    ("luong-input-feeding", {}),
]


@pytest.fixture(scope="module", params=[(cell, arch, opts) for cell in CELLS for arch, opts in VARIANTS], ids=str)
def traced(request):
    cell, arch, options = request.param
    config = tiny_config("reverse", arch, cell=cell, **options)
    bundle = architectures.build(config)
    batch = make_batch(config.task, 4, seed=11)
    return probe(bundle, batch.encoder_inputs, batch.decoder_inputs if bundle.uses_decoder_inputs else None)


def _places(layer):
    """Several (row, step, unit): the first and last step, one in between, and units from both ends."""
    _, steps, units = layer.hidden.shape
    return [(0, 0, 0), (1, steps - 1, units - 1), (2, steps // 2, units // 2), (3, 1, units - 2)]


def test_the_formula_view_reproduces_the_probe_gates_c_and_h(traced):
    assert {layer.role for layer in traced.layers} == {"encoder", "decoder"}
    for layer in traced.layers:
        for row, step, unit in _places(layer):
            math = step_math(layer, row, step, unit)
            where = f"{layer.name} row {row} step {step} unit {unit}"
            assert set(math.probe_gates) == set(layer.gates), where
            for name, gate in layer.gates.items():
                assert math.gate(name).value == pytest.approx(float(gate[row, step, unit]), abs=1e-5), where
            assert math.h == pytest.approx(float(layer.hidden[row, step, unit]), abs=1e-5), where
            if layer.cell_state is not None:
                assert math.c == pytest.approx(float(layer.cell_state[row, step, unit]), abs=1e-5), where
            else:
                assert math.c is None
            assert math.largest_difference < 1e-5


def test_the_parts_add_up_to_each_pre_activation(traced):
    for layer in traced.layers:
        for row, step, unit in _places(layer):
            math = step_math(layer, row, step, unit)
            for gate in math.gates:
                assert gate.parts_sum == pytest.approx(gate.preactivation, abs=1e-5)
                # The input part is the dot product of x_t with the unit's column of W (its own, not a neighbour's).
                assert gate.from_input == pytest.approx(float(math.x @ math.kernel_columns[gate.name]), abs=1e-6)


def test_the_unit_picked_tells_the_direction_of_a_bidirectional_layer():
    config = tiny_config("reverse", "teacher-forcing", cell="lstm", bidirectional=True)
    bundle = architectures.build(config)
    batch = make_batch(config.task, 2, seed=3)
    encoder = probe(bundle, batch.encoder_inputs, batch.decoder_inputs).by_role("encoder")[0]
    width = encoder.hidden.shape[-1] // 2
    forward, backward = step_math(encoder, 0, 2, 1), step_math(encoder, 0, 2, width + 1)
    assert (forward.direction, forward.direction_unit, forward.previous_step) == ("forward", 1, 1)
    assert (backward.direction, backward.direction_unit, backward.previous_step) == ("backward", 1, 3)
    np.testing.assert_allclose(backward.h_previous, encoder.hidden[0, 3, width:])
    last = step_math(encoder, 0, encoder.hidden.shape[1] - 1, width)
    assert last.previous_step is None and not last.h_previous.any()  # the backward chain starts at the end
    assert "h_{t+1}" in step_latex(backward) and "h_{t-1}" in step_latex(forward)


def test_a_decoder_starts_from_the_encoder_state_it_was_handed():
    config = tiny_config("reverse", "teacher-forcing")
    bundle = architectures.build(config)
    batch = make_batch(config.task, 2, seed=3)
    traced = probe(bundle, batch.encoder_inputs, batch.decoder_inputs)
    encoder, decoder = traced.by_role("encoder")[0], traced.by_role("decoder")[0]
    first = step_math(decoder, 1, 0, 3)
    assert first.previous_step is None
    np.testing.assert_allclose(first.h_previous, encoder.hidden[1, -1], atol=1e-5)
    assert first.c_previous == pytest.approx(float(encoder.cell_state[1, -1, 3]), abs=1e-5)


def test_renderings_show_the_numbers(traced):
    layer = traced.layers[-1]
    math = step_math(layer, 0, 1, 2)
    latex = step_latex(math)
    assert latex.startswith(r"\begin{aligned}") and f"{math.h:.3f}" in latex
    rows = step_rows(math)
    assert rows[-1]["quantity"] == "h (new hidden state)" and rows[-1]["value"] == pytest.approx(math.h)
    inputs, recurrent = weight_rows(math)
    assert len(inputs) == len(math.x) and len(recurrent) == len(math.h_previous)


def test_an_index_outside_the_trace_is_refused_in_words(traced):
    layer = traced.layers[0]
    with pytest.raises(ValueError, match="unit 999 is outside"):
        step_math(layer, 0, 0, 999)
    with pytest.raises(ValueError, match="step -1 is outside"):
        step_math(layer, 0, -1, 0)


# -- the States page --------------------------------------------------------------------------------------------------


@pytest.fixture
def model_cache(app_cache):
    """Where these tests put untrained tiny models for the pages to find (the equations hold for any weights)."""
    return app_cache


def _stored(cache, cell: str, **options):
    from explorer.storage import save_bundle

    # The configuration a link can express (a link carries no training-set sizes): the page looks that one up.
    params = params_from_config(tiny_config("reverse", "teacher-forcing", cell=cell, **options))
    config, problems = config_from_params(params)
    assert not problems
    save_bundle(architectures.build(config), cache, {"metrics": {}, "history": []})
    return params


def _latex(app) -> str:
    return " ".join(element.value for element in app.get("latex"))


def _check_caption(app) -> float:
    caption = next(c.value for c in app.caption if "largest difference is" in c.value)
    return float(caption.split("largest difference is ")[1].split(". ")[0])


@pytest.mark.parametrize("cell", CELLS)
def test_the_states_page_shows_the_equations_of_the_linked_unit_and_step(model_cache, cell):
    params = _stored(model_cache, cell)
    app = open_app("app_pages/states.py", **params, unit="3", layer_step="4")
    assert app.number_input(key="unit").value == 3
    assert any("unit 3 at step 4" in header.value for header in app.subheader)
    latex = _latex(app)
    expected = {"lstm": ["i_t", "f_t", "c_t", "h_t"], "gru": ["z_t", "r_t", r"\tilde{h}_t", "h_t"], "rnn": ["h_t"]}
    assert all(symbol in latex for symbol in expected[cell])
    assert _check_caption(app) < 1e-5
    table = next(frame.value for frame in app.table if "quantity" in frame.value.columns)
    assert len(table) == {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    assert (table["value"] - table["probe"]).abs().max() < 1e-5  # every gate (a SimpleRNN's h) beside the probe's
    assert any(caption.value.startswith("The previous state is the state of step 3") for caption in app.caption)


def test_a_click_on_the_hidden_state_heatmap_picks_the_unit_and_step(model_cache, monkeypatch):
    """The heatmap selects a cell's (step, unit) under the name its `on_select` callback reads; the callback moves
    the step cursor and the unit box before the rerun, and the page shows that unit's step."""
    import json

    import streamlit as st

    from explorer.ui.inputs import LAYER_STEP, pick_fields_on_select

    # (The picker offers no bidirectional encoder, so the page is tested on a one-direction model; the library
    # tests above cover both directions.)
    params = _stored(model_cache, "gru")
    app = open_app("app_pages/states.py", **params)
    assert any("unit 1 at step 1" in header.value for header in app.subheader)
    heatmap = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    params_anywhere = heatmap.get("params", []) + [p for layer in heatmap["layer"] for p in layer.get("params", [])]
    [selection] = [p for p in params_anywhere if p["name"] == "cell"]
    assert selection["select"]["fields"] == ["step", "unit"]

    # What Streamlit holds when the learner clicks the cell (step 5, unit 12); it runs the callback, then the page.
    state = {"hidden_chart": {"selection": {"cell": [{"step": 5, "unit": 7}]}}}
    with monkeypatch.context() as patched:
        patched.setattr(st, "session_state", state)
        pick_fields_on_select("hidden_chart", "cell", {"step": LAYER_STEP.key, "unit": "unit"})()
    app.session_state[LAYER_STEP.key], app.session_state["unit"] = state[LAYER_STEP.key], state["unit"]
    app.run()
    assert not app.exception
    assert app.number_input(key="unit").value == 7 and app.slider(key=LAYER_STEP.key).value == 5
    assert any("unit 7 at step 5" in header.value for header in app.subheader)
    assert "z_t" in _latex(app) and "h_{t-1}" in _latex(app)
    assert _check_caption(app) < 1e-5
