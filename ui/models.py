"""The sidebar's model picker and the loaded models, shared by every session."""

from __future__ import annotations

import streamlit as st

from digitlib.artifacts import available_models, model_files, models_dir
from digitlib.neighbours import NeighbourIndex, load_index
from digitlib.registry import DEFAULT_MODEL, label, preferred_model, spec
from digitlib.serving import Predictor
from ui.cached import modified

CHOSEN_MODEL = "chosen_model"
MODEL_WIDGET = "model_picker"


def _remember_model() -> None:
    """Keep the picked model under a key that outlives the widget."""
    st.session_state[CHOSEN_MODEL] = st.session_state[MODEL_WIDGET]


def pick_model() -> str | None:
    """The sidebar's model picker; None, with an explanation, when no model is trained yet."""
    names = available_models()
    if not names:
        st.error(
            f"No trained model found in `{models_dir()}`. Train one with "
            f"`python -m digitlib train --model {DEFAULT_MODEL}`, then reload this page."
        )
        return None
    if st.session_state.get(CHOSEN_MODEL) not in names:
        st.session_state[CHOSEN_MODEL] = preferred_model(names)
    # Streamlit forgets a widget's state on pages that do not show it, so seed it from the lasting choice.
    st.session_state[MODEL_WIDGET] = st.session_state[CHOSEN_MODEL]
    st.sidebar.selectbox("Model", names, key=MODEL_WIDGET, format_func=label, on_change=_remember_model)
    summary = spec(st.session_state[CHOSEN_MODEL]).summary
    st.sidebar.caption(summary[0].upper() + summary[1:] + ".")
    if DEFAULT_MODEL not in names:
        st.sidebar.caption(f"{label(DEFAULT_MODEL)}, the default model, is not trained yet.")
    return st.session_state[CHOSEN_MODEL]


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _predictor(name: str, directory: str, versions: tuple[float, ...]) -> Predictor:
    return Predictor(name, directory)


def predictor(name: str) -> Predictor:
    """The loaded model `name`; raises ArtifactError when it is missing or broken."""
    files = model_files(name)
    # The export and the calibrated threshold both change what the Predictor does.
    return _predictor(
        name, str(files.directory), (modified(files.onnx), modified(files.model), modified(files.threshold))
    )


@st.cache_resource(max_entries=8, show_spinner="Loading the nearest-neighbour index…")
def _neighbour_index(name: str, directory: str, version: float) -> NeighbourIndex:
    return load_index(model_files(name, directory))


def neighbour_index(name: str) -> NeighbourIndex:
    """Model `name`'s index of the MNIST training images; raises ArtifactError when missing or broken."""
    files = model_files(name)
    return _neighbour_index(name, str(files.directory), modified(files.neighbours))
