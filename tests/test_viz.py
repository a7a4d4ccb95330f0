"""The pure figure functions: DOT structure, chart data and the numbers they are drawn from."""

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
from conftest import ALL_PAIRS, tiny_config

from explorer import architectures
from explorer.analysis import alignment_score, step_gradients
from explorer.decoding import greedy_decode
from explorer.graphs import activation_memory, folded_dot, training_vs_inference_dot, unrolled_dot
from explorer.probe import probe
from explorer.tasks import get_task, make_batch
from explorer.viz import attention_frame, gates_frame, matrix_frame, states_frame

# The statements `graphviz.Digraph.source` writes, one per line: `name [k=v ...]` and `tail -> head [k=v ...]`.
NODE = re.compile(r"^\s*(\w+) \[(.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", re.MULTILINE)
ATTRIBUTE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def _attributes(text: str) -> dict[str, str]:
    return {key: value.removeprefix('"').removesuffix('"') for key, value in ATTRIBUTE.findall(text or "")}


def _node_attributes(dot: str) -> dict[str, dict[str, str]]:
    return {name: _attributes(text) for name, text in NODE.findall(dot) if name not in ("graph", "node", "edge")}


def _edges(dot: str) -> list[tuple[str, str, dict[str, str]]]:
    return [(tail, head, _attributes(text)) for tail, head, text in EDGE.findall(dot)]


def _nodes(dot: str, prefix: str) -> set[str]:
    return {name for name in _node_attributes(dot) if re.fullmatch(rf"{prefix}_\d+_\d+", name)}


@pytest.mark.parametrize("task, arch", ALL_PAIRS)
@pytest.mark.parametrize("layers", [1, 2])
def test_unrolled_dot_has_one_node_per_cell_per_step(task, arch, layers):
    config = tiny_config(task, arch, layers=layers)
    steps_in = config.task.input_length
    steps_out = get_task(task).target_length(config.task)
    dot = unrolled_dot(config, list(range(1, steps_in + 1)), list(range(steps_out)))
    encoder = "stack" if arch == "stacked-lstm" else "enc"
    assert _nodes(dot, encoder) == {f"{encoder}_{layer}_{t}" for layer in range(layers) for t in range(steps_in)}
    if arch != "stacked-lstm":
        assert _nodes(dot, "dec") == {f"dec_{layer}_{t}" for layer in range(layers) for t in range(steps_out)}
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "->" in folded_dot(config)


def test_training_and_inference_views_differ_in_what_the_decoder_reads():
    config = tiny_config("reverse", "teacher-forcing")
    training = unrolled_dot(config, [1, 2, 3, 4, 5, 6], [3, 2, 1], mode="training")
    inference = unrolled_dot(config, [1, 2, 3, 4, 5, 6], [3, 2, 1], mode="inference")
    assert "teacher" in training and "own prediction" not in training
    assert ("y_0", "dec_0_1") in {(tail, head) for tail, head, _ in _edges(inference)}
    assert ("t_1", "dec_0_1") in {(tail, head) for tail, head, _ in _edges(training)}
    assert "y_0" not in {tail for tail, _, _ in _edges(training)}
    assert "same weights" in training_vs_inference_dot(config)
    with pytest.raises(ValueError):
        unrolled_dot(config, [1], [1], mode="sometimes")


def test_attention_edges_carry_the_computed_weights():
    config = tiny_config("copy-first-k", "bahdanau", units=16)
    bundle = architectures.build(config)
    source = make_batch(config.task, 1, seed=3).encoder_inputs
    trace = greedy_decode(bundle, source)
    dot = unrolled_dot(
        config, list(source[0]), list(trace.tokens[0]), attention=trace.attention[0], attention_threshold=0.0
    )
    # Attention edges are the ones that leave the layout alone (constraint=false); the rest is the unrolled grid.
    edges = [(tail, head, attributes) for tail, head, attributes in _edges(dot) if attributes.get("constraint")]
    every_pair = {(f"enc_0_{in_step}", f"dec_0_{out_step}") for in_step in range(5) for out_step in range(5)}
    assert {(tail, head) for tail, head, _ in edges} == every_pair
    for tail, head, attributes in edges:
        weight = trace.attention[0, int(head.rsplit("_", 1)[1]), int(tail.rsplit("_", 1)[1])]
        assert float(attributes["label"]) == pytest.approx(weight, abs=0.006)
        assert float(attributes["penwidth"]) == pytest.approx(0.5 + 4 * weight, abs=0.006)


