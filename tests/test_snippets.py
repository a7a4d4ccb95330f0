"""The code behind the figures: every program a page shows is filled in with what the page shows, and runs.

The programs are collected from the pages themselves (AppTest, the expander's `st.code`), so what is tested is
exactly what a student copies.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.presets import default_config
from explorer.snippets import config_expression, figure_code, figure_names
from explorer.ui.pages import page_entry

ROOT = Path(__file__).resolve().parents[1]

# Choices are written in a link as the labels shown.
TRAINING = "the true previous symbol (teacher forcing, training)"
# A link per page with a program: shipped models, and choices away from the defaults where the page has them.
LINKS: dict[str, dict[str, str]] = {
    "graph": {"task": "copy-first-k", "arch": "bahdanau", "seq": "7, 3, 9, 1, 12", "reads": TRAINING},
    "states": {
        "task": "reverse",
        "arch": "teacher-forcing",
        "layer": "decoder_0 (decoder)",
        "layer_step": "2",
        "unit": "3",
        "search_state": "cell c",
        "threshold": "0.5",
    },
    "attention": {"task": "copy-first-k", "arch": "luong", "seq": "4, 8, 15, 16, 23", "step": "2"},
    "decoding": {"task": "reverse", "arch": "teacher-forcing", "tf": "inverse-sigmoid", "beam": "4"},
    "embeddings": {"task": "series", "arch": "lstm-autoencoder", "mode": "predict", "point": "7", "colour": "slope"},
    "gradients": {},
    "whatif": {
        "task": "copy-first-k",
        "arch": "bahdanau",
        "whatif": "change an input",
        "change_at": "2",
        "change_to": "5",
    },
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "snippet-cache"))


def shown_program(page: str) -> tuple[str, AppTest]:
    """Open `page` by its link and return the one program it shows, with the app."""
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in LINKS[page].items():
        app.query_params[key] = value
    app.run()
    app.switch_page(page_entry(page).file).run()
    assert not app.exception, [e.value for e in app.exception]
    programs = [code.value for code in app.main.code]  # the sidebar's code block is the link for a class
    assert len(programs) == 1, programs
    return programs[0], app


def test_every_page_with_a_program_has_a_link_here():
    assert set(LINKS) == set(figure_names())


@pytest.mark.parametrize("page_name", sorted(LINKS))
def test_the_program_a_page_shows_is_filled_in_with_what_the_page_shows(page_name):
    """The picked configuration as a `default_config(...)` call, the typed sequence and the page's own choices;
    nothing left for the reader to define (the programs used to call `bundle` and `inputs` that were never made)."""
    program, app = shown_program(page_name)
    compile(program, f"{page_name}.py", "exec")
    assert "$" not in program.replace("$SEQ2SEQ_CACHE_DIR", "")
    if page_name != "gradients":
        config = app.session_state["config"]
        assert f"config = {config_expression(config)}\n" in program
        assert {key: value for key, value in LINKS[page_name].items() if key in ("task", "arch")} == {
            "task": config.task.name,
            "arch": config.model.arch,
        }
    expected = {
        "graph": ["source = np.array([7, 3, 9, 1, 12])", 'mode = "training"'],
        "states": [
            "layer = traced.layers[1]",
            "step = 2 ",
            "unit = 3 ",
            'state = "cell"  #',
            "threshold = 0.5\n",
        ],
        "attention": ["source = np.array([4, 8, 15, 16, 23])", "step = 2 "],
        "decoding": ['teacher_forcing="inverse-sigmoid"', "width = 4\n"],
        "embeddings": ['series_mode="predict"', "selected = 7\n", 'colour = "slope"', 'projection = "PCA"'],
        "gradients": ["gradient_configs()"],
        "whatif": ["intervention = ChangeInput(position=1, symbol=5)\n", "outcome = intervene(bundle, source, "],
    }[page_name]
    for line in expected:
        assert line in program


def test_a_program_is_filled_in_or_says_what_it_lacks():
    config = default_config("reverse", "teacher-forcing", units=32, **{"train.seed": 3})
    assert config_expression(config) == 'default_config("reverse", "teacher-forcing", units=32, **{"train.seed": 3})'
    namespace = {"default_config": default_config}
    assert eval(config_expression(config), namespace).key() == config.key()
    with pytest.raises(KeyError, match="needs source, step"):
        figure_code("attention", config)
    with pytest.raises(KeyError, match="needs config"):
        figure_code("states", source=[1, 2, 3, 4, 5, 6], layer=0, step=1)


def _data_marks(svg: str) -> int:
    """How many data items (points, lines, bars, cells) a rendered chart draws, axes and legends aside."""
    return len(re.findall(r'role="graphics-symbol" aria-roledescription="(?!axis|legend)', svg))


@pytest.mark.slow  # seven programs, each a fresh Python that loads TensorFlow and a model (about 15 s each)
@pytest.mark.parametrize("page_name", sorted(LINKS))
def test_every_program_a_page_shows_runs_and_writes_its_figures(page_name, tmp_path):
    """Copied into a file and run in a fresh interpreter, away from the repository, the program writes every
    figure it names: charts with data drawn in them (the Gradients page's used to draw nothing), graphs as DOT."""
    program, app = shown_program(page_name)
    (tmp_path / f"{page_name}.py").write_text(program)
    env = {**os.environ, "SEQ2SEQ_CACHE_DIR": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, f"{page_name}.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "No stored model" not in done.stdout  # the page's own model, from pretrained/
    written = re.search(r"^wrote (.+)$", done.stdout, re.MULTILINE)
    assert written, done.stdout
    names = re.split(r", | and ", written.group(1))
    assert names
    for name in names:
        text = (tmp_path / name).read_text()
        if name.endswith(".svg"):
            assert _data_marks(text) > 0, name
        else:
            assert text.startswith("digraph") and "->" in text, name
    if page_name == "attention":  # the same weights as the page's heatmap, cell for cell
        drawn = re.findall(r'aria-roledescription="text mark"[^>]*>([\d.]+)<', (tmp_path / "attention.svg").read_text())
        assert sorted(drawn) == sorted(f"{weight:.2f}" for weight in _heatmap_weights(app))


def _heatmap_weights(app: AppTest) -> list[float]:
    """Every cell's weight in the heatmap the page drew (the largest of its chart's datasets)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    chart = app.get("vega_lite_chart")[0]
    frames = [convert_arrow_bytes_to_pandas_df(data.data.data) for data in chart.proto.datasets]
    return list(max((frame for frame in frames if "weight" in frame.columns), key=len)["weight"])
