"""Figures as pure functions: tidy DataFrames in, Altair charts or Graphviz DOT text out.

Nothing here trains a model or calls Streamlit; each `*_frame` function turns arrays or histories into a tidy
DataFrame (also offered as the figure's CSV) and each `*_chart` turns that frame into a chart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

ACCURACY_AXIS = alt.Axis(format="%")


def _whole_numbers(**options: Any) -> alt.Axis:
    """An axis of counts (epochs, steps, lengths): whole-number ticks printed without decimals.

    Without the format, an axis whose domain is one value (one epoch) prints its tick as "1.000000".
    """
    return alt.Axis(format="d", tickMinStep=1, **options)


def _tips(*fields: str | alt.Tooltip) -> list[alt.Tooltip]:
    """Tooltip channels from field names or Tooltip objects.

    Encodings are given as Altair channel objects throughout, never as bare strings or `alt.value`/`alt.condition`
    dicts: Altair turns each of those into a channel by matching it against every class of the Vega-Lite schema,
    which was a third of a page's server time per script run (py-spy, States page).
    """
    return [field if isinstance(field, alt.Tooltip) else alt.Tooltip(field) for field in fields]


def history_frame(histories: Mapping[str, Iterable[Mapping[str, Any]]]) -> pd.DataFrame:
    """Long frame of per-epoch metrics: one row per (run, epoch, metric)."""
    rows = []
    for run, history in histories.items():
        for entry in history:
            for metric in ("loss", "sequence_accuracy", "token_accuracy"):
                value = entry.get(metric)
                if value is not None and np.isfinite(value):
                    rows.append({"run": run, "epoch": int(entry["epoch"]), "metric": metric, "value": float(value)})
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "value"])


def training_curves_chart(frame: pd.DataFrame, title: str = "Training") -> alt.VConcatChart:
    """Loss (log scale) above exact-sequence accuracy, one line per run."""
    base = alt.Chart(frame).encode(
        x=alt.X("epoch:Q", axis=_whole_numbers(), title="epoch"),
        color=alt.Color("run:N", title="run"),
        tooltip=_tips("run", "epoch", "metric", alt.Tooltip("value:Q", format=".4f")),
    )
    loss = (
        base.transform_filter(alt.datum.metric == "loss")
        .mark_line(point=True)
        .encode(y=alt.Y("value:Q", scale=alt.Scale(type="log"), title="training loss"))
        .properties(height=180, title=title)
    )
    accuracy = (
        base.transform_filter(alt.datum.metric == "sequence_accuracy")
        .mark_line(point=True)
        .encode(
            y=alt.Y(
                "value:Q",
                scale=alt.Scale(domain=[0, 1]),
                axis=ACCURACY_AXIS,
                title="exact-sequence accuracy (free-running)",
            )
        )
        .properties(height=180)
    )
    return alt.vconcat(loss, accuracy).resolve_scale(color="shared")


def length_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["run", "input_length", "sequence_accuracy", "trained_length"])


def accuracy_by_length_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Accuracy against input length, with a rule where the model was trained."""
    lines = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("input_length:Q", title="input length", axis=_whole_numbers()),
            y=alt.Y(
                "sequence_accuracy:Q",
                scale=alt.Scale(domain=[0, 1]),
                axis=ACCURACY_AXIS,
                title="exact-sequence accuracy",
            ),
            color=alt.Color("run:N"),
            tooltip=_tips("run", "input_length", alt.Tooltip("sequence_accuracy:Q", format=".1%")),
        )
    )
    trained = alt.Chart(frame).mark_rule(strokeDash=[4, 4], color="gray").encode(x=alt.X("trained_length:Q"))
    return (lines + trained).properties(height=260)


