"""digit studio: draw a digit, watch a network read it, see how the models were trained and where they fail.

`streamlit run app.py` imports this file as a module to serve it (the `st.App` below), then runs it
as the script of every browser session (`__main__`: the pages).
"""

import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st

# What the Draw page's first run would otherwise wait for: ONNX Runtime, OpenCV (through the library) and the
# app's components.
FIRST_PAGE_MODULES = (
    "onnxruntime",
    "digitlib.collection",
    "digitlib.numbers",
    "digitlib.photo",
    "ui.canvas",
    "ui.drawings",
    "ui.views",
)


def import_first_page_libraries() -> None:
    """Import the modules that the Draw page's first run would otherwise wait for."""
    for module in FIRST_PAGE_MODULES:
        importlib.import_module(module)


@asynccontextmanager
async def warm_up(_app: object) -> AsyncIterator[None]:
    """Import the first page's libraries in the background while the browser loads the app."""
    threading.Thread(target=import_first_page_libraries, name="warm-up", daemon=True).start()
    yield


if __name__ == "__main__":
    from ui.drawings import remember_visitor

    st.set_page_config(page_title="digit studio", page_icon="✍️", layout="wide")
    remember_visitor()
    pages = [
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:", default=True),
        st.Page("pages/dataset.py", title="Dataset", icon=":material/grid_view:"),
        st.Page("pages/training.py", title="Training", icon=":material/show_chart:"),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/fact_check:"),
        st.Page("pages/misclassified.py", title="Misclassified", icon=":material/error:"),
        st.Page("pages/drawings.py", title="Your drawings", icon=":material/photo_library:"),
    ]
    st.navigation(pages).run()
else:
    import numpy  # noqa: F401  loads the BLAS library, which threadpoolctl can then limit
    from streamlit.runtime.pages_manager import PagesManager
    from threadpoolctl import threadpool_limits

    # Every stroke makes a few small matrix products (the why-map, the neighbour search). A BLAS thread pool
    # wakes for each and then spins, which cost the server several times the stroke's own work; one thread
    # per session's run, with many sessions side by side, uses the cores better.
    threadpool_limits(limits=1)

    # pages/ holds the pages that st.navigation names. Until some session has called st.navigation,
    # Streamlit takes a pages/ folder for its older multipage layout: a first visit to a page's own address
    # would run that page file alone, with a navigation of file names and without the app's page config.
    PagesManager.uses_pages_directory = False
    app = st.App(__file__, lifespan=warm_up)
