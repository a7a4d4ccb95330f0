"""AppTest: every page renders with no exception and shows what it should, on the picked configuration."""

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import hold_training, open_app

from explorer.architectures import ARCHITECTURES
from explorer.presets import compatible_archs, default_config
from explorer.tasks import DEFAULT_TASK, TASKS
from explorer.ui.pages import PAGES as APP_PAGES

ROOT = Path(__file__).resolve().parents[1]
PAGES = [page.file for page in APP_PAGES]  # the page registry, which app.py's navigation is built from


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "app-cache"))


def url_param(app, name: str) -> str:
    """One query parameter's value: AppTest keeps each as a list of the values the URL would repeat."""
    value = app.query_params[name]
    return value[-1] if isinstance(value, list) else value


def charts(app) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]


def chart_data(app) -> list:
    """Streamlit ships each chart's data beside its spec, as Arrow; return them as DataFrames."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return [convert_arrow_bytes_to_pandas_df(d.data.data) for c in app.get("vega_lite_chart") for d in c.proto.datasets]


def spec_text(app) -> str:
    return " ".join(json.dumps(spec) for spec in charts(app))


# (Parameters are not called `page`: pytest-playwright would take a test with that name for a browser test.)
@pytest.mark.parametrize("entry", APP_PAGES, ids=lambda entry: entry.name)
def test_every_page_runs_without_exception_and_shows_its_registered_heading(entry):
    app = open_app(entry.file)
    assert app.title[0].value == entry.heading  # what the browser tests and the load test wait for


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.slow
def test_every_page_runs_with_every_architecture(arch):
    """One session per architecture (on its default task) walks through every page: nothing may raise."""
    app = open_app(task=ARCHITECTURES[arch].default_task, arch=arch)
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, (page, [e.value for e in app.exception])
        assert app.title[0].value
        assert app.query_params["arch"] in (arch, [arch]), page  # the page kept the pick


def test_home_shows_every_problem_kind_and_the_loaded_model():
    app = open_app()
    labels = [button.label for button in app.button]
    for name in TASKS:
        assert f"Try {name}" in labels
    body = " ".join(m.value for m in app.markdown)
    assert "**reverse**" in body and "teacher-forcing" in body
    assert any(metric.label == "Where from" and metric.value == "pretrained" for metric in app.metric)


def test_try_button_switches_the_picked_task_and_the_url():
    app = open_app()
    app.button(key="try_largest").click().run()
    assert app.sidebar.selectbox(key="pick_task").value == "largest"
    assert url_param(app, "task") == "largest"


def test_train_page_shows_curves_comparison_and_length_charts():
    app = open_app("app_pages/train.py")
    text = spec_text(app)
    assert "exact-sequence accuracy (free-running)" in text  # the learning curves
    assert "input length" in text and "trained_length" in text  # accuracy against length
    frames = [f for f in chart_data(app) if "source" in f.columns]
    ours = next(f for f in frames if "ours (default budget)" in set(f["source"]))
    assert set(compatible_archs(DEFAULT_TASK)) <= set(ours["run"])
    paired = next(f for f in frames if "tutorial (published)" in set(f["source"]))
    published = paired[(paired.run == TASKS[DEFAULT_TASK].default_arch) & (paired.source == "tutorial (published)")]
    assert list(published["accuracy"]) == [1.0]  # the reversal tutorial's 100%, beside ours on the same budget
    lengths = next(f for f in chart_data(app) if "input_length" in f.columns)
    assert lengths["input_length"].max() > 6 and (lengths["trained_length"] == 6).all()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert float(metrics["Exact-sequence accuracy"].rstrip("%")) >= 98


def test_changing_the_picker_changes_what_is_shown():
    app = open_app("app_pages/train.py")
    assert app.subheader[0].value == "reverse × teacher-forcing"
    app.sidebar.selectbox(key="pick_task").set_value("copy-first-k").run()
    assert not app.exception
    assert app.subheader[0].value == "copy-first-k × teacher-forcing"
    app.sidebar.selectbox(key="pick_arch").set_value("bahdanau").run()
    assert app.subheader[0].value == "copy-first-k × bahdanau"
    assert any("bahdanau" in set(f.get("run", [])) for f in chart_data(app))


def test_the_url_round_trips():
    wanted = default_config("copy-first-k", "luong", score="concat", units=32)
    app = open_app("app_pages/train.py", task="copy-first-k", arch="luong", score="concat", units="32")
    assert app.subheader[0].value == "copy-first-k × luong"
    assert app.sidebar.selectbox(key="pick_score").value == "concat"
    params = app.query_params
    again = open_app("app_pages/train.py", **{k: (v[0] if isinstance(v, list) else v) for k, v in params.items()})
    assert again.session_state["config"] == app.session_state["config"]
    assert app.session_state["config"].key() == wanted.key()


@pytest.mark.parametrize(
    "params",
    [
        {"task": "nope"},
        {"arch": "<script>"},
        {"units": "many"},
        {"task": "echo", "arch": "teacher-forcing", "in": "0"},
        {"task": "reverse", "arch": "stacked-lstm"},
    ],
)
def test_bad_url_parameters_show_a_message_not_an_exception(params):
    app = open_app("app_pages/train.py", **params)
    messages = [element.value for element in [*app.sidebar.warning, *app.sidebar.error]]
    assert len(messages) >= 1 and all(message.strip() for message in messages)


def test_train_an_untrained_config_through_the_page():
    from explorer.ui.runtime import get_manager

    app = open_app("app_pages/train.py", task="reverse", arch="teacher-forcing", units="8", ep="1", bs="64")
    config = app.session_state["config"]
    assert config.model.units == 8
    assert not any(metric.label == "Exact-sequence accuracy" for metric in app.metric)
    app.button(key="train").click().run()
    job = get_manager().get(config)
    assert job is not None and job.wait(120) and job.state == "done"
    time.sleep(0.1)
    app.run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert "Exact-sequence accuracy" in metrics and metrics["Epochs"] == "1"


def test_clearing_streamlits_cache_shuts_the_old_job_manager_down():
    """`st.cache_resource(on_release=...)`: "Clear cache" makes a new manager, and the old one's workers exit."""
    from explorer.ui.runtime import get_manager

    old = get_manager()
    assert get_manager() is old and not old.is_shut_down
    get_manager.clear()
    deadline = time.monotonic() + 10
    while not old.is_shut_down and time.monotonic() < deadline:
        time.sleep(0.05)
    assert old.is_shut_down
    assert get_manager() is not old