def matrix_frame(
    matrix: np.ndarray, row_name: str, column_name: str, value_name: str = "value", row_labels=None, column_labels=None
) -> pd.DataFrame:
    """(rows, columns) array -> tidy frame with 1-based positions and optional labels."""
    matrix = np.asarray(matrix)
    rows, columns = np.meshgrid(np.arange(matrix.shape[0]), np.arange(matrix.shape[1]), indexing="ij")
    frame = pd.DataFrame(
        {row_name: rows.ravel() + 1, column_name: columns.ravel() + 1, value_name: matrix.ravel().astype(float)}
    )
    if row_labels is not None:
        frame[f"{row_name}_label"] = [str(row_labels[r]) for r in rows.ravel()]
    if column_labels is not None:
        frame[f"{column_name}_label"] = [str(column_labels[c]) for c in columns.ravel()]
    return frame


def states_frame(trace, which: str = "hidden") -> pd.DataFrame:
    """One layer's (time, units) states for the first example -> tidy frame (step, unit, value)."""
    values = trace.hidden if which == "hidden" else trace.cell_state
    return matrix_frame(values[0], "step", "unit", "value")


def state_heatmap_chart(
    frame: pd.DataFrame,
    title: str,
    highlight_step: int | None = None,
    domain: tuple[float, float] = (-1.0, 1.0),
    selection: str | None = None,
    highlight_unit: int | None = None,
) -> alt.LayerChart:
    """Units down, time across; a red frame marks the cursor's step. With `selection`, a click on a cell selects
    its (step, unit) under that name (for `on_select`); `highlight_unit` rings the cell (highlight_step, unit)."""
    heat = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("step:O", title="time step"),
            y=alt.Y("unit:O", title="unit", axis=alt.Axis(labelOverlap=True)),
            color=alt.Color(
                "value:Q", scale=alt.Scale(scheme="redblue", domain=list(domain), reverse=True), title="value"
            ),
            tooltip=_tips("step", "unit", alt.Tooltip("value:Q", format=".3f")),
        )
        .properties(title=title, height=min(360, 8 * int(frame["unit"].max()) + 40))
    )
    if selection is not None:
        heat = heat.add_params(alt.selection_point(name=selection, fields=["step", "unit"], on="click"))
    chart = heat + _cursor_rule(frame, highlight_step, "step")
    if highlight_unit is not None and highlight_step is not None:
        cell = pd.DataFrame({"step": [highlight_step], "unit": [highlight_unit]})
        chart += (
            alt.Chart(cell)
            .mark_rect(filled=False, stroke="black", strokeWidth=2)
            .encode(x=alt.X("step:O"), y=alt.Y("unit:O"))
        )
    return chart


def _cursor_rule(frame: pd.DataFrame, step: int | None, field: str):
    cursor = pd.DataFrame({field: [step if step is not None else -1]})
    return (
        alt.Chart(cursor)
        .mark_rect(filled=False, stroke="#d62728", strokeWidth=3)
        .encode(x=alt.X(f"{field}:O"), opacity=alt.OpacityValue(1.0 if step is not None else 0.0))
    )


def gates_frame(trace) -> pd.DataFrame:
    """All gates of one layer for the first example -> (gate, step, unit, value)."""
    frames = []
    for gate, values in trace.gates.items():
        frame = matrix_frame(values[0], "step", "unit", "value")
        frame.insert(0, "gate", gate)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["gate", "step", "unit", "value"])


def gates_chart(frame: pd.DataFrame, highlight_step: int | None = None) -> alt.FacetChart:
    """One small heatmap per gate; sigmoid gates read 0 (closed) to 1 (open), the candidate -1 to 1."""
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("step:O", title="time step"),
            y=alt.Y("unit:O", title="unit", axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color("value:Q", scale=alt.Scale(scheme="viridis", domain=[-1, 1]), title="activation"),
            stroke=alt.StrokeValue(
                None, condition={"test": f"(datum.step === {highlight_step or -1})", "value": "#d62728"}
            ),
            tooltip=_tips("gate", "step", "unit", alt.Tooltip("value:Q", format=".3f")),
        )
        .properties(width=160, height=160)
        .facet(facet=alt.Facet("gate:N", title=None), columns=4)
    )


