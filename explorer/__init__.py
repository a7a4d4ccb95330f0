"""Seq2Seq Explorer's library: tasks, architectures, training, decoding, probes and storage.

Nothing in this package imports Streamlit except its subpackage `explorer.ui`; the pages call in, never the
other way round.
"""

__version__ = "0.1.0"