def test_every_architecture_can_be_picked_somewhere():
    from explorer.presets import compatible_archs

    assert {arch for task in TASKS for arch in compatible_archs(task)} == set(ARCHITECTURES)


def dots(app) -> list[str]:
    return [chart.proto.spec for chart in app.get("graphviz_chart")]


def test_graph_page_draws_folded_unrolled_models_and_backward_views():
    app = open_app("app_pages/graph.py", task="copy-first-k", arch="bahdanau")
    folded, unrolled, models, backward = dots(app)
    assert "enc_0 -> enc_0" in folded  # the cycle
    assert all(f"enc_0_{t} [label" in unrolled for t in range(5)) and "dec_0_4 [label" in unrolled
    assert "penwidth=" in unrolled and "constraint=false" in unrolled  # attention edges
    assert "same weights" in models
    assert "∂L" in backward
    assert any("activations per batch" in str(frame.value.columns.tolist()) for frame in app.dataframe)


def test_the_shared_cursor_highlights_the_same_step_on_every_page():
    app = open_app("app_pages/graph.py", task="copy-first-k", arch="bahdanau", step="3")
    assert "dec_0_2 [label" in dots(app)[1] and re.search(r"dec_0_2 \[[^]]*penwidth=3", dots(app)[1])
    app.switch_page("app_pages/attention.py").run()
    assert app.slider(key="cursor").value == 3
    assert any(caption.value.startswith("Output step 3 wrote") for caption in app.caption)  # the bars' caption
    app.slider(key="cursor").set_value(2).run()
    assert app.query_params["step"] in ("2", ["2"])


def test_states_page_shows_heatmaps_gates_and_the_return_state_identity():
    app = open_app("app_pages/states.py")
    frames = chart_data(app)
    hidden = frames[0]
    assert set(hidden.columns) >= {"step", "unit", "value"} and len(hidden) == 6 * 64
    gates = next(f for f in frames if "gate" in f.columns)
    assert set(gates["gate"]) == {"input", "forget", "output", "candidate"}
    table = app.dataframe[0].value
    np.testing.assert_allclose(table["return_sequences[:, -1]"], table["return_state h"], atol=1e-6)
    np.testing.assert_allclose(table["NumPy replay h(T)"], table["return_state h"], atol=1e-4)


@pytest.mark.parametrize(
    "typed, message",
    [("1 2 x", "not a whole number"), ("1 2 3", "exactly 6"), ("0 1 2 3 4 99", "from 1 to 50"), ("", "at least one")],
)
def test_bad_typed_input_shows_a_message_and_keeps_the_figures(typed, message):
    app = open_app("app_pages/states.py")
    app.text_input(key="sequence_text").set_value(typed).run()
    assert not app.exception
    assert any(message in error.value for error in app.error)
    assert app.text_input(key="sequence_text").value == typed  # nothing the student typed is lost
    assert len(app.get("vega_lite_chart")) >= 3


def test_a_typed_sequence_changes_the_states_and_reaches_the_url():
    app = open_app("app_pages/states.py")
    before = chart_data(app)[0]["value"].to_numpy()
    app.text_input(key="sequence_text").set_value("5, 6, 7, 8, 9, 10").run()
    after = chart_data(app)[0]["value"].to_numpy()
    assert not np.allclose(before, after)
    assert app.query_params["seq"] in ("5, 6, 7, 8, 9, 10", ["5, 6, 7, 8, 9, 10"])


def test_attention_page_explains_when_a_model_has_none():
    app = open_app("app_pages/attention.py", task="reverse", arch="teacher-forcing")
    assert any("has no attention" in info.value for info in app.info)
    # No attention heatmap, but the saliency map: where the outputs depend on the input.
    specs = charts(app)
    assert len(specs) == 1 and "saliency" in json.dumps(specs[0])
    app.button(key="use_bahdanau").click().run()
    assert app.session_state["config"].model.arch == "bahdanau"
    assert app.get("vega_lite_chart")


