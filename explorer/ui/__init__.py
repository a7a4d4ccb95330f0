"""The Streamlit side of the library: the only package in `explorer/` that imports Streamlit.

One concern per module; pages import from the module they need:

- `pages`: the page registry (title, icon, URL path, file, section), read by app.py, the tests and the load test;
- `runtime`: the shared job manager resource, the Keras-reset hook, script-run timing, the background Keras import;
- `picker`: the sidebar picker and the picked configuration (`current_config`, `use_config`);
- `models`: the model for a configuration (`model_job`, `require_model`), fragments that poll only while a job
  runs (`polled`), and per-model caching (`per_model`);
- `results`: what pages compute on a model (decodes, probes, outputs), cached for every session;
- `inputs`: page controls kept in the URL, the typed sequence and the shared time-step cursor;
- `figures`: charts and graphs with their downloads, and whether charts are schema-checked (`configure_charts`);
- `presenter`: presenter mode, one figure at a time for a projector.

This file imports nothing, so that reading the page registry does not load Streamlit.
"""