def unit_lines_chart(frame: pd.DataFrame, units: list[int], highlight_step: int | None = None) -> alt.LayerChart:
    """Selected units' values over time, as lines."""
    chosen = frame[frame["unit"].isin(units)]
    lines = (
        alt.Chart(chosen)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", axis=_whole_numbers(), title="time step"),
            y=alt.Y("value:Q"),
            color=alt.Color("unit:N"),
            tooltip=_tips("unit", "step", alt.Tooltip("value:Q", format=".3f")),
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"step": [highlight_step or 0]}))
        .mark_rule(color="#d62728")
        .encode(x=alt.X("step:Q"), opacity=alt.OpacityValue(1.0 if highlight_step else 0.0))
    )
    return (lines + rule).properties(height=240)


def attention_frame(weights: np.ndarray, source, outputs, ideal: np.ndarray | None = None) -> pd.DataFrame:
    """(target_length, input_length) weights -> (output_step, input_step, weight, labels, ideal flag)."""
    frame = matrix_frame(
        weights, "output_step", "input_step", "weight", row_labels=list(outputs), column_labels=list(source)
    )
    if ideal is not None:
        frame["ideal"] = [bool(ideal[o - 1] == i - 1) for o, i in zip(frame.output_step, frame.input_step, strict=True)]
    else:
        frame["ideal"] = False
    return frame


VISIBLE_SPACE = "␣"

# Heatmap cells are at least this wide (px) wherever the chart is drawn at its own size (the PNG/SVG downloads);
# written weights ("0.42") fit in them. Past `_WRITTEN_CELLS_MAX` input steps the weights are left to the colour:
# on a page about 900 px wide the cells would be narrower than the numbers.
_CELL_WIDTH = 44
_WRITTEN_CELLS_MAX = 18


def _symbol_axis(frame: pd.DataFrame, step: str, title: str) -> alt.Axis:
    """An axis over the 1-based positions in `frame[step]` that prints the symbol at each position instead.

    The scale stays on positions, so a symbol that occurs twice keeps two columns; `labelExpr` looks each
    position's symbol up in an array literal (Vega expressions index arrays as JavaScript does).
    """
    symbols = frame.drop_duplicates(step).set_index(step)[f"{step}_label"].sort_index()
    # A space (a character task's separator) would be an invisible label: show it as the visible-space sign.
    table = json.dumps([str(symbol) if str(symbol).strip() else VISIBLE_SPACE for symbol in symbols])
    return alt.Axis(title=title, labelAngle=0, labelExpr=f"{table}[datum.value - 1] || ''")


def attention_heatmap_chart(
    frame: pd.DataFrame, highlight_step: int | None = None, measure: str = "attention", scheme: str = "greens"
) -> alt.LayerChart:
    """Output symbols down, input symbols across (in the order they were read and written); each cell is the
    weight an output step put on an input step, written in the cell while the cells are wide enough. Circles mark
    the task's ideal alignment, a red rule the cursor's row. Any (output, input) map whose rows sum to 1 draws the
    same way (a row-normalised saliency map), titled `measure` and coloured with the Vega `scheme`."""
    x = alt.X("input_step:O", axis=_symbol_axis(frame, "input_step", "input symbol, in order"))
    y = alt.Y("output_step:O", axis=_symbol_axis(frame, "output_step", "output symbol, in order"))
    heat = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color("weight:Q", scale=alt.Scale(scheme=scheme, domain=[0, 1]), title=measure),
            tooltip=_tips(
                "output_step",
                "input_step",
                "input_step_label",
                "output_step_label",
                alt.Tooltip("weight:Q", format=".3f"),
            ),
        )
    )
    layers = [heat]
    if frame["input_step"].max() <= _WRITTEN_CELLS_MAX:
        layers.append(
            alt.Chart(frame)
            .mark_text(fontSize=12)
            .encode(
                x=alt.X("input_step:O"),
                y=alt.Y("output_step:O"),
                text=alt.Text("weight:Q", format=".2f"),
                color=alt.ColorValue("black", condition={"test": "datum.weight > 0.5", "value": "white"}),
            )
        )
    layers.append(
        alt.Chart(frame[frame["ideal"]])
        .mark_point(shape="circle", size=500, color="#ff7f0e", strokeWidth=2)
        .encode(x=alt.X("input_step:O"), y=alt.Y("output_step:O"))
    )
    if highlight_step:
        cursor = pd.DataFrame({"output_step": [highlight_step]})
        layers.append(alt.Chart(cursor).mark_rule(color="#d62728", strokeWidth=2).encode(y=alt.Y("output_step:O")))
    return alt.layer(*layers).properties(width=alt.Step(_CELL_WIDTH), height=40 * int(frame["output_step"].max()) + 40)