def test_attention_page_heatmap_rows_sum_to_one_and_compare_lengths():
    app = open_app("app_pages/attention.py", task="copy-first-k", arch="bahdanau")
    frames = chart_data(app)
    heat = next(f for f in frames if "weight" in f.columns and f["output_step"].nunique() > 1)
    assert heat["output_step"].nunique() == 5 and heat["input_step"].nunique() == 5
    np.testing.assert_allclose(heat.groupby("output_step")["weight"].sum(), 1.0, atol=1e-5)
    assert heat["ideal"].sum() == 2  # copy-first-k: only the first two outputs have a source step
    lengths = next(f for f in frames if "input_length" in f.columns)
    assert set(lengths["run"]) == {"teacher-forcing (no attention)", "bahdanau (attention)"}
    assert any("Alignment score" in c.value for c in app.caption)


def test_every_page_file_is_in_the_registry_once():
    """app.py's navigation is the registry (every page is switched to above); no file in app_pages/ is left out."""
    assert sorted(PAGES) == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "app_pages").glob("*.py"))
    assert len({page.name for page in APP_PAGES}) == len({page.url_path for page in APP_PAGES}) == len(APP_PAGES)
    assert [page.is_default for page in APP_PAGES].count(True) == 1


def test_decoding_page_compares_teacher_forced_and_free_running():
    app = open_app("app_pages/decoding.py", task="echo", arch="teacher-forcing")  # a 91% model: errors show
    table = app.dataframe[0].value
    assert list(table["step"]) == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(table["teacher-forced reads"][1:], table["target"][:-1])
    np.testing.assert_array_equal(table["free-running reads"][1:], table["free-running says"][:-1])
    positions = next(f for f in chart_data(app) if "mode" in f.columns)
    assert set(positions["mode"]) == {"teacher-forced", "free-running"}
    beam = dots(app)[0]
    assert "beam search, width 3" in beam and "penwidth=2" in beam
    app.select_slider(key="beam").set_value(1).run()
    assert "width 1" in dots(app)[0] and not app.exception


def test_decoding_page_overlays_scheduled_sampling():
    app = open_app("app_pages/decoding.py")
    curves = [f for f in chart_data(app) if "run" in f.columns and "metric" in f.columns]
    assert curves and set(curves[0]["run"]) == {"pure teacher forcing", "scheduled sampling (inverse sigmoid)"}
    labels = [m.label for m in app.metric]
    assert any("scheduled sampling" in label for label in labels)


def test_embeddings_page_projects_and_classifies():
    app = open_app("app_pages/embeddings.py", task="series", arch="lstm-autoencoder")
    frames = chart_data(app)
    projection = next(f for f in frames if {"x", "y", "shape"} <= set(f.columns))
    assert len(projection) == 400 and set(projection["shape"]) == {"ramp", "sine"}
    metrics = {m.label: float(m.value.rstrip("%")) for m in app.metric}
    assert metrics["Logistic regression on encoder vectors"] > metrics["Always guessing the majority"]
    app.number_input(key="point").set_value(7).run()
    neighbours = next(f for f in chart_data(app) if "line" in f.columns and f["line"].str.startswith("neighbour").any())
    assert neighbours["line"].str.startswith("neighbour").sum() == 5 * 9


def test_embeddings_page_offers_the_autoencoders_for_other_models():
    app = open_app("app_pages/embeddings.py")
    assert any("LSTM autoencoder" in info.value for info in app.info)
    app.button(key="use_composite").click().run()
    assert app.session_state["config"].task.series_mode == "composite"
    series = next(f for f in chart_data(app) if "line" in f.columns)
    assert {"input", "reconstruction", "prediction (one step ahead)"} <= set(series["line"])


def test_gradients_page_shows_the_explosion_and_the_cures():
    app = open_app("app_pages/gradients.py")
    norms = next(f for f in chart_data(app) if "norm" in f.columns)
    assert set(norms["run"]) >= {"SimpleRNN (ReLU), no clipping", "SimpleRNN (ReLU), clipnorm 1.0"}
    peaks = norms.groupby("run")["norm"].max()
    assert peaks["SimpleRNN (ReLU), no clipping"] > 100 * peaks["SimpleRNN (ReLU), clipnorm 1.0"]
    assert any("NaN" in error.value for error in app.error)


def _param(app, name):
    value = app.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def _figure_counter(app) -> tuple[int, int]:
    found = re.search(r"Figure (\d+) of (\d+)", " ".join(m.value for m in app.markdown))
    assert found, [m.value for m in app.markdown]
    return int(found.group(1)), int(found.group(2))


def test_presenter_mode_shows_one_figure_at_a_time_and_steps_through_them():
    app = open_app("app_pages/graph.py", task="reverse", arch="teacher-forcing", present="1")
    assert app.sidebar.toggle(key="presenter").value is True
    assert any("display: none" in h.proto.body for h in app.get("html"))  # the sidebar is hidden by CSS
    # One figure is drawn, and the stepper counts all of the page's figures.
    shown, total = _figure_counter(app)
    assert (shown, total, len(app.get("graphviz_chart"))) == (1, 4, 1)  # folded, unrolled, three models, backward
    first = app.get("graphviz_chart")[0].proto.spec
    assert app.button(key="figure_previous").disabled
    app.button(key="figure_next").click().run()
    assert not app.exception
    assert _figure_counter(app) == (2, 4)
    assert len(app.get("graphviz_chart")) == 1 and app.get("graphviz_chart")[0].proto.spec != first
    assert _param(app, "fig") == "2"
    # Leaving presenter mode shows every figure again.
    app.sidebar.toggle(key="presenter").set_value(False).run()
    assert _param(app, "present") == "0"
    assert len(app.get("graphviz_chart")) == total


