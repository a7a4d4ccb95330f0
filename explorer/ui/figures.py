"""Figures on a page and their downloads: Altair charts as Vega-Lite specs, Graphviz DOT, and the code behind them.

- `configure_charts()`: the app's entry point calls it once per run to decide whether charts are schema-checked;
- `chart_with_downloads(chart, data, name)`: the chart, with PNG, SVG and CSV downloads made when clicked;
- `chart_spec(chart)`: the Vega-Lite spec a page sends (also for charts drawn with `st.vega_lite_chart` directly);
- `dot_with_download(dot, name)`;
- `code_expander(page, config, **values)`: the runnable program behind a page's figures (`explorer.snippets`).

Every figure goes through `figure_shown(key)` and is drawn, with its caption, in `figure_frame()`, so presenter
mode can show one at a time, first on the page.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import altair as alt
import streamlit as st

from explorer.config import RunConfig
from explorer.snippets import figure_code
from explorer.ui.presenter import figure_frame, figure_shown, presenting

if TYPE_CHECKING:
    import pandas as pd  # only the pages that chart need pandas; the landing page is drawn without it

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


def chart_with_downloads(
    chart: alt.TopLevelMixin,
    data: pd.DataFrame,
    name: str,
    key: str | None = None,
    caption: str | None = None,
    on_select: Callable[[], None] | None = None,
) -> None:
    """Show an Altair chart with PNG, SVG and CSV downloads of it, each made only when its button is clicked.

    `key` names the figure (presenter mode numbers the page's figures by it, and its downloads' keys start with
    it); `name` the downloaded files. `caption` (Markdown) is drawn under the chart and hidden with it. With
    `on_select` (a callback, e.g. `explorer.ui.inputs.pick_fields_on_select`), a click on the chart's selection
    reruns the page; the chart's state is then `st.session_state[f"{key}_chart"]`.
    """
    key = key or name
    if not figure_shown(key):
        return
    with figure_frame():
        spec = chart_spec(chart)
        shown = projected(spec) if presenting() else spec
        if on_select is None:
            st.vega_lite_chart(shown, width="stretch")
        else:
            st.vega_lite_chart(shown, width="stretch", on_select=on_select, key=f"{key}_chart")
        downloads = (
            ("PNG", lambda: render(chart, "png"), "png", "image/png"),
            ("SVG", lambda: render(chart, "svg"), "svg", "image/svg+xml"),
            ("CSV", lambda: data.to_csv(index=False).encode("utf-8"), "csv", "text/csv"),
        )
        for column, (label, make, suffix, mime) in zip(st.columns(len(downloads)), downloads, strict=True):
            column.download_button(
                label, data=make, file_name=f"{name}.{suffix}", mime=mime, key=f"{key}_{suffix}", on_click="ignore"
            )
        if caption:
            st.caption(caption)


# Presenter mode gives the one figure it shows the room: a chart's set heights grow by up to this factor, to at most
# PROJECTED_HEIGHT px in all. The top navigation and the figure bar take about 130 px of a 768 px projector, and
# axes, titles and a caption need the rest.
PROJECTED_GROWTH = 1.6
PROJECTED_HEIGHT = 440


def projected(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` drawn taller for a projector: a single or layered chart's height, or the stacked heights of a
    vertical concatenation, grown together. Faceted charts, and charts sized by their data (steps), keep theirs."""
    parts = spec.get("vconcat", [spec])
    heights = [part.get("height") for part in parts]
    if not all(isinstance(height, (int, float)) for height in heights):
        return spec
    growth = min(PROJECTED_GROWTH, PROJECTED_HEIGHT / sum(heights))
    if growth <= 1:
        return spec
    grown = [{**part, "height": round(part["height"] * growth)} for part in parts]
    return {**spec, "vconcat": grown} if "vconcat" in spec else grown[0]


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
    downloads add their own sizes (`export_spec`).
    """
    with _altair_lock(), alt.theme.enable(theme), alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict(validate=_validate_charts)


# The downloads end up on slides and handouts, seen from the back of a room: larger type than on the page, a larger
# default plot, and the PNG drawn at twice its size. A chart's own settings (an explicit width, a mark's font
# size) still win over these defaults.
EXPORT_CONFIG: dict[str, Any] = {
    "axis": {"labelFontSize": 13, "titleFontSize": 14},
    "legend": {"labelFontSize": 13, "titleFontSize": 14, "symbolSize": 120},
    "header": {"labelFontSize": 14, "titleFontSize": 14},
    "title": {"fontSize": 16},
    "view": {"continuousWidth": 480, "continuousHeight": 300},
}
PNG_SCALE = 2


def export_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec as the downloads draw it: `EXPORT_CONFIG` under the chart's own settings.

    `EXPORT_CONFIG` stands in for Altair's default theme, whose only setting is a smaller default plot.
    """
    spec = chart_spec(chart, theme="none")
    config = dict(spec.get("config", {}))
    for section, defaults in EXPORT_CONFIG.items():
        config[section] = {**defaults, **config.get(section, {})}
    return {**spec, "config": config}


def render(chart: alt.TopLevelMixin, kind: str) -> bytes:
    """The chart as PNG or SVG bytes (vl-convert renders without a browser); made when a download is clicked."""
    import vl_convert

    spec = export_spec(chart)
    if kind == "png":
        return vl_convert.vegalite_to_png(spec, scale=PNG_SCALE)
    return vl_convert.vegalite_to_svg(spec).encode("utf-8")


def dot_with_download(dot: str, name: str, key: str | None = None, caption: str | None = None) -> None:
    """Show a Graphviz figure with a download of its DOT source; `key` and `caption` as in `chart_with_downloads`."""
    key = key or name
    if not figure_shown(key):
        return
    with figure_frame():
        st.graphviz_chart(dot, width="stretch")
        st.download_button(
            "DOT source",
            data=dot.encode("utf-8"),
            file_name=f"{name}.dot",
            mime="text/vnd.graphviz",
            key=f"{key}_dot",
            on_click="ignore",
        )
        if caption:
            st.caption(caption)


def code_expander(page: str, config: RunConfig | None = None, **values: Any) -> None:
    """The program behind the page's figures (`explorer.snippets`), folded away under them: filled in with `config`
    and the page's `values` (its typed sequence, cursor, ...), it regenerates them when copied and run. Hidden in
    presenter mode."""
    if presenting():
        return
    with st.expander("The code behind these figures: a program you can copy and run"):
        st.code(figure_code(page, config, **values), language="python")
