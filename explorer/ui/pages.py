"""The page registry: every page of the app, once, with what the navigation, the tests and the load test need.

`app.py` builds `st.navigation` from it, `require_model` links to the training page through it, the AppTest
suite and `explorer bench` walk its files, and the browser tests and `scripts/loadtest.py` click through its
navigation titles and wait for its headings. Adding a page is one file in `app_pages/` and one entry here.

The registry itself is plain data: reading it does not import Streamlit (the load test reads it in a process
that only drives browsers); the two helpers that make Streamlit objects import it when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class AppPage:
    """One page of the app."""

    name: str  # short identifier: the file's stem, used by `page_entry`, the load test and the bench
    title: str  # the label in the navigation (and the browser tab)
    heading: str  # the page's own H1 (`st.title`), which the browser tests and the load test wait for
    icon: str
    url_path: str  # "" for the landing page, which Streamlit serves at the root
    section: str  # the navigation group it is listed under

    @property
    def file(self) -> str:
        """The page's script, relative to the repository root (where `streamlit run app.py` runs)."""
        return f"app_pages/{self.name}.py"

    @property
    def is_default(self) -> bool:
        return self.url_path == ""


# In navigation order. The pages live in app_pages/, not pages/: Streamlit treats a folder named `pages/` beside
# the entry point as its legacy multipage layout before `st.navigation` runs, and the first run skips app.py.
PAGES: tuple[AppPage, ...] = (
    AppPage("home", "Welcome", "Seq2Seq Explorer", "🏠", "", "Start"),
    AppPage("train", "Train & Compare", "Train & Compare", "🏋️", "train", "Train"),
    AppPage("graph", "Unrolled graph", "Unrolled graph", "🕸️", "graph", "Look inside"),
    AppPage("states", "States & gates", "Hidden states, cell states and gates", "🧠", "states", "Look inside"),
    AppPage("attention", "Attention", "Attention", "🎯", "attention", "Look inside"),
    AppPage("decoding", "Decoding", "Decoding", "🔀", "decoding", "Look inside"),
    AppPage("whatif", "What if", "What if: change one thing", "🧪", "whatif", "Look inside"),
    AppPage("embeddings", "Autoencoder embeddings", "Autoencoder embeddings", "🗺️", "embeddings", "Look inside"),
    AppPage("gradients", "Gradients", "Exploding gradients and clipping", "💥", "gradients", "Look inside"),
)


def page_entry(name: str) -> AppPage:
    """The registry entry called `name`; a KeyError names the valid ones."""
    for page in PAGES:
        if page.name == name:
            return page
    raise KeyError(f"no page {name!r}; pages: {', '.join(page.name for page in PAGES)}")


def page_at(url_path: str) -> AppPage:
    """The registry entry served at `url_path` ("" for the landing page, as `st.navigation` reports it)."""
    for page in PAGES:
        if page.url_path == url_path:
            return page
    raise KeyError(f"no page at {url_path!r}")


def navigation_pages() -> dict[str, list[StreamlitPage]]:
    """The registry as `st.navigation` takes it: `st.Page` objects grouped by section, in order."""
    import streamlit as st

    sections: dict[str, list[StreamlitPage]] = {}
    for page in PAGES:
        sections.setdefault(page.section, []).append(
            st.Page(
                page.file,
                title=page.title,
                icon=page.icon,
                url_path=page.url_path or None,
                default=page.is_default,
            )
        )
    return sections


def page_link(name: str, label: str | None = None) -> None:
    """A link to the page called `name`, labelled with its title unless `label` says otherwise."""
    import streamlit as st

    page = page_entry(name)
    st.page_link(page.file, label=label or page.title, icon=page.icon)