def test_presenter_link_to_a_figure_past_the_last_shows_the_last():
    app = open_app("app_pages/states.py", task="reverse", arch="teacher-forcing", present="1", fig="99")
    assert len(app.get("vega_lite_chart")) == 1
    shown, total = _figure_counter(app)
    assert shown == total >= 3 and _param(app, "fig") == str(total)
    assert app.button(key="figure_next").disabled


AUTOENCODER = {"task": "series", "arch": "lstm-autoencoder"}
INFERENCE, TRAINING = "its own predictions (inference)", "the true previous symbol (teacher forcing, training)"


@pytest.mark.parametrize(
    ("page_file", "params", "expected"),
    [
        ("app_pages/graph.py", {"reads": TRAINING}, "training"),  # a choice is written as the label shown
        ("app_pages/decoding.py", {"beam": "5"}, 5),
        ("app_pages/states.py", {"units_shown": ["2", "4"]}, [2, 4]),
        ("app_pages/states.py", {"layer": "decoder_0 (decoder)"}, 1),
        ("app_pages/embeddings.py", {**AUTOENCODER, "proj": "t-SNE"}, "t-SNE"),
        ("app_pages/embeddings.py", {**AUTOENCODER, "colour": "slope"}, "slope"),
        ("app_pages/embeddings.py", {**AUTOENCODER, "point": "7"}, 7),
    ],
)
def test_page_controls_come_from_the_url(page_file, params, expected):
    """Each page control is bound to the URL parameter of its own name (Streamlit writes the user's changes
    back; the browser tests check that half, which AppTest cannot see)."""
    base = {"task": "reverse", "arch": "teacher-forcing"}
    app = open_app(page_file, **{**base, **params})
    name = next(k for k in params if k not in AUTOENCODER)
    assert app.session_state[name] == expected
    assert not app.warning  # a good link is read without a word


@pytest.mark.parametrize(
    ("page_file", "params", "name", "fallback", "message"),
    [
        ("app_pages/decoding.py", {"beam": "banana"}, "beam", 3, "`beam=banana` is not a choice here"),
        ("app_pages/graph.py", {"reads": "training"}, "reads", "inference", "`reads=training` is not a choice"),
        ("app_pages/states.py", {"units_shown": ["2", "99"]}, "units_shown", [2], "`units_shown=99` is not"),
        ("app_pages/embeddings.py", {**AUTOENCODER, "point": "x)"}, "point", 0, "`point=x)` is not a whole number"),
        ("app_pages/embeddings.py", {**AUTOENCODER, "point": "9999"}, "point", 0, "outside 0..399; showing 0"),
    ],
)
def test_a_page_control_link_with_a_bad_value_says_so_and_falls_back(page_file, params, name, fallback, message):
    base = {"task": "reverse", "arch": "teacher-forcing"}
    app = open_app(page_file, **{**base, **params})
    assert app.session_state[name] == fallback
    assert any(message in warning.value for warning in app.warning), [w.value for w in app.warning]


def test_a_bad_link_message_stays_until_the_control_is_changed():
    app = open_app("app_pages/decoding.py", task="reverse", arch="teacher-forcing", beam="banana")
    app.run()
    assert any("beam=banana" in warning.value for warning in app.warning)
    app.select_slider(key="beam").set_value(5).run()
    assert not any("beam=banana" in warning.value for warning in app.warning)


def test_a_click_on_the_embedding_scatter_picks_the_series_before_the_rerun(monkeypatch):
    """The scatter's `on_select` callback moves the number box to the clicked series; Streamlit runs callbacks
    before the script, so the click costs one rerun."""
    import streamlit as st

    from explorer.ui.inputs import pick_point_on_select

    state = {"embedding_chart": {"selection": {"picked": []}}, "point": 3}
    monkeypatch.setattr(st, "session_state", state)
    callback = pick_point_on_select("embedding_chart", "picked", "index", target_key="point")
    callback()  # a click beside every point: nothing picked
    assert state["point"] == 3
    state["embedding_chart"]["selection"]["picked"] = [{"index": 42}]
    callback()
    assert state["point"] == 42


def test_script_runs_do_not_reset_keras_under_the_training_threads(monkeypatch):
    """Streamlit resets Keras after every run unless the app stops it; a reset stalls background training."""
    import keras

    resets = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: resets.append(args))
    app = open_app("app_pages/train.py")
    app.run()
    assert resets == []


def test_chart_downloads_render_png_and_svg_while_streamlit_sends_charts_from_other_threads():
    """The PNG/SVG are made on click, from the chart, while other sessions' charts go through Altair's globals."""
    import threading

    import altair as alt
    import pandas as pd
    from streamlit.elements.vega_charts import _altair_globals_lock

    from explorer.ui.figures import render

    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]})).mark_line().encode(x="x", y="y")
    alt.data_transformers.register("other_session", lambda data, datasets: {"name": "elsewhere"})
    stop = threading.Event()

    def another_session_sending_charts():
        while not stop.is_set():
            with _altair_globals_lock, alt.data_transformers.enable("other_session", datasets={}):
                time.sleep(0.001)

    sender = threading.Thread(target=another_session_sending_charts)
    sender.start()
    try:
        svgs = [render(chart, "svg") for _ in range(5)]
        png = render(chart, "png")
    finally:
        stop.set()
        sender.join()
    assert png.startswith(b"\x89PNG")
    assert all(svg.lstrip().startswith(b"<svg") for svg in svgs)
    # Our data, in the downloads' 480 x 300 plot (explorer.ui.figures.EXPORT_CONFIG).
    assert all(b'aria-roledescription="line mark" d="M0,0L240,200L480,100"' in svg for svg in svgs)