def test_highlighted_step_is_marked():
    config = tiny_config("reverse", "luong")
    nodes = _node_attributes(unrolled_dot(config, [1, 2, 3, 4, 5, 6], [3, 2, 1], highlight_step=1))
    marked = {name for name, attributes in nodes.items() if attributes.get("penwidth") == "3"}
    assert marked == {"dec_0_1", "y_1"}


@pytest.mark.parametrize(
    "task, arch",
    [
        ("reverse", "teacher-forcing"),
        ("copy-first-k", "bahdanau"),
        ("echo", "stacked-lstm"),
        ("series", "lstm-autoencoder"),
    ],
)
def test_gradient_magnitudes_are_finite_and_drawn(task, arch):
    config = tiny_config(task, arch, units=16)
    bundle = architectures.build(config)
    batch = make_batch(config.task, 4, seed=1)
    gradients = step_gradients(bundle, batch.encoder_inputs, batch.targets)
    assert gradients["encoder"].shape == (config.task.input_length,)
    assert all(math.isfinite(v) and v >= 0 for v in gradients["encoder"]) and gradients["encoder"].sum() > 0
    if bundle.uses_decoder_inputs:
        assert gradients["decoder"].shape == (batch.targets.shape[1],)
    source = batch.encoder_inputs[0, :, 0] if batch.encoder_inputs.ndim == 3 else batch.encoder_inputs[0]
    dot = unrolled_dot(config, list(source), list(range(batch.targets.shape[1])), gradients=gradients)
    edges = {(tail, head): attributes for tail, head, attributes in _edges(dot)}
    encoder = "stack" if arch == "stacked-lstm" else "enc"
    # The backward view turns every arrow round (dir=back on the forward wiring): the gradient flows from step 2
    # back to step 1, and into the input.
    assert edges[(f"{encoder}_0_0", f"{encoder}_0_1")]["dir"] == "back"
    assert edges[("x_0", f"{encoder}_0_0")]["label"] == f"∂L {gradients['encoder'][0]:.2g}"
    assert "backward" in dot


@pytest.mark.parametrize("task, arch", ALL_PAIRS)
def test_folded_view_draws_attention_exactly_for_attention_models(task, arch):
    nodes = _node_attributes(folded_dot(tiny_config(task, arch)))
    assert ("attention" in nodes) == architectures.ARCHITECTURES[arch].has_attention
    assert {"enc_0", "y"} <= set(nodes)


def test_three_models_are_drawn_as_three_clusters():
    dot = training_vs_inference_dot(tiny_config("reverse", "teacher-forcing"))
    assert re.findall(r"subgraph (cluster_\w+) \{", dot) == ["cluster_train", "cluster_enc", "cluster_dec"]


def test_probe_frames_match_the_model_shapes():
    config = tiny_config("reverse", "teacher-forcing", units=12)
    bundle = architectures.build(config)
    traced = probe(bundle, make_batch(config.task, 2, seed=4).encoder_inputs)
    encoder = traced.layer("encoder_0")
    hidden = states_frame(encoder, "hidden")
    assert len(hidden) == 6 * 12 and hidden["step"].max() == 6 and hidden["unit"].max() == 12
    np.testing.assert_allclose(
        hidden.sort_values(["step", "unit"])["value"].to_numpy(), encoder.hidden[0].ravel(), rtol=1e-6
    )
    gates = gates_frame(encoder)
    assert set(gates["gate"]) == {"input", "forget", "output", "candidate"} and len(gates) == 4 * 6 * 12


def test_attention_frame_and_alignment_score():
    weights = np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    frame = attention_frame(weights, [5, 6, 7], [6, 5], ideal=np.array([1, 0]))
    assert list(frame[frame.ideal].weight) == [0.8, 0.7]
    assert alignment_score(weights, np.array([1, 0])) == pytest.approx(0.75)
    assert alignment_score(weights, np.array([-1, -1])) is None
    assert alignment_score(weights, None) is None
    assert matrix_frame(weights, "a", "b").shape == (6, 3)