def attention_bars_chart(frame: pd.DataFrame, output_step: int) -> alt.Chart:
    """The weights one output step puts on each input step, the input symbols along the bottom."""
    row = frame[frame["output_step"] == output_step]
    return (
        alt.Chart(row)
        .mark_bar()
        .encode(
            x=alt.X("input_step:O", axis=_symbol_axis(row, "input_step", "input symbol, in order")),
            y=alt.Y("weight:Q", scale=alt.Scale(domain=[0, 1]), title=f"attention of output step {output_step}"),
            color=alt.ColorValue("#2ca02c", condition={"test": "datum.ideal", "value": "#ff7f0e"}),
            tooltip=_tips("input_step", "input_step_label", alt.Tooltip("weight:Q", format=".3f")),
        )
        .properties(height=220)
    )


def gradient_steps_frame(gradients: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [
        {"part": part, "step": step + 1, "gradient": float(value)}
        for part, values in gradients.items()
        for step, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=["part", "step", "gradient"])


def gradient_steps_chart(frame: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("step:O", title="time step"),
            y=alt.Y("gradient:Q", title="|∂L/∂x_t|"),
            column=alt.Column("part:N", title=None),
            tooltip=_tips("part", "step", alt.Tooltip("gradient:Q", format=".2e")),
        )
        .properties(width=260, height=200)
    )


def decode_steps_frame(source_targets, forced, free, symbol: Callable[[int], Any] = int) -> pd.DataFrame:
    """Side-by-side per-step table: target, teacher-forced choice and probability, free-running ditto; `symbol`
    writes each token (a task's `Task.symbol` for characters; its number by default).

    The "reads" columns (what the decoder was fed at each step) only exist for decoders that read a previous
    symbol; stacked and RepeatVector models produce every step in one pass and have none.
    """
    targets = np.asarray(source_targets)
    rows = []
    for step in range(len(targets)):
        row = {"step": step + 1, "target": symbol(targets[step])}
        for name, trace in (("teacher-forced", forced), ("free-running", free)):
            if trace.fed_tokens is not None:
                row[f"{name} reads"] = symbol(trace.fed_tokens[0, step])
            row[f"{name} says"] = symbol(trace.tokens[0, step])
            row[f"p ({name})"] = float(trace.confidence[0, step])
        rows.append(row)
    return pd.DataFrame(rows)


def top_candidates_frame(symbols: np.ndarray, chances: np.ndarray, symbol: Callable[[int], Any] = int) -> pd.DataFrame:
    """(T, k) candidate symbols and probabilities -> one row per step: "1st", "2nd", ... as "symbol (p)"."""
    ordinal = ["1st", "2nd", "3rd", *[f"{n}th" for n in range(4, 11)]]
    rows = []
    for step, (row_symbols, row_chances) in enumerate(zip(symbols, chances, strict=True)):
        row = {"step": step + 1}
        for rank, (token, chance) in enumerate(zip(row_symbols, row_chances, strict=True)):
            row[ordinal[rank]] = f"{symbol(token)} ({chance:.3f})"
        rows.append(row)
    return pd.DataFrame(rows)