def test_charts_are_schema_checked_under_test_and_sent_unchecked_when_serving(monkeypatch):
    """Serving skips Altair's validation for speed; the test suite turns it on, so a bad chart still fails here.
    The switch is the entry point's `configure_charts()` call, never a side effect of importing a module."""
    import subprocess
    import sys

    import altair as alt
    import pandas as pd

    from explorer.ui.figures import chart_spec, charts_validated, configure_charts
    from explorer.viz import state_heatmap_chart

    imported = "import altair as alt, explorer.ui.figures; print(alt.utils.schemapi.DEBUG_MODE)"
    env = {**os.environ, "SEQ2SEQ_VALIDATE_CHARTS": "0"}
    done = subprocess.run([sys.executable, "-c", imported], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"  # importing changes nothing, even with validation off in the environment

    frame = pd.DataFrame({"step": [1, 1, 2, 2], "unit": [1, 2, 1, 2], "value": [0.1, -0.2, 0.3, 0.9]})
    bad = alt.Chart(frame).mark_rect().encode(x=alt.X("step:O"), y=alt.Y("unit:O", sort="sideways"))
    try:
        assert configure_charts() and charts_validated()  # tests/conftest.py sets SEQ2SEQ_VALIDATE_CHARTS=1
        assert alt.utils.schemapi.DEBUG_MODE
        with pytest.raises(alt.utils.schemapi.SchemaValidationError):
            chart_spec(bad)
        checked = chart_spec(state_heatmap_chart(frame, "h", 2))
        monkeypatch.setenv("SEQ2SEQ_VALIDATE_CHARTS", "0")
        assert not configure_charts() and not alt.utils.schemapi.DEBUG_MODE
        assert chart_spec(bad)["encoding"]["y"]["sort"] == "sideways"  # sent as it is: the browser would complain
        assert chart_spec(state_heatmap_chart(frame, "h", 2)) == checked  # same spec, validated or not
    finally:
        configure_charts(validate=True)


def test_page_computations_are_cached_per_model_weights_not_just_per_config_key():
    """`per_model` shares a result between sessions, and between loads of the same file (the memory budget may let a
    model go and load it again); but a model retrained under the same key (its file deleted while the app runs) has
    other weights: it must not get the old one's results."""
    from explorer import architectures
    from explorer.cache import ModelStore
    from explorer.presets import default_config
    from explorer.ui.models import per_model

    config = default_config("copy-first-k", "bahdanau")
    first, reloaded = ModelStore().lookup(config).load(), ModelStore().lookup(config).load()
    retrained = architectures.build(config)  # same key, other weights
    calls = []

    def count(bundle, length: int) -> int:
        calls.append(bundle)
        return length * 2

    cached = per_model()(count)
    assert cached(first, 3) == cached(first, 3) == 6
    assert calls == [first]  # computed once for that model and argument
    assert cached(reloaded, 3) == 6 and calls == [first]  # the same weights loaded again: the same results
    assert cached(first, 4) == 8 and cached(retrained, 3) == 6
    assert calls == [first, first, retrained]  # a new argument, and another model under the same key


# -- issue 13: the typed sequence and the cursors are one shared view; the Try buttons; the picker's new fields;
# -- finding an input where the decodes diverge


def test_a_typed_sequence_follows_the_learner_to_other_pages():
    """Streamlit forgets a text box's state on a page without it; the typed sequence must survive that."""
    app = open_app("app_pages/graph.py")
    app.text_input(key="sequence_text").set_value("1 2 3 4 5 6").run()
    app.switch_page("app_pages/home.py").run()  # a page without the box
    app.switch_page("app_pages/states.py").run()
    assert not app.exception
    assert app.text_input(key="sequence_text").value == "1 2 3 4 5 6"
    assert not app.error
    assert url_param(app, "seq") == "1 2 3 4 5 6"


def test_the_states_page_has_its_own_layer_step_and_leaves_the_output_step_alone():
    app = open_app("app_pages/states.py", task="reverse", arch="teacher-forcing", step="2", layer_step="5")
    layer_step = app.slider(key="layer_cursor")
    assert layer_step.value == 5 and [slider.key for slider in app.slider] == ["layer_cursor"]
    assert layer_step.label == "Time step t of encoder_0, its own step: t stands for input step t"
    app.selectbox(key="layer").set_value(1).run()  # the decoder's 3 steps are output steps
    assert app.slider(key="layer_cursor").label.endswith("t stands for output step t")
    assert app.slider(key="layer_cursor").value == 3
    app.slider(key="layer_cursor").set_value(1).run()
    assert url_param(app, "layer_step") == "1" and url_param(app, "step") == "2"
    for page_file in ("app_pages/graph.py", "app_pages/decoding.py"):
        app.switch_page(page_file).run()
        output_step = app.slider(key="cursor")
        assert output_step.value == 2, page_file
        assert output_step.label == "Output step: the decoder's step t, which writes output t", page_file


def test_try_under_prediction_loads_the_prediction_variant_of_the_task():
    predicting = [name for name, task in TASKS.items() if task.kind == "prediction"]
    assert predicting == ["series"]
    app = open_app()
    app.button(key="try_series").click().run()
    config = app.session_state["config"]
    assert config.task.name == "series" and config.task.series_mode == "predict"
    assert config.key() == default_config("series", series_mode="predict").key()
    assert url_param(app, "mode") == "predict"
    assert any(metric.label == "Where from" and metric.value == "pretrained" for metric in app.metric)


def test_the_reversed_source_penalties_and_clipping_are_picked_in_the_sidebar_and_reach_the_url():
    app = open_app()
    before = app.session_state["config"]
    app.sidebar.toggle(key="pick_reverse").set_value(True).run()
    config = app.session_state["config"]
    assert config.model.reverse_source and config.key() != before.key()
    assert url_param(app, "rev") == "1"
    app.sidebar.select_slider(key="pick_l2").set_value(1e-4).run()
    app.sidebar.selectbox(key="pick_clip").set_value("global_clipnorm").run()
    app.sidebar.number_input(key="pick_clip_value").set_value(2.5).run()
    train = app.session_state["config"].train
    assert (train.l2, train.global_clipnorm, train.clipnorm, train.clipvalue) == (1e-4, 2.5, 0.0, 0.0)
    assert (url_param(app, "l2"), url_param(app, "gcn"), url_param(app, "cn")) == ("0.0001", "2.5", "0.0")
    app.sidebar.selectbox(key="pick_clip").set_value("clipnorm").run()
    train = app.session_state["config"].train
    assert (train.clipnorm, train.global_clipnorm) == (2.5, 0.0)  # one kind of clipping at a time


def test_a_link_with_reverse_penalty_and_clip_fills_the_picker():
    app = open_app(task="reverse", arch="teacher-forcing", cv="0.25", rev="1", l1="1e-05")
    assert app.sidebar.selectbox(key="pick_clip").value == "clipvalue"
    assert app.sidebar.number_input(key="pick_clip_value").value == 0.25
    assert app.sidebar.toggle(key="pick_reverse").value is True
    assert app.sidebar.select_slider(key="pick_l1").value == 1e-5
    assert not app.sidebar.warning


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rev": "maybe"}, "rev='maybe' in the link is not a valid reverse_source"),
        ({"l1": "-1"}, "l1='-1' in the link was not used"),
        ({"cn": "1", "gcn": "2"}, "gradients are clipped one way at a time: using cn"),
    ],
)
def test_a_bad_reverse_penalty_or_clip_link_says_so_in_the_sidebar(params, message):
    app = open_app(task="reverse", arch="teacher-forcing", units="32", **params)
    assert any(message in warning.value for warning in app.sidebar.warning), [w.value for w in app.sidebar.warning]
    assert app.session_state["config"].model.units == 32  # the rest of the link is kept