def test_activation_memory_grows_linearly_with_steps():
    short = activation_memory(tiny_config("echo", "teacher-forcing", input_length=5, output_length=5))
    long = activation_memory(tiny_config("echo", "teacher-forcing", input_length=10, output_length=10))
    assert long["bytes"] == pytest.approx(2 * short["bytes"])


def test_gradient_chart_leaves_zero_and_infinite_norms_off_the_log_axis():
    from explorer.viz import gradient_norms_chart, undrawable_gradient_count

    frame = pd.DataFrame(
        {
            "run": ["lstm"] * 4,
            "step": [1, 2, 3, 4],
            "layer": ["encoder"] * 4,
            "norm": [0.0, 1e-3, np.inf, 1e20],
        }
    )
    drawn = gradient_norms_chart(frame).data
    assert drawn["norm"].tolist() == [1e-3, 1e20]
    assert undrawable_gradient_count(frame) == 2


def test_projection_colours_text_properties_as_categories_and_numbers_on_a_scale():
    from explorer.viz import projection_chart

    frame = pd.DataFrame(
        {
            "index": [0, 1],
            "x": [0.0, 1.0],
            "y": [1.0, 0.0],
            "shape": pd.array(["ramp", "sine"], dtype="string"),
            "frequency": [0.1, 0.2],
            "slope": [0.0, 1.0],
        }
    )
    assert projection_chart(frame, "shape").to_dict()["layer"][0]["encoding"]["color"]["type"] == "nominal"
    assert projection_chart(frame, "frequency").to_dict()["layer"][0]["encoding"]["color"]["type"] == "quantitative"


# -- issue 13: figures that hold up in front of a class -------------------------------------------------------


def test_unrolled_state_edges_carry_the_state_tensor_shapes():
    """The README promises the real tensor shapes: each state edge says what it carries, (1×units) for the one
    sequence drawn, and the decoder's states are twice as wide behind a bidirectional encoder."""
    from explorer.networks import decoder_units

    config = tiny_config("reverse", "teacher-forcing", units=8)
    edges = {(tail, head): attributes for tail, head, attributes in _edges(unrolled_dot(config, [1] * 6, [1] * 3))}
    assert edges[("enc_0_0", "enc_0_1")]["label"] == "h,c (1×8)"
    assert edges[("dec_0_0", "dec_0_1")]["label"] == "h,c (1×8)"
    assert edges[("enc_0_5", "dec_0_0")]["label"] == "final h,c (1×8)"

    wide = tiny_config("reverse", "teacher-forcing", units=8, cell="gru", bidirectional=True)
    edges = {(tail, head): attributes for tail, head, attributes in _edges(unrolled_dot(wide, [1] * 6, [1] * 3))}
    assert edges[("enc_0_0", "enc_0_1")]["label"] == "h (1×8)"
    assert edges[("dec_0_0", "dec_0_1")]["label"] == f"h (1×{decoder_units(wide.model)})" == "h (1×16)"
    loops = [attributes["label"] for tail, head, attributes in _edges(folded_dot(config)) if tail == head]
    assert loops == ["h, c(t-1) (batch×8)", "h, c(t-1) (batch×8)"]