def samples_frame(samples, write: Callable[[Any], str], greedy, greedy_log: float, best_beam) -> pd.DataFrame:
    """Sampled sequences beside the greedy one and the best beam: how each was made, the sequence as written by
    `write`, its log probability under the model, and whether it is the greedy sequence."""
    greedy = list(np.asarray(greedy).tolist())
    beam_tokens, beam_score = best_beam
    rows = [
        {"made by": "greedy", "sequence": write(greedy), "log probability": greedy_log, "same as greedy": True},
        {
            "made by": "best beam",
            "sequence": write(beam_tokens),
            "log probability": float(beam_score),
            "same as greedy": list(beam_tokens) == greedy,
        },
    ]
    for number, (tokens, log_probability) in enumerate(
        zip(samples.tokens.tolist(), samples.log_probability, strict=True), start=1
    ):
        rows.append(
            {
                "made by": f"sample {number}",
                "sequence": write(tokens),
                "log probability": float(log_probability),
                "same as greedy": tokens == greedy,
            }
        )
    return pd.DataFrame(rows)


def position_accuracy_chart(frame: pd.DataFrame) -> alt.Chart:
    """Accuracy per output position (solid) and the share of sequences still all-correct (dashed), by mode."""
    long = frame.melt(
        id_vars=["mode", "position"],
        value_vars=["accuracy", "all correct so far"],
        var_name="measure",
        value_name="value",
    )
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("position:O", title="output position"),
            y=alt.Y("value:Q", scale=alt.Scale(zero=False), axis=ACCURACY_AXIS, title="accuracy"),
            color=alt.Color("mode:N", title="decoding"),
            strokeDash=alt.StrokeDash("measure:N", title=None),
            tooltip=_tips("mode", "position", "measure", alt.Tooltip("value:Q", format=".1%")),
        )
        .properties(height=260)
    )


def series_frame(inputs: np.ndarray, outputs: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [{"line": "input", "step": t + 1, "value": float(v)} for t, v in enumerate(inputs)]
    for name, values in outputs.items():
        offset = 2 if name.startswith("predict") else 1  # a prediction of step t+1 is drawn at t+1
        rows += [{"line": name, "step": t + offset, "value": float(v)} for t, v in enumerate(values)]
    return pd.DataFrame(rows)


def series_chart(frame: pd.DataFrame, title: str = "") -> alt.Chart:
    """Series against time step, one coloured and dashed line each, with a legend naming them.

    The y axis spans 0..1 (where the generated series live) and stretches to any value beyond it: a
    reconstruction that overshoots must be seen overshooting, not cut off at the top of the plot.
    """
    low = min(0.0, float(frame["value"].min())) if len(frame) else 0.0
    high = max(1.0, float(frame["value"].max())) if len(frame) else 1.0
    # Colour and dash encode the same field, so Vega-Lite draws one legend for both; `legend=None` on either
    # channel would remove that merged legend altogether.
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", axis=_whole_numbers(), title="time step"),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[low, high], nice=True), title="value"),
            color=alt.Color("line:N", title=None),
            strokeDash=alt.StrokeDash("line:N", title=None),
            tooltip=_tips("line", "step", alt.Tooltip("value:Q", format=".3f")),
        )
        .properties(height=220, title=title)
    )


def _drawable_on_log(values: pd.Series) -> pd.Series:
    return (values > 0) & np.isfinite(values)


def undrawable_gradient_count(frame: pd.DataFrame) -> int:
    return int((~_drawable_on_log(frame["norm"])).sum())


def projection_chart(
    frame: pd.DataFrame, colour: str, selected: int | None = None, neighbour_indices=()
) -> alt.LayerChart:
    """Scatter of 2-D projected encodings coloured by a generating property; a click selects a point."""
    pick = alt.selection_point(name="picked", fields=["index"], on="click")
    kind = "Q" if pd.api.types.is_numeric_dtype(frame[colour]) else "N"  # pandas 3 strings are not `object`
    points = (
        alt.Chart(frame)
        .mark_circle(size=60, opacity=0.8)
        .encode(
            x=alt.X("x:Q", title="component 1"),
            y=alt.Y("y:Q", title="component 2"),
            color=alt.Color(f"{colour}:{kind}", scale=alt.Scale(scheme="viridis") if kind == "Q" else alt.Undefined),
            tooltip=_tips(
                "index", "shape", alt.Tooltip("frequency:Q", format=".3f"), alt.Tooltip("slope:Q", format=".3f")
            ),
        )
        .add_params(pick)
    )
    marked = frame[frame["index"].isin([selected, *neighbour_indices])] if selected is not None else frame.iloc[:0]
    rings = (
        alt.Chart(marked).mark_point(size=220, color="#d62728", strokeWidth=2).encode(x=alt.X("x:Q"), y=alt.Y("y:Q"))
    )
    return (points + rings).properties(height=380)