def test_random_input_puts_a_fresh_valid_sequence_in_the_box_and_the_url():
    app = open_app("app_pages/states.py")
    before = app.text_input(key="sequence_text").value
    app.button(key="sequence_random").click().run()
    after = app.text_input(key="sequence_text").value
    assert after != before and not app.error
    assert len(after.split(", ")) == 6 and all(1 <= int(v) <= 50 for v in after.split(", "))
    assert url_param(app, "seq") == after


def test_decoding_finds_an_input_where_the_decodes_diverge():
    app = open_app("app_pages/decoding.py", task="echo", arch="teacher-forcing")  # a 91% model
    assert not any("longer input" in message.value for message in app.success)  # the box takes one length
    before = app.text_input(key="sequence_text").value
    app.button(key="find_divergence").click().run()
    assert not app.exception
    found = app.text_input(key="sequence_text").value
    assert found != before and url_param(app, "seq") == found
    assert any("The two decodes first differ at step" in warning.value for warning in app.warning)
    assert any(re.match(r"^\d+ of 1,000 fresh inputs make the two decodes diverge", i.value) for i in app.info)


def test_decoding_says_so_when_no_input_among_those_tried_diverges(monkeypatch):
    import explorer.analysis

    def nothing_diverges(bundle, tries, seed):
        return explorer.analysis.DivergenceSearch(tried=tries, diverging=0)

    monkeypatch.setattr(explorer.analysis, "find_divergence", nothing_diverges)
    app = open_app("app_pages/decoding.py", task="reverse", arch="teacher-forcing")
    before = app.text_input(key="sequence_text").value
    app.button(key="find_divergence").click().run()
    assert app.text_input(key="sequence_text").value == before
    assert any(i.value.startswith("None of 1,000 fresh inputs makes the two decodes diverge") for i in app.info)


# -- training seen from every page, one session's cancel, the budget, the learner's runs compared ------------------


@pytest.fixture
def cache_kept_clean():
    """The app's model cache as it was before the test: models the test trains or saves are removed afterwards, so
    they never join another test's comparison. Yields the cache folder."""
    from explorer.ui.runtime import get_manager

    folder = get_manager().store.cache_dir
    before = set(folder.glob("*")) if folder.is_dir() else set()
    yield folder
    for path in set(folder.glob("*")) - before:
        path.unlink(missing_ok=True)


