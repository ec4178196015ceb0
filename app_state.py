"""What the app's pages share: the sidebar model picker, cached loaders and a few display helpers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from digitlib.artifacts import DEFAULT_MODEL, ArtifactError, available_models, model_files, models_dir, read_json, read_predictions
from digitlib.data import DataError, label_counts, load_mnist, mean_images, mnist_path
from digitlib.explain import occlusion_map
from digitlib.neighbours import NeighbourIndex, load_index

if TYPE_CHECKING:
    import altair as alt

    from digitlib.serving import Predictor

MODEL_LABELS = {
    "shiftnet": "ShiftNet (for MNIST)",
    "studionet": "StudioNet (ensemble)",
    "mnistnet": "MNISTNet (ensemble of four DigitNets)",
    "pairnet": "PairNet (DrawNet 3 and 4)",
    "mildnet": "MildNet (for MNIST)",
    "quicknet": "QuickNet (for drawings)",
    "quicknet2": "QuickNet 2 (QuickNet, crossed 7s)",
    "drawnet3": "DrawNet 3 (QuickNet at twice the width)",
    "drawnet4": "DrawNet 4 (DrawNet 3, another seed)",
    "drawnet": "DrawNet (an earlier default)",
    "drawnet2": "DrawNet 2 (ensemble member)",
    "digitnet": "DigitNet",
    "digitnet2": "DigitNet 2 (ensemble member)",
    "digitnet3": "DigitNet 3 (ensemble member)",
    "digitnet4": "DigitNet 4 (ensemble member)",
    "cnn": "CNN",
    "mlp": "MLP",
}
# The default model first, then the others strongest first: the picker lists models in this order and
# starts on the first one trained.
MODEL_STRENGTH = (DEFAULT_MODEL, *(name for name in MODEL_LABELS if name != DEFAULT_MODEL))
CHOSEN_MODEL = "chosen_model"
MODEL_WIDGET = "model_picker"
# Where the Evaluation page leaves the (true, predicted) mistakes the Misclassified page should open on.
MISTAKE_FILTER = "mistake_filter"
MISCLASSIFIED_PAGE = "pages/misclassified.py"
# Colours of the "Why this answer" map: the app's red where a region supports the answer, blue where it opposes it.
SUPPORTS, OPPOSES = np.array([1.0, 0.29, 0.29]), np.array([0.25, 0.5, 1.0])


def model_label(name: str) -> str:
    """A readable name for a model file's stem."""
    return MODEL_LABELS.get(name, name)


def strongest_first(names: list[str]) -> list[str]:
    """Model names with the known ones in order of strength, then any others alphabetically."""
    known = [name for name in MODEL_STRENGTH if name in names]
    return known + sorted(set(names) - set(known))


def _remember_model() -> None:
    """Keep the picked model under a key that outlives the widget."""
    st.session_state[CHOSEN_MODEL] = st.session_state[MODEL_WIDGET]


def pick_model() -> str | None:
    """The sidebar's model picker; None, with an explanation, when no model is trained yet."""
    folder = models_dir()
    names = strongest_first(available_models(folder))
    if not names:
        st.error(
            f"No trained model found in `{folder}`. Train one with "
            f"`python -m digitlib train --model {DEFAULT_MODEL}`, then reload this page."
        )
        return None
    if st.session_state.get(CHOSEN_MODEL) not in names:
        st.session_state[CHOSEN_MODEL] = names[0]
    # Streamlit forgets a widget's state on pages that do not show it, so seed it from the lasting choice.
    st.session_state[MODEL_WIDGET] = st.session_state[CHOSEN_MODEL]
    st.sidebar.selectbox("Model", names, key=MODEL_WIDGET, format_func=model_label, on_change=_remember_model)
    if DEFAULT_MODEL not in names:
        st.sidebar.caption(f"{model_label(DEFAULT_MODEL)}, the default model, is not trained yet.")
    return st.session_state[CHOSEN_MODEL]


def _modified(path: Path) -> float:
    """A file's modification time, so caches reload a retrained model or re-evaluated artifact."""
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _cached_predictor(name: str, directory: str, versions: tuple[float, ...]) -> Predictor:
    """One loaded model per version of its files, shared by every session."""
    from digitlib.serving import Predictor  # Keras or ONNX Runtime is imported only by pages that run a model

    return Predictor(name, directory)