def gradient_norms_frame(norms_by_run: Mapping[str, Iterable[Mapping[str, Any]]]) -> pd.DataFrame:
    """Recorded gradient norms -> tidy frame (run, step, layer, norm), one row per layer per measurement.

    `norms_by_run` maps a run's name to its `TrainResult.gradient_norms` (also kept in the model's sidecar):
    one dict per measurement with "step", "epoch" and one norm per layer. A norm that was NaN, infinite or not
    recorded becomes a missing value, and those rows are dropped: the run stopped there.
    """
    rows = []
    for run, measurements in norms_by_run.items():
        for entry in measurements:
            for layer, value in entry.items():
                if layer in ("step", "epoch"):
                    continue
                finite = value is not None and np.isfinite(value)
                rows.append(
                    {"run": run, "step": entry["step"], "layer": layer, "norm": float(value) if finite else None}
                )
    return pd.DataFrame(rows, columns=["run", "step", "layer", "norm"]).dropna()


# Runs side by side in the gradients chart. Four panels and a legend beside them were wider than the page's
# column at 1440 px (the fourth panel and the legend were cut off); facet charts keep their own size in Streamlit
# (autosize "pad"), so the grid wraps after two panels and the legend goes underneath.
_GRADIENT_PANELS_PER_ROW = 2


def gradient_norms_chart(frame: pd.DataFrame) -> alt.FacetChart:
    """Per-layer gradient norm over training steps (log scale), one panel per run, two panels to a row.

    A norm of exactly 0 (a layer that got no gradient at a step) or an infinite one has no place on a log axis:
    Vega-Lite would stretch the domain to -Infinity or Infinity and flatten every other point, so those rows are
    left out of the drawing (they stay in the CSV). Pages say how many with `undrawable_gradient_count`.
    """
    return (
        alt.Chart(frame[_drawable_on_log(frame["norm"])])
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="training step", axis=_whole_numbers()),
            y=alt.Y("norm:Q", scale=alt.Scale(type="log"), title="gradient norm"),
            color=alt.Color("layer:N", legend=alt.Legend(orient="bottom", direction="horizontal")),
            tooltip=_tips("run", "layer", "step", alt.Tooltip("norm:Q", format=".3e")),
        )
        .properties(width=300, height=180)
        .facet(facet=alt.Facet("run:N", title=None), columns=_GRADIENT_PANELS_PER_ROW)
    )


def labelled_bars_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows of `run`, `source`, `accuracy` and `budget` (the training budget in words), plus the bar's label."""
    frame = pd.DataFrame(list(rows), columns=["run", "source", "accuracy", "budget"])
    frame["label"] = frame["accuracy"].map(lambda value: f"{value:.1%}")
    return frame


def labelled_bars_chart(frame: pd.DataFrame, colours: Mapping[str, str] | None = None) -> alt.LayerChart:
    """Grouped horizontal bars of exact-sequence accuracy, each with its value written beside it, and the
    training budget behind every bar in the tooltip, so no bar is read without how it was obtained."""
    sources = list(dict.fromkeys(frame["source"]))
    palette = colours or {}
    scale = alt.Scale(domain=sources, range=[palette.get(s, "#1f77b4") for s in sources])
    base = alt.Chart(frame).encode(
        y=alt.Y("run:N", title=None, sort=None),
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 1.12]), axis=ACCURACY_AXIS, title="exact-sequence accuracy"),
        yOffset=alt.YOffset("source:N", sort=sources),
        tooltip=_tips("run", "source", alt.Tooltip("accuracy:Q", format=".1%"), "budget"),
    )
    bars = base.mark_bar().encode(color=alt.Color("source:N", scale=scale, title=None))
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("label:N"))
    return (bars + labels).properties(height=alt.Step(20))


