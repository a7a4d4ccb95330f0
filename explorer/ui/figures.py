"""Figures on a page and their downloads: Altair charts as Vega-Lite specs, Graphviz DOT, and the code behind them.

- `configure_charts()`: the app's entry point calls it once per run to decide whether charts are schema-checked;
- `chart_with_downloads(chart, data, name)`: the chart, with PNG, SVG and CSV downloads made when clicked;
- `chart_spec(chart)`: the Vega-Lite spec a page sends (also for charts drawn with `st.vega_lite_chart` directly);
- `dot_with_download(dot, name)`, `code_expander(code)`.

Every figure goes through `figure_shown()`, so presenter mode can show one at a time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from explorer.ui.presenter import figure_shown

VALIDATE_CHARTS_ENV = "SEQ2SEQ_VALIDATE_CHARTS"
# Whether `chart_spec` checks each chart against the Vega-Lite schema. Altair's own default (on) until the app
# says otherwise with `configure_charts()`, so code that merely imports this module changes nothing.
_validate_charts = True


def configure_charts(validate: bool | None = None) -> bool:
    """Turn Altair's schema validation on or off for the charts this process makes; returns the setting.

    `validate=None` reads `SEQ2SEQ_VALIDATE_CHARTS`: "1" validates (the test suite sets it, so every chart every
    page makes in AppTest and in the browser tests is checked), anything else serves charts unchecked. Measured
    with py-spy, validation was most of the States page's server time per rerun, which a class of thirty pays
    thirty times per click; it only improves the message of a chart built wrongly, which the tests catch.
    It switches Altair's "debug mode" (validating every schema object as it is made) and `chart_spec`'s final
    check together; both are process-wide, which is why `app.py` calls this rather than an import doing it.
    """
    global _validate_charts
    if validate is None:
        validate = os.environ.get(VALIDATE_CHARTS_ENV) == "1"
    schemapi = alt.utils.schemapi
    (schemapi.enable_debug_mode if validate else schemapi.disable_debug_mode)()
    _validate_charts = validate
    return validate


def charts_validated() -> bool:
    """Whether `chart_spec` validates charts (see `configure_charts`)."""
    return _validate_charts


def chart_with_downloads(chart: alt.TopLevelMixin, data: pd.DataFrame, name: str, key: str | None = None) -> None:
    """Show an Altair chart with PNG, SVG and CSV downloads of it, each made only when its button is clicked."""
    if not figure_shown():
        return
    st.vega_lite_chart(chart_spec(chart), width="stretch")
    key = key or name
    downloads = (
        ("PNG", lambda: render(chart, "png"), "png", "image/png"),
        ("SVG", lambda: render(chart, "svg"), "svg", "image/svg+xml"),
        ("CSV", lambda: data.to_csv(index=False).encode("utf-8"), "csv", "text/csv"),
    )
    for column, (label, make, suffix, mime) in zip(st.columns(len(downloads)), downloads, strict=True):
        column.download_button(
            label, data=make, file_name=f"{name}.{suffix}", mime=mime, key=f"{key}_{suffix}", on_click="ignore"
        )


def _altair_lock() -> threading.Lock:
    """Altair's data transformer and theme are process-wide; Streamlit switches them for every chart it sends,
    under this lock. Serialising a chart ourselves while another session's chart is being sent must take it too,
    or ours runs with Streamlit's transformer half switched in (seen in the 30-user load test)."""
    try:
        from streamlit.elements.vega_charts import _altair_globals_lock

        return _altair_globals_lock
    except ImportError:  # a Streamlit without it: serialise among our own calls at least
        return _FALLBACK_ALTAIR_LOCK


_FALLBACK_ALTAIR_LOCK = threading.Lock()


def chart_spec(chart: alt.TopLevelMixin, theme: str = "none") -> dict[str, Any]:
    """The chart as a Vega-Lite spec with its data in `datasets`, validated only when `configure_charts` says so.

    `st.altair_chart` would validate the whole spec against the Vega-Lite JSON schema on every script run; pages
    send this spec with `st.vega_lite_chart` instead. Altair's data transformer and theme are process-wide, hence
    the lock. On the page Altair's theme is off, as Streamlit has it, so that the app's own theme applies; the
    downloads keep Altair's default sizes.
    """
    with _altair_lock(), alt.theme.enable(theme), alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict(validate=_validate_charts)


def render(chart: alt.TopLevelMixin, kind: str) -> bytes:
    """The chart as PNG or SVG bytes (vl-convert renders without a browser); made when a download is clicked."""
    import vl_convert

    spec = chart_spec(chart, theme="default")
    if kind == "png":
        return vl_convert.vegalite_to_png(spec, scale=2)
    return vl_convert.vegalite_to_svg(spec).encode("utf-8")


def dot_with_download(dot: str, name: str, key: str | None = None) -> None:
    """Show a Graphviz figure with a download of its DOT source."""
    if not figure_shown():
        return
    st.graphviz_chart(dot, width="stretch")
    st.download_button(
        "DOT source",
        data=dot.encode("utf-8"),
        file_name=f"{name}.dot",
        mime="text/vnd.graphviz",
        key=f"{key or name}_dot",
        on_click="ignore",
    )


def code_expander(code: str) -> None:
    """The Keras code behind a figure, folded away under it."""
    with st.expander("The Keras code behind this figure"):
        st.code(code.strip(), language="python")
