"""The pure figure functions: DOT structure, chart data and the numbers they are drawn from."""

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
    # The backward view reverses every edge: the gradient flows from step 2 back to step 1, and into the input.
    assert (f"{encoder}_0_1", f"{encoder}_0_0") in edges and (f"{encoder}_0_0", f"{encoder}_0_1") not in edges
    assert edges[(f"{encoder}_0_0", "x_0")]["label"] == f"∂L {gradients['encoder'][0]:.2g}"
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