@pytest.mark.parametrize(
    "task, arch",
    [("reverse", "teacher-forcing"), ("copy-first-k", "bahdanau"), ("echo", "stacked-lstm"), ("echo", "repeat-vector")],
)
def test_backward_view_keeps_the_forward_layout_so_steps_read_in_time_order(task, arch):
    """Graphviz orders the nodes of a rank along its edges: with reversed edges the backward view laid the encoder
    steps out as 5, 4, 3, 2, 1, 6. It must draw the forward wiring, step t into step t+1, arrows turned round."""
    config = tiny_config(task, arch, layers=2)
    steps_in = config.task.input_length
    steps_out = get_task(task).target_length(config.task)
    source, outputs = list(range(1, steps_in + 1)), list(range(1, steps_out + 1))
    gradients = {"encoder": np.linspace(1.0, 0.1, steps_in), "decoder": np.linspace(1.0, 0.1, steps_out)}
    forward = _edges(unrolled_dot(config, source, outputs))
    backward = _edges(unrolled_dot(config, source, outputs, gradients=gradients))
    assert [(tail, head) for tail, head, _ in backward] == [(tail, head) for tail, head, _ in forward]
    assert {attributes.get("dir") for _, _, attributes in backward} == {"back"}
    encoder = "stack" if arch == "stacked-lstm" else "enc"
    chain = [
        (tail, head)
        for tail, head, _ in backward
        if tail.startswith(f"{encoder}_1_") and head.startswith(f"{encoder}_1_")
    ]
    assert chain == [(f"{encoder}_1_{step}", f"{encoder}_1_{step + 1}") for step in range(steps_in - 1)]


def _svg(chart) -> str:
    """The chart drawn by vl-convert as the page would send it (no export settings)."""
    import altair as alt
    import vl_convert

    with alt.data_transformers.enable("default", max_rows=None):
        return vl_convert.vegalite_to_svg(chart.to_dict())


def _axis_labels(svg: str) -> list[list[str]]:
    """The label texts of each axis in a rendered SVG, axis by axis."""
    groups = re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg)
    return [re.findall(r">([^<]*)</text>", group) for group in groups]


def _legend_labels(svg: str) -> list[str]:
    return re.findall(r"role-legend-label[^>]*>.*?>([^<]*)</text>", svg)


def test_series_charts_name_their_lines_in_a_legend_and_show_values_past_one():
    """The autoencoder's and the neighbours' line charts: a legend names every line, and the y axis reaches a
    reconstruction that overshoots 1.0 instead of stopping at 1.0."""
    from explorer.viz import series_chart, series_frame

    frame = series_frame(np.linspace(0.1, 0.9, 9), {"reconstruction": np.linspace(0.1, 1.3, 9)})
    svg = _svg(series_chart(frame, "reconstruct autoencoder"))
    assert set(_legend_labels(svg)) == {"input", "reconstruction"}
    assert _axis_labels(svg)[0] == [str(step) for step in range(1, 10)]
    # Every point lies inside the plot: none above its top edge (y < 0 in the plot's own coordinates).
    heights = [float(y) for y in re.findall(r'aria-roledescription="point"[^>]*translate\([\d.]+,(-?[\d.]+)\)', svg)]
    assert len(heights) == 18
    assert min(heights) >= 0


def test_count_axes_print_whole_numbers_even_for_one_epoch():
    """An epoch, a time step or a length is a whole number: a one-epoch run's x axis read "1.000000"."""
    from explorer.viz import (
        accuracy_by_length_chart,
        gradient_norms_chart,
        history_frame,
        length_frame,
        series_chart,
        series_frame,
        training_curves_chart,
        unit_lines_chart,
    )

    one_epoch = history_frame({"model": [{"epoch": 1, "loss": 0.5, "sequence_accuracy": 0.4}]})
    states = matrix_frame(np.zeros((4, 3)), "step", "unit", "value")
    lengths = length_frame([{"run": "a", "input_length": 6, "sequence_accuracy": 1.0, "trained_length": 6}])
    norms = pd.DataFrame({"run": ["a"], "step": [1], "layer": ["encoder_0"], "norm": [0.5]})
    charts = {
        "training curves": training_curves_chart(one_epoch).to_dict()["vconcat"],
        "units over time": unit_lines_chart(states, [1], 2).to_dict()["layer"][:1],
        "series": [series_chart(series_frame(np.zeros(3), {})).to_dict()],
        "accuracy by length": accuracy_by_length_chart(lengths).to_dict()["layer"][:1],
        "gradient norms": [gradient_norms_chart(norms).to_dict()["spec"]],
    }
    formats = {name: [view["encoding"]["x"]["axis"].get("format") for view in views] for name, views in charts.items()}
    assert formats == {name: ["d"] * len(views) for name, views in charts.items()}
    x_labels = _axis_labels(_svg(training_curves_chart(one_epoch)))[0]
    assert x_labels == ["1"]