def predictor(name: str) -> Predictor:
    """The loaded model `name`; raises ArtifactError when it is missing or broken."""
    files = model_files(name)
    # The model, its ONNX export and its calibrated threshold all change what the Predictor does.
    versions = tuple(_modified(path) for path in (files.model, files.onnx, files.threshold))
    return _cached_predictor(name, str(files.directory), versions)


@st.cache_data(max_entries=8, show_spinner="Reading the architecture…")
def _cached_architecture(path: str, modified: float) -> list[dict]:
    """The layer table of one model file version (the served model may be an ONNX export without layers)."""
    from digitlib.models import architecture_rows
    from digitlib.serving import load_keras_model

    return architecture_rows(load_keras_model(Path(path)))


def architecture(name: str) -> list[dict]:
    """Model `name`'s layers with output shapes and parameters; raises ArtifactError when missing or broken."""
    path = model_files(name).model
    return _cached_architecture(str(path), _modified(path))


@st.cache_data(max_entries=16, show_spinner=False)
def _cached_json(path: str, modified: float) -> dict:
    """A JSON artifact, read once per file version."""
    return read_json(Path(path))


def training_record(name: str) -> dict:
    """Model `name`'s settings, time and history; raises ArtifactError when missing."""
    path = model_files(name).training
    return _cached_json(str(path), _modified(path))


def test_metrics(name: str) -> dict:
    """Model `name`'s MNIST test metrics; raises ArtifactError when missing."""
    path = model_files(name).metrics
    return _cached_json(str(path), _modified(path))


def drawn_results(name: str) -> dict:
    """Model `name`'s results on drawn sets, by set name ({} when it has none); raises ArtifactError when unreadable."""
    path = model_files(name).drawn
    return _cached_json(str(path), _modified(path)) if path.is_file() else {}


@st.cache_data(max_entries=4, show_spinner=False)
def _cached_predictions(path: str, modified: float) -> tuple[np.ndarray, np.ndarray]:
    """Saved test probabilities and labels, read once per file version."""
    return read_predictions(Path(path))


