"""What the model sees, as the pages show it: the map of why it answered, and its nearest training images."""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlib.artifacts import ArtifactError
from digitlib.data import DataError
from digitlib.explain import occlusion_map
from digitlib.pictures import saliency_overlay
from digitlib.serving import Predictor
from ui.cached import mnist
from ui.models import neighbour_index
from ui.widgets import pictures


def why_picture(predictor: Predictor, image: np.ndarray, digit: int) -> np.ndarray:
    """The occlusion map of `digit` over a (28, 28) image in [0, 1], as an RGB picture."""
    return saliency_overlay(occlusion_map(predictor.predict, image, digit), image)


def show_why(predictor: Predictor, image: np.ndarray, digit: int, width: int) -> None:
    """The map of what speaks for and against `digit` in a (28, 28) image, `width` px wide."""
    caption = f"Why {digit}: red parts speak for it, blue ones against"
    pictures([(why_picture(predictor, image, digit), width, caption)])


def show_neighbours(predictor: Predictor, image: np.ndarray, count: int = 8) -> None:
    """The MNIST training images nearest to a (28, 28) input in the model's penultimate layer, with labels."""
    try:
        index = neighbour_index(predictor.name)
        (x_train, _), _ = mnist()
    except (ArtifactError, DataError) as error:
        st.caption(f"Nearest training images are not available: {error}")
        return
    rows, similarity = index.nearest(predictor.embed(image), count)
    pictures(
        [(x_train[row], 56, f"{index.labels[row]} · {score:.2f}") for row, score in zip(rows, similarity)]
    )
