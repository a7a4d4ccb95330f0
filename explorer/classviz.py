"""The class's answers as a figure: a pure function from a tally to a tidy frame, and one from the frame to a chart.

Like `explorer.viz` (whose habits it follows), nothing here calls Streamlit or reads the registry: the projector's
view (`explorer.ui.classroom`) passes in the tally it read.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from explorer.classroom import Tally

# The two kinds of bar: the class's answers, and (once revealed) the one the model gives.
CLASS_BAR = "the class"
MODEL_BAR = "the model's answer"
BAR_COLOURS = alt.Scale(domain=[CLASS_BAR, MODEL_BAR], range=["#9ecae1", "#d62728"])


def class_answers_frame(tally: Tally) -> pd.DataFrame:
    """One row per choice, in the poll's order: its label, how many chose it, and its share of those who answered."""
    rows = [
        {
            "choice": choice,
            "count": count,
            "share": count / tally.voters if tally.voters else 0.0,
        }
        for choice, count in tally.counts.items()
    ]
    return pd.DataFrame(rows, columns=["choice", "count", "share"])


def class_answers_chart(frame: pd.DataFrame, answer: str | None = None) -> alt.LayerChart:
    """Bars of how many chose each answer, in the question's order, each labelled with its count; the model's
    `answer`, once revealed, drawn in red (its own colour, so the chart reads the same in print)."""
    order = list(frame["choice"])
    frame = frame.assign(bar=[MODEL_BAR if choice == answer else CLASS_BAR for choice in order])
    base = alt.Chart(frame).encode(
        x=alt.X("choice:N", sort=order, title="answer", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("count:Q", title="students", axis=alt.Axis(format="d", tickMinStep=1)),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("bar:N", scale=BAR_COLOURS, legend=alt.Legend(title=None, orient="bottom")),
        tooltip=[alt.Tooltip("choice:N"), alt.Tooltip("count:Q"), alt.Tooltip("share:Q", format=".0%")],
    )
    labels = base.mark_text(dy=-8, fontSize=16).encode(text=alt.Text("count:Q"))
    return alt.layer(bars, labels).properties(height=260)