@pytest.fixture
def held_training(monkeypatch, cache_kept_clean):
    """The app's job manager with every training run held before its first step until the test sets the returned
    event, and trained small (1 epoch of 256 examples) when let go. The manager is replaced afterwards, so no
    later test is served these small models."""
    from explorer.ui.runtime import get_manager

    gate = hold_training(get_manager(), monkeypatch)
    yield gate
    gate.set()
    get_manager().shutdown(wait_s=120)  # its runs end (and save) before the cache is cleaned
    get_manager.clear()


def _wait_running(job) -> None:
    deadline = time.monotonic() + 60
    while job.state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.state == "running"


def test_pages_that_need_a_model_show_its_training_progress_and_fill_in_when_it_is_done(held_training):
    """A run started on Train & Compare is visible on States and on Welcome's "Loaded model", never "no model"."""
    from explorer.ui.runtime import get_manager

    app = open_app("app_pages/train.py", task="reverse", arch="teacher-forcing", units="4", ep="2", bs="32")
    app.button(key="train").click().run()
    job = get_manager().get(app.session_state["config"])
    _wait_running(job)

    app.switch_page("app_pages/states.py").run()
    assert not app.exception
    notices = " ".join(info.value for info in app.info)
    assert "being trained" in notices and "no trained model" not in notices
    assert [bar.text for bar in app.progress] == ["starting…"]
    assert charts(app) == []  # the page waits for the model
    app.switch_page("app_pages/home.py").run()
    notices = " ".join(info.value for info in app.info)
    assert "training on the server" in notices and "No trained model" not in notices
    assert len(app.progress) == 1

    held_training.set()
    assert job.wait(120) and job.state == "done"
    app.switch_page("app_pages/states.py").run()
    assert not app.exception and not app.progress
    assert not any("trained" in info.value for info in app.info)  # (a unit search that finds nothing may say so)
    assert len(charts(app)) >= 3  # hidden states, cell states, gates


def test_decoding_shows_the_schedules_training_and_fills_in_when_they_finish(held_training):
    from explorer.presets import scheduled_config
    from explorer.ui.runtime import get_manager

    app = open_app("app_pages/decoding.py", task="echo", arch="teacher-forcing")  # its schedule is not shipped
    assert any(caption.value.startswith("Not trained yet: scheduled sampling") for caption in app.caption)
    app.button(key="train_schedules").click().run()
    job = get_manager().get(scheduled_config(default_config("echo", "teacher-forcing")))
    _wait_running(job)
    app.run()
    assert not any(caption.value.startswith("Not trained yet") for caption in app.caption)
    assert [bar.text for bar in app.progress] == ["scheduled sampling (inverse sigmoid): starting…"]

    held_training.set()
    assert job.wait(120) and job.state == "done"
    app.run()
    assert not app.progress
    curves = next(f for f in chart_data(app) if "run" in f.columns and "metric" in f.columns)
    assert set(curves["run"]) == {"pure teacher forcing", "scheduled sampling (inverse sigmoid)"}


def test_one_session_cancelling_on_the_train_page_leaves_the_run_to_the_other(held_training):
    from explorer.ui.runtime import get_manager

    params = {"task": "reverse", "arch": "teacher-forcing", "units": "16", "ep": "2", "bs": "32"}
    alice, bob = open_app("app_pages/train.py", **params), open_app("app_pages/train.py", **params)
    alice.button(key="train").click().run()
    manager = get_manager()
    job = manager.get(alice.session_state["config"])
    _wait_running(job)
    bob.run()  # bob opened the page before alice pressed train: he sees her run, and may join it
    assert [button.label for button in bob.button if button.key == "join"] == ["Keep it training for me too"]
    bob.button(key="join").click().run()
    sessions = {alice.session_state["session_id"], bob.session_state["session_id"]}
    assert manager.waiting(job) == sessions and len(sessions) == 2

    alice.run()
    alice.button(key="cancel").click().run()
    assert job.state == "running" and not job.cancel_requested
    assert manager.waiting(job) == {bob.session_state["session_id"]}
    bob.run()
    bob.button(key="cancel").click().run()
    assert job.cancel_requested  # nobody waits on it any more
    held_training.set()
    assert job.wait(120) and job.state == "cancelled"


def test_a_link_to_a_run_over_the_training_budget_is_refused_on_the_page_before_anything_queues():
    """The issue's link: length 60, 256 units, 200 epochs. The page names the limit and the estimate."""
    from explorer.budget import BUDGET_ENV, DEFAULT_BUDGET_S, estimate_seconds
    from explorer.ui.runtime import get_manager

    app = open_app("app_pages/train.py", task="reverse", arch="teacher-forcing", units="256", ep="200", **{"in": "60"})
    config = app.session_state["config"]
    assert (config.task.input_length, config.model.units, config.train.epochs) == (60, 256, 200)
    [refusal] = [error.value for error in app.error]
    assert f"about {estimate_seconds(config):,.0f} s" in refusal
    assert f"budget of {DEFAULT_BUDGET_S:,.0f} s" in refusal and BUDGET_ENV in refusal
    assert app.button(key="train").disabled
    job = get_manager().get(config)
    assert job.state == "cancelled" and get_manager().position(job) == 0  # looked up, never queued