def test_attention_axes_show_the_symbols_read_and_written():
    """Columns are labelled with the input symbols and rows with the output symbols, not step numbers; a symbol
    read twice keeps two columns."""
    from explorer.viz import attention_bars_chart, attention_heatmap_chart

    weights = np.full((3, 4), 0.25)
    frame = attention_frame(weights, [17, 4, 17, 9], [9, 17, 4], ideal=np.array([3, 2, 1]))
    columns, rows = _axis_labels(_svg(attention_heatmap_chart(frame, 2)))
    assert (columns, rows) == (["17", "4", "17", "9"], ["9", "17", "4"])
    assert _axis_labels(_svg(attention_bars_chart(frame, 2)))[0] == ["17", "4", "17", "9"]


_TEXT_MARK = re.compile(
    r'<text[^>]*aria-roledescription="text mark"[^>]*transform="translate\(([\d.]+),([\d.]+)\)"[^>]*'
    r'font-size="([\d.]+)px"[^>]*>([^<]*)</text>'
)


def test_exported_heatmap_writes_cell_values_without_overlap():
    """The PNG/SVG download of the attention heatmap: each cell's number fits in its cell (the downloads draw
    the chart at its own size, where the cells were 20 px wide and "0.13" ran into its neighbours)."""
    from explorer.ui.figures import render
    from explorer.viz import attention_heatmap_chart

    weights = np.full((6, 8), 0.125)
    frame = attention_frame(weights, range(5, 13), range(8, 2, -1), ideal=np.array([3, 2, 1, 0, -1, -1]))
    texts = [
        (float(x), float(y), float(size), text)
        for x, y, size, text in _TEXT_MARK.findall(render(attention_heatmap_chart(frame, 2), "svg").decode())
    ]
    assert len(texts) == 6 * 8
    first_row = sorted((x, size, text) for x, y, size, text in texts if y == texts[0][1])
    assert len(first_row) == 8
    for (left, size, text), (right, _, _) in itertools.pairwise(first_row):
        width = 0.6 * size * len(text)  # a generous width for digits in a sans-serif font
        assert right - left >= width + 4, (left, right, text, size)


def test_long_inputs_leave_the_heatmap_numbers_to_the_colour():
    """Past 18 input steps the cells are too narrow on a page for written weights: only the colour remains."""
    from explorer.viz import attention_heatmap_chart

    frame = attention_frame(np.full((2, 30), 1 / 30), range(1, 31), [1, 2])
    marks = [layer["mark"]["type"] for layer in attention_heatmap_chart(frame).to_dict()["layer"]]
    assert "text" not in marks


@pytest.mark.parametrize("figure", ["heatmap", "curves", "gradients"])
def test_exported_pngs_are_legible_on_a_slide(figure):
    """A download is drawn at twice its size with type of at least 12 px (24 px in the PNG): readable when a
    slide shows it at half a projector's width."""
    import struct

    from explorer.ui.figures import PNG_SCALE, render
    from explorer.viz import attention_heatmap_chart, gradient_norms_chart, history_frame, training_curves_chart

    history = [{"epoch": epoch, "loss": 1 / epoch, "sequence_accuracy": epoch / 5} for epoch in range(1, 6)]
    norms = pd.DataFrame(
        {"run": ["a"] * 3 + ["b"] * 3, "step": [1, 2, 3] * 2, "layer": ["encoder_0"] * 6, "norm": [1.0, 2, 3] * 2}
    )
    chart = {
        "heatmap": attention_heatmap_chart(attention_frame(np.full((3, 6), 1 / 6), range(1, 7), [1, 2, 3]), 1),
        "curves": training_curves_chart(history_frame({"model": history})),
        "gradients": gradient_norms_chart(norms),
    }[figure]
    png = render(chart, "png")
    width, height = struct.unpack(">II", png[16:24])
    assert png.startswith(b"\x89PNG")
    assert width >= 700, width  # the default export was 526 px wide for a 6-column heatmap
    assert height >= 400, height
    sizes = [float(size) for size in re.findall(r'<text[^>]*font-size="([\d.]+)px"', render(chart, "svg").decode())]
    assert sizes and min(sizes) * PNG_SCALE >= 24, sorted(set(sizes))