def unit_firing_frame(on_by_position: np.ndarray) -> pd.DataFrame:
    """The share of inputs on which a unit is on at each step (time,) -> tidy frame (step, share on)."""
    shares = np.asarray(on_by_position, float)
    return pd.DataFrame({"step": np.arange(1, len(shares) + 1), "share on": shares})


def unit_firing_chart(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Bars: at each step of the layer, the share of the inputs on which the unit is above the threshold."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("step:O", title="time step of the layer"),
            y=alt.Y("share on:Q", scale=alt.Scale(domain=[0, 1]), axis=ACCURACY_AXIS, title="share of inputs on"),
            tooltip=_tips("step", alt.Tooltip("share on:Q", format=".1%")),
        )
        .properties(title=title, height=200)
    )


def track_scores_frame(scores: Iterable[Any]) -> pd.DataFrame:
    """`explorer.unitsearch.TrackScore`s -> tidy frame (track, kind, measure, value, label); an undefined score
    (a constant track) is drawn as 0 and labelled "undefined"."""
    rows = [
        {
            "track": score.track,
            "kind": score.kind,
            "measure": score.measure,
            "value": 0.0 if np.isnan(score.value) else float(score.value),
            "label": "undefined" if np.isnan(score.value) else f"{score.measure} = {score.value:.2f}",
        }
        for score in scores
    ]
    return pd.DataFrame(rows, columns=["track", "kind", "measure", "value", "label"])


def track_scores_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Horizontal bars: how well a unit's activity predicts each track (r² or η², 0 to 1), each labelled."""
    base = alt.Chart(frame).encode(
        y=alt.Y("track:N", title=None, sort=None),
        x=alt.X(
            "value:Q",
            scale=alt.Scale(domain=[0, 1.25]),  # room for the written scores right of a bar
            axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1.0]),
            title="how well the unit predicts it (r² or η²)",
        ),
        tooltip=_tips("track", "kind", "measure", alt.Tooltip("value:Q", format=".3f")),
    )
    bars = base.mark_bar().encode(color=alt.Color("kind:N", title="track"))
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("label:N"))
    return (bars + labels).properties(height=alt.Step(24))


def intervention_frame(outcome, symbol: Callable[[int], Any] = int) -> pd.DataFrame:
    """An `explorer.interventions.Outcome` -> one row per output step: the symbol written before and after, their
    probabilities, how the probability of the symbol written before moved, and whether the step changed."""
    before, after = outcome.before, outcome.after
    rows = []
    for step in range(len(before.tokens)):
        was, now = int(before.tokens[step]), int(after.tokens[step])
        rows.append(
            {
                "step": step + 1,
                "before": symbol(was),
                "after": symbol(now),
                "p before": float(before.probabilities[step, was]),
                "p after": float(after.probabilities[step, now]),
                "shift": float(outcome.shift[step]),
                "changed": was != now,
                "effects start": outcome.first_effect == step,
            }
        )
    return pd.DataFrame(rows)


def probability_shift_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Per output step, how the probability of the symbol written before moved (after minus before); changed
    steps in red, a dashed rule where the effects start."""
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("step:O", title="output step", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("shift:Q", scale=alt.Scale(domain=[-1, 1]), title="Δ p of the earlier symbol"),
            color=alt.condition("datum.changed", alt.value("#d62728"), alt.value("#7f7f7f")),
            tooltip=_tips("step", "before", "after", alt.Tooltip("shift:Q", format="+.3f"), "changed"),
        )
    )
    start = (
        alt.Chart(frame[frame["effects start"]])
        .mark_rule(strokeDash=[4, 4], color="#ff7f0e", strokeWidth=2)
        .encode(x=alt.X("step:O"))
    )
    return (bars + start).properties(height=220)
