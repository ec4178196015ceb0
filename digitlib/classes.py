"""The ten digit classes and the rule for a confident answer, without TensorFlow."""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 10
NOT_SURE = -1


def confident_digits(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """The top digit of each row, or NOT_SURE (-1) where its probability is below `threshold`."""
    probabilities = np.atleast_2d(probabilities)
    digits = probabilities.argmax(axis=1)
    return np.where(probabilities.max(axis=1) >= threshold, digits, NOT_SURE)
