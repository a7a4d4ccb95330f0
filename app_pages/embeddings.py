"""Autoencoder embeddings: what the LSTM autoencoder keeps of a series, in one vector."""

import numpy as np
import streamlit as st

from explorer.architectures import ARCHITECTURES
from explorer.embeddings import encode_series, neighbours, pca, projection_frame, shape_classifier, tsne
from explorer.facts import SERIES_MODES
from explorer.presets import default_config, real_valued_task
from explorer.tasks import get_task
from explorer.ui.figures import chart_spec, chart_with_downloads, code_expander
from explorer.ui.inputs import pick_point_on_select, sequence_input, url_choice, url_number
from explorer.ui.locks import locked
from explorer.ui.models import per_model, require_model
from explorer.ui.picker import current_config, use_config
from explorer.ui.presenter import figure_frame, figure_shown
from explorer.ui.replay import replay_bundle
from explorer.ui.results import training_outputs
from explorer.viz import projection_chart, series_chart, series_frame

st.title("Autoencoder embeddings")
st.write(
    "An LSTM autoencoder reads a whole series into its final hidden state and must rebuild the series (or "
    "predict its next values) from that one vector. The vector is an *embedding*: a fixed-size summary that "
    "can be plotted, compared, and used as features for another model."
)
config = current_config()
if ARCHITECTURES[config.model.arch].values != "real":
    series_task = real_valued_task()
    autoencoder = ARCHITECTURES[get_task(series_task).default_arch].title
    st.info(f"This page needs the {autoencoder} on real-valued series (the {series_task} task).")
    columns = st.columns(len(SERIES_MODES))
    for column, mode in zip(columns, SERIES_MODES, strict=True):
        column.button(
            f"Use the {mode} autoencoder",
            key=f"use_{mode}",
            on_click=use_config,
            args=(default_config(series_task, series_mode=mode),),
            disabled=locked("picker"),
        )
    st.stop()
bundle, _ = replay_bundle(config, require_model(config))
source = sequence_input(config)
outputs = training_outputs(bundle, source[None, :, None])
heads = bundle.heads
lines = {
    ("reconstruction" if head == "reconstruct" else "prediction (one step ahead)"): np.asarray(out)[0, :, 0]
    for head, out in zip(heads, outputs, strict=True)
}
frame = series_frame(source, lines)
other_modes = [m for m in SERIES_MODES if m != config.task.series_mode]
chart_with_downloads(
    series_chart(frame, f"{config.task.series_mode} autoencoder"),
    frame,
    f"series-{config.key()}",
    key="reconstruction",
    caption="Other modes: " + ", ".join(other_modes) + " (pick them in the sidebar's parameters).",
)


@per_model("Encoding 400 generated series…", 16)
def _encoded(bundle):
    encoded = encode_series(bundle)
    return encoded, pca(encoded.vectors), shape_classifier(encoded)


encoded, (projected, explained), accuracy = _encoded(bundle)
st.subheader("Encoder vectors of 400 generated series, in 2-D")
method = url_choice(st.radio, "Projection", ["PCA", "t-SNE"], key="proj", default="PCA", horizontal=True)
points = per_model("Running t-SNE…", 8)(tsne)(encoded.vectors) if method == "t-SNE" else projected
colour = url_choice(
    st.selectbox,
    "Colour by",
    ["shape", "frequency", "slope", "phase"],
    key="colour",
    default="shape",
)
projection = projection_frame(encoded, points)
# The chosen series: the number box, kept in the URL as `point`; a click on the scatter sets it before the rerun.
# It is settled before the scatter is drawn, so the rings always mark the series shown below.
selected = url_number("Or choose a series by number", 0, len(encoded.series) - 1, key="point")
near = neighbours(encoded.vectors, selected, 5)
if figure_shown("embedding_chart"):
    with figure_frame():
        st.vega_lite_chart(
            chart_spec(projection_chart(projection, colour, selected, near)),
            on_select=pick_point_on_select("embedding_chart", "picked", "index", target_key="point"),
            key="embedding_chart",
            width="stretch",
        )
        if method == "PCA":
            st.caption(f"The two components explain {explained.sum():.0%} of the vectors' variance.")
chosen = {f"series {selected}": encoded.series[selected]}
chosen.update({f"neighbour {n}": encoded.series[n] for n in near})
lines = series_frame(encoded.series[selected], {k: v for k, v in chosen.items() if k != f"series {selected}"})
chart_with_downloads(
    series_chart(
        lines,
        f"series {selected} ({encoded.properties['shape'][selected]}) and its 5 nearest neighbours in embedding space",
    ),
    lines,
    f"neighbours-{selected}",
    key="neighbours",
)

st.subheader("The encoder as a feature extractor")
cols = st.columns(3)
cols[0].metric("Logistic regression on encoder vectors", f"{accuracy['encoder vectors']:.1%}")
cols[1].metric("Same, on the raw first value", f"{accuracy['raw first value']:.1%}")
cols[2].metric("Always guessing the majority", f"{accuracy['majority class']:.1%}")
st.caption("Task: tell ramps from sines, trained on 70% of the series and scored on the held-out 30%.")
code_expander("embeddings", config, point=selected, colour=colour, projection=method)