def test_predictions(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Model `name`'s saved probabilities (10000, 10) and labels; raises ArtifactError when missing."""
    path = model_files(name).predictions
    return _cached_predictions(str(path), _modified(path))


def mnist():
    """MNIST `(x_train, y_train), (x_test, y_test)`; raises DataError when it is not available.

    `load_mnist` keeps the arrays once per process; `st.cache_data` would copy 55 MB on every rerun.
    """
    return load_mnist()


@st.cache_data(max_entries=2, show_spinner="Summarising MNIST…")
def _cached_summary(path: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label counts of train and test and the mean training image of each digit, once per MNIST file."""
    (x_train, y_train), (_, y_test) = load_mnist(path)
    return label_counts(y_train), label_counts(y_test), mean_images(x_train, y_train)


def dataset_summary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train and test label counts and per-digit mean training images; raises DataError without MNIST."""
    return _cached_summary(mnist_path())


def percent(probability: float, decimals: int = 1) -> str:
    """A probability as a percentage that never rounds up to a certain 100% nor down to an impossible 0%."""
    step = 10.0**-decimals
    if probability * 100 >= 100 - step / 2:
        return f">{100 - step:.{decimals}f}%"
    if 0 < probability * 100 < step / 2:
        return f"<{step:.{decimals}f}%"
    return f"{probability:.{decimals}%}"


def pixelated(image: np.ndarray, scale: int) -> np.ndarray:
    """An image enlarged by repeating pixels, so the browser shows sharp squares instead of blur."""
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def with_boxes(ink: np.ndarray, bboxes: list[tuple[int, int, int, int]], colour: tuple[int, int, int] = (255, 75, 75)) -> np.ndarray:
    """The grey ink as RGB with each bounding box (x, y, width, height) outlined."""
    rgb = np.repeat(ink[:, :, None], 3, axis=2)
    thickness = max(1, max(ink.shape) // 140)  # about one screen pixel at the shown size
    for x, y, width, height in bboxes:
        top, bottom, left, right = y, y + height - 1, x, x + width - 1
        rgb[top : top + thickness, left : right + 1] = colour
        rgb[bottom - thickness + 1 : bottom + 1, left : right + 1] = colour
        rgb[top : bottom + 1, left : left + thickness] = colour
        rgb[top : bottom + 1, right - thickness + 1 : right + 1] = colour
    return rgb


def with_box(ink: np.ndarray, bbox: tuple[int, int, int, int], colour: tuple[int, int, int] = (255, 75, 75)) -> np.ndarray:
    """The grey ink as RGB with its bounding box (x, y, width, height) outlined."""
    return with_boxes(ink, [bbox], colour)


def saliency_overlay(saliency: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The dimmed grey image as RGB uint8, tinted red where `saliency` is positive and blue where negative."""
    scale = float(np.abs(saliency).max())
    strength = saliency / scale if scale > 0 else np.zeros_like(saliency)
    grey = np.repeat(image[:, :, None], 3, axis=2) * 0.5  # dimmed, so the colours stand out over the ink
    tint = np.where(strength[:, :, None] > 0, SUPPORTS, OPPOSES)
    # A square-root scale keeps the weaker regions visible beside the strongest one.
    alpha = np.sqrt(np.abs(strength))[:, :, None]
    return np.round(255 * ((1 - alpha) * grey + alpha * tint)).astype(np.uint8)


@st.cache_resource(max_entries=4, show_spinner="Loading the nearest-neighbour index…")
def _cached_neighbour_index(name: str, directory: str, modified: float) -> NeighbourIndex:
    """One neighbour index per version of its file, shared by every session."""
    return load_index(model_files(name, directory))


def neighbour_index(name: str) -> NeighbourIndex:
    """Model `name`'s index of the MNIST training images; raises ArtifactError when missing or broken."""
    files = model_files(name)
    return _cached_neighbour_index(name, str(files.directory), _modified(files.neighbours))


def show_neighbours(predictor: Predictor, image: np.ndarray, count: int = 8) -> None:
    """The MNIST training images nearest to a (28, 28) input in the model's penultimate layer, with labels."""
    try:
        index = neighbour_index(predictor.name)
        (x_train, _), _ = mnist()
    except (ArtifactError, DataError) as error:
        st.caption(f"Nearest training images are not available: {error}")
        return
    rows, similarity = index.nearest(predictor.embed(image), count)
    st.image(
        [pixelated(x_train[row], 3) for row in rows],
        caption=[f"{index.labels[row]} · {score:.2f}" for row, score in zip(rows, similarity)],
        width=84,
    )


def show_why(predictor: Predictor, image: np.ndarray, digit: int, width: int) -> None:
    """The occlusion map of `digit` over a (28, 28) image in [0, 1], `width` px wide with sharp pixels."""
    saliency = occlusion_map(predictor.predict, image, digit)
    st.image(
        pixelated(saliency_overlay(saliency, image), max(1, width // image.shape[1])),
        caption=f"Why this answer: red parts speak for {digit}, blue ones against",
        width=width,
    )


def probability_chart(probabilities: np.ndarray, height: int = 220) -> alt.Chart:
    """A bar per digit on a fixed 0-100% scale, the most likely digit highlighted."""
    # Imported here, not at the top: an empty Draw page shows its canvas without waiting for them.
    import altair as alt
    import pandas as pd

    top = int(np.argmax(probabilities))
    frame = pd.DataFrame(
        {
            "digit": [str(d) for d in range(len(probabilities))],
            "probability": np.asarray(probabilities, dtype=float),
            "top": [d == top for d in range(len(probabilities))],
        }
    )
    return (
        alt.Chart(frame, height=height)
        .mark_bar()
        .encode(
            x=alt.X("digit:N", title="digit", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.condition("datum.top", alt.value("#ff4b4b"), alt.value("#6c7a89")),
            tooltip=["digit", alt.Tooltip("probability:Q", format=".1%")],
        )
    )


def show_mistakes(true: int | None, predicted: int | None) -> None:
    """Open the Misclassified page filtered to one true and/or predicted digit."""
    st.session_state[MISTAKE_FILTER] = (true, predicted)
    st.switch_page(MISCLASSIFIED_PAGE)