def test_the_comparison_includes_the_learners_own_trained_configurations(cache_kept_clean):
    """A trained non-default configuration in the cache joins the comparison, named by what differs from its
    default; one trained on another task does not."""
    from conftest import tiny_config

    from explorer.presets import run_label
    from explorer.storage import save_bundle
    from explorer.training import train

    mine = tiny_config("reverse", "luong", epochs=1)
    elsewhere = tiny_config("copy-first-k", "luong", epochs=1, units=16)
    accuracy = {}
    for config in (mine, elsewhere):
        result = train(config)
        metadata = {"metrics": result.metrics, "history": result.history}
        save_bundle(result.bundle, cache_kept_clean, metadata)
        accuracy[config.key()] = result.metrics["sequence_accuracy"]

    app = open_app("app_pages/train.py", task="reverse", arch="teacher-forcing")
    bars = next(f for f in chart_data(app) if "source" in f.columns)
    label = run_label(mine)
    assert label.startswith("luong · units=8, ")
    row = bars[bars["run"] == label]
    assert list(row["source"]) == ["ours (your settings)"]
    assert list(row["accuracy"]) == [pytest.approx(accuracy[mine.key()])]
    assert run_label(elsewhere).startswith("luong · units=16, ") and run_label(elsewhere) not in set(bars["run"])
    curves = next(f for f in chart_data(app) if "metric" in f.columns and label in set(f["run"]))
    assert set(curves[curves["run"] == label]["epoch"]) == {1}


def test_train_page_sets_published_figures_beside_ours_on_the_same_budget_only():
    """Issue 13, item 9: no published bar beside a default-budget bar; the like-for-like pair carries its budget."""
    from explorer.reproductions import like_for_like

    task = next(name for name, entry in TASKS.items() if any(p.settings for p in entry.published.values()))
    app = open_app("app_pages/train.py", task=task)
    frames = [frame for frame in chart_data(app) if {"source", "budget", "label"} <= set(frame.columns)]
    default_bars = [frame for frame in frames if "ours (default budget)" in set(frame.source)]
    paired = [frame for frame in frames if "tutorial (published)" in set(frame.source)]
    assert len(default_bars) == 1 and len(paired) == 1
    assert default_bars[0].budget.str.contains("examples, batch").all()
    expected = like_for_like(task)
    pairs = paired[0]
    for item in expected:
        rows = pairs[pairs.run == item.arch].set_index("source")
        assert rows.loc["tutorial (published)", "accuracy"] == pytest.approx(item.published)
        assert rows.loc["ours, same budget", "accuracy"] == pytest.approx(item.mean)
        assert f"{item.settings['samples_per_epoch']:,} examples" in rows.loc["ours, same budget", "budget"]
    assert rows.loc["ours, same budget", "label"] == f"{item.mean:.1%}"  # the value is written on the bar
    captions = " ".join(caption.value for caption in app.caption)
    assert "reproduce --save" in captions


def test_presenter_figure_bar_changes_the_model_and_leaves_even_on_a_page_with_nothing_to_show():
    """The sidebar is hidden while presenting, so the figure bar carries the model menu and the Leave button; a
    page that stops early (Attention, for a model without attention) still gets them."""
    app = open_app("app_pages/attention.py", task="reverse", arch="teacher-forcing", present="1")
    assert app.selectbox(key="present_arch").value == "teacher-forcing"
    assert app.button(key="presenter_leave").label == "Leave"
    app.selectbox(key="present_arch").set_value("bahdanau").run()
    assert not app.exception
    assert (_param(app, "task"), _param(app, "arch"), _param(app, "present")) == ("reverse", "bahdanau", "1")
    assert _figure_counter(app) == (1, 4)  # heatmap, one step's bars, saliency, accuracy by length
    assert len(app.get("vega_lite_chart")) == 1
    app.button(key="presenter_leave").click().run()
    assert not app.exception
    assert _param(app, "present") == "0"
    assert "fig" not in app.query_params
    assert app.sidebar.toggle(key="presenter").value is False
    assert len(app.get("vega_lite_chart")) == 4


def test_presenter_mode_draws_the_shown_chart_taller_for_the_projector():
    """The one figure shown gets the room: the heatmap's 240 px grow to 384 px, within the projector's height."""
    normal = open_app("app_pages/attention.py", task="copy-first-k", arch="bahdanau")
    presented = open_app("app_pages/attention.py", task="copy-first-k", arch="bahdanau", present="1", fig="1")
    assert charts(normal)[0]["height"] == 240
    assert charts(presented)[0]["height"] == 384


def test_an_unknown_training_backend_shows_one_notice_and_the_app_trains_locally(monkeypatch):
    """`SEQ2SEQ_JOBS` set to nothing we know: the app still works, training in its own process, and says so."""
    from explorer.jobs import LocalBackend
    from explorer.ui.runtime import get_manager

    monkeypatch.setenv("SEQ2SEQ_JOBS", "kubernetes")
    get_manager.clear()  # the manager is made once per process: this test's is made with the setting
    try:
        app = open_app()
        notices = [warning.value for warning in app.sidebar.warning]
        assert len(notices) == 1, notices
        assert "SEQ2SEQ_JOBS='kubernetes'" in notices[0] and "in this server process instead" in notices[0]
        assert isinstance(get_manager().backend, LocalBackend)
        app.switch_page("app_pages/train.py").run()
        assert not app.exception
        assert [warning.value for warning in app.sidebar.warning] == notices  # on every page, once
        monkeypatch.delenv("SEQ2SEQ_JOBS")
        get_manager.clear()
        assert not open_app().sidebar.warning  # the default backend: no notice
    finally:
        get_manager.clear()  # (shuts it down) the next test's manager is made under that test's settings
