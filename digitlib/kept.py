"""A person's kept drawings, read beside each new drawing: the app learns its writer's own conventions.

A network that never saw a writer cannot learn their conventions: a continental 1 with a long flat flag
reads as a 7. Once the person keeps such a drawing with its right digit (the Draw page's "Keep it with its
right digit"), a new drawing nearly the same as a kept one gets the kept digit. Nearly the same: the cosine
of the two drawings' features, in a network trained on MNIST alone, reaches LIKENESS. Only NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from digitlib.classes import NOT_A_DIGIT

# Chosen writer by writer on drawn_dev, for each institution on the others (docs/experiments.md).
LIKENESS = 0.9


@dataclass(frozen=True)
class KeptMatch:
    """The kept drawing most like a new one, and how alike they are (a cosine, 1 for the same drawing)."""

    row: int
    digit: int
    likeness: float
    image: np.ndarray | None = None  # its 28x28 input, where the kept drawings' inputs are known


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a row of zeros stays zeros)."""
    features = np.asarray(features, np.float32)
    lengths = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(lengths, 1e-12)


def closest(kept_features: np.ndarray, kept_digits: np.ndarray, features: np.ndarray) -> KeptMatch | None:
    """The kept drawing (unit feature rows) most like one with `features` (D,); None when none is kept."""
    if not len(kept_digits):
        return None
    likeness = kept_features @ unit_rows(features[None])[0]
    row = int(likeness.argmax())
    return KeptMatch(row, int(kept_digits[row]), float(likeness[row]))


@dataclass(frozen=True)
class KeptDrawings:
    """Drawings a person kept with their right digits: the 28x28 inputs and their features."""

    images: np.ndarray  # (K, 28, 28) float32 in [0, 1]
    digits: np.ndarray  # (K,) int, 0-9
    features: np.ndarray  # (K, D) float32, each row of length 1

    def closest(self, features: np.ndarray) -> KeptMatch | None:
        """The kept drawing most like one with `features` (D,), with its input; None when none is kept."""
        match = closest(self.features, self.digits, features)
        return None if match is None else replace(match, image=self.images[match.row])

    def changes(self, features: np.ndarray, verdicts: Sequence[int]) -> tuple[KeptMatch | None, ...]:
        """Per drawing (`features` rows, the model's `verdicts`), the kept drawing that changes its answer."""
        matches = [self.closest(row) for row in features]
        return tuple(m if kept_digit(v, m) is not None else None for v, m in zip(verdicts, matches))


def kept_digit(verdict: int, match: KeptMatch | None, likeness: float = LIKENESS) -> int | None:
    """The kept digit to answer instead of `verdict`, or None to keep the model's.

    Only a near copy of a kept drawing changes an answer, and never "not a digit": a person's letters can
    look like their digits (docs/models.md).
    """
    if match is None or match.likeness < likeness or verdict == NOT_A_DIGIT or verdict == match.digit:
        return None
    return match.digit


def writer_by_writer(
    verdicts: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    writers: np.ndarray,
    keeps: Callable[[int, int, np.ndarray], bool],
    likeness: float = LIKENESS,
) -> np.ndarray:
    """The answers when each writer's drawings come in order, read beside the ones they kept so far.

    Rows are in the order each writer drew them. `verdicts` are the model's answers (digits, NOT_SURE,
    NOT_A_DIGIT); after each drawing, `keeps(answer, label, kept_labels)` says whether its writer keeps it
    with its label, given the labels they kept before.
    """
    features = unit_rows(features)
    answers = np.asarray(verdicts).copy()
    for writer in dict.fromkeys(np.asarray(writers).tolist()):
        rows = np.flatnonzero(writers == writer)
        kept: list[int] = []
        for row in rows:
            match = closest(features[kept], labels[kept], features[row])
            digit = kept_digit(int(answers[row]), match, likeness)
            answers[row] = answers[row] if digit is None else digit
            if keeps(int(answers[row]), int(labels[row]), labels[kept]):
                kept.append(row)
    return answers
