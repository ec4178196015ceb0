"""What the model sees, as the pages show it: the map of why it answered, and its nearest training images."""

from __future__ import annotations

import html

import numpy as np

from digitlib.artifacts import ArtifactError
from digitlib.data import DataError
from digitlib.explain import occlusion_map
from digitlib.pictures import saliency_overlay
from digitlib.serving import Predictor
from ui.cached import mnist
from ui.models import neighbour_index
from ui.widgets import pictures_html


def why_picture(predictor: Predictor, image: np.ndarray, digit: int) -> np.ndarray:
    """The occlusion map of `digit` over a (28, 28) image in [0, 1], as an RGB picture."""
    return saliency_overlay(occlusion_map(predictor.predict, image, digit), image)


def neighbours_html(predictor: Predictor, image: np.ndarray, count: int = 8) -> str:
    """HTML of the MNIST training images nearest to a (28, 28) input in the model's penultimate layer."""
    try:
        index = neighbour_index(predictor.name)
        (x_train, _), _ = mnist()
    except (ArtifactError, DataError) as error:
        return f"<p><small>Nearest training images are not available: {html.escape(str(error))}</small></p>"
    rows, similarity = index.nearest(predictor.embed(image), count)
    return pictures_html(
        [(x_train[row], 56, f"{index.labels[row]} · {score:.2f}") for row, score in zip(rows, similarity)]
    )
