"""Read a number: split a drawing of several digits side by side into digits and read them all at once.

The ink is split into connected components. Pieces of one digit are put back together: pieces whose
horizontal extents overlap substantially (a 7's crossbar, a 5's flag above its body), then pieces much
shorter than the line's digits that sit right beside a neighbour (a 4 drawn as an L and a separate
bar). Specks much smaller than the rest are dropped. Each digit then goes through the same MNIST
recipe as a single drawing. Touching digits form one component: a piece wide enough to be two digits is
cut at the column where its two halves read best, if each half has a piece of ink as tall as a digit,
both read as sure digits and, when the model was already sure of the whole piece, much surer than of the
whole. Only NumPy and OpenCV: this module must import without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from digitlib.classes import decide
from digitlib.ink import Box, grown, speck_area
from digitlib.preprocess import INK_THRESHOLD, Stages, ink_layer, mnist_stages

# Two pieces belong to one digit when their horizontal extents share this share of the narrower one.
OVERLAP = 0.5
# A piece shorter than this share of the tallest digit is a fragment of a digit, not a digit...
FRAGMENT_HEIGHT = 0.75
# ...and joins the nearest piece when the horizontal gap to it is at most this share of that height.
FRAGMENT_GAP = 0.1
# Anti-aliased fringe kept around a digit's strokes, in pixels, so its edges look as in a single drawing.
FRINGE = 3
UNSURE_MARK = "?"
# A piece at least this wide for its height may be two touching digits...
TOUCHING_WIDTH = 1.1
# ...cut at one of this many columns of least ink, between these shares of its width, this far apart,
CUT_CANDIDATES = 4
CUT_SPAN = (0.15, 0.85)
CUT_SPACING = 0.1
# ...and its halves cut again, up to this many times, for three or more digits in a row.
CUT_ROUNDS = 3
# A piece read as one sure digit is cut only if each half leaves at most this share of the whole's doubt
# (1 - confidence): two touching digits are often read as one sure digit, a wide single digit rarely cut into
# two much surer ones. Chosen on numbers composed from MNIST training digits, not on drawn_dev.
SURE_PIECE_DOUBT = 0.3


@dataclass(frozen=True)
class Piece:
    """Connected components that belong together, with their joint bounding box."""

    labels: tuple[int, ...]
    left: int
    top: int
    right: int  # exclusive
    bottom: int  # exclusive

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def bbox(self) -> Box:
        """The piece's box."""
        return self.left, self.top, self.width, self.height


@dataclass(frozen=True)
class Digit:
    """One digit of a number: where it is on the canvas and every stage of its 28x28 input."""

    bbox: Box  # on the canvas
    stages: Stages  # the MNIST recipe applied to this digit's ink alone

    @property
    def image(self) -> np.ndarray:
        """The (28, 28) float32 input the model reads."""
        return self.stages.centered


class Model(Protocol):
    """What reading a number needs from a model (digitlib.serving.Predictor is one)."""

    threshold: float

    def predict(self, images: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class NumberReading:
    """The digits found in a drawing, left to right, with the model's probabilities for each."""

    ink: np.ndarray  # (H, W) uint8, the whole drawing's ink, 255 = ink on 0 background
    digits: list[Digit]
    probabilities: np.ndarray  # (N, 10) float32
    threshold: float

    @property
    def answers(self) -> list[int]:
        """Each digit's answer: a digit, NOT_SURE or NOT_A_DIGIT."""
        return decide(self.probabilities, self.threshold).tolist() if self.digits else []

    @property
    def confidences(self) -> list[float]:
        """The top probability of each digit."""
        return self.probabilities.max(axis=1).tolist() if self.digits else []

    @property
    def text(self) -> str:
        """The number as a string, with "?" for each digit the model is not sure of."""
        return "".join(str(a) if a >= 0 else UNSURE_MARK for a in self.answers)


def merged(a: Piece, b: Piece) -> Piece:
    """One piece made of two."""
    return Piece(
        a.labels + b.labels,
        min(a.left, b.left),
        min(a.top, b.top),
        max(a.right, b.right),
        max(a.bottom, b.bottom),
    )


def horizontal_gap(a: Piece, b: Piece) -> int:
    """Columns between two pieces; negative when their horizontal extents overlap."""
    return max(a.left, b.left) - min(a.right, b.right)


def overlap_substantially(a: Piece, b: Piece) -> bool:
    """Whether two pieces share most of the narrower one's columns."""
    return -horizontal_gap(a, b) >= OVERLAP * min(a.width, b.width)


def ink_pieces(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """The label image of a binary ink mask and one piece per component that is not a speck."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    stats = stats[1:]  # label 0 is the background
    if len(stats) == 0:
        return labels, []
    smallest = speck_area(stats[:, cv2.CC_STAT_AREA])
    pieces = [
        Piece((label,), int(x), int(y), int(x + w), int(y + h))
        for label, (x, y, w, h, area) in enumerate(stats, start=1)
        if area >= smallest
    ]
    return labels, pieces


def merge_overlapping(pieces: list[Piece]) -> list[Piece]:
    """Join pieces whose horizontal extents overlap substantially, until no two do."""
    pieces = list(pieces)
    while True:
        pair = next(
            (
                (i, j)
                for i in range(len(pieces))
                for j in range(i + 1, len(pieces))
                if overlap_substantially(pieces[i], pieces[j])
            ),
            None,
        )
        if pair is None:
            return pieces
        i, j = pair
        pieces[i] = merged(pieces[i], pieces[j])
        del pieces[j]


def merge_fragments(pieces: list[Piece]) -> list[Piece]:
    """Join each piece much shorter than the tallest to its nearest neighbour when it sits right beside it."""
    pieces = list(pieces)
    if len(pieces) < 2:
        return pieces
    line_height = max(p.height for p in pieces)
    # Smallest first, so a fragment joins a whole digit rather than another fragment where it can.
    for fragment in sorted(pieces, key=lambda p: p.height):
        if fragment.height >= FRAGMENT_HEIGHT * line_height or fragment not in pieces or len(pieces) < 2:
            continue
        nearest = min((p for p in pieces if p is not fragment), key=lambda p: horizontal_gap(fragment, p))
        if horizontal_gap(fragment, nearest) <= FRAGMENT_GAP * line_height:
            pieces.remove(fragment)
            pieces[pieces.index(nearest)] = merged(nearest, fragment)
    return pieces


def digit_pieces(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """The label image of a binary ink mask and its digits as pieces, left to right."""
    labels, pieces = ink_pieces(mask)
    pieces = merge_fragments(merge_overlapping(pieces))
    return labels, sorted(pieces, key=lambda p: p.left)


def digit_ink(ink: np.ndarray, labels: np.ndarray, piece: Piece) -> np.ndarray:
    """The ink of one digit alone: its components with their anti-aliased fringe, nothing of the others."""
    own = np.isin(labels, piece.labels)
    others = (labels > 0) & ~own
    return np.where(grown(own, FRINGE) & ~others, ink, 0).astype(np.uint8)


def split_ink(ink: np.ndarray) -> list[Digit]:
    """The digits in an ink layer (255 = ink on 0), left to right; empty when there is no ink."""
    # The same threshold as a single drawing's bounding box, so each digit's box is the one it would have alone.
    mask = (ink > INK_THRESHOLD).astype(np.uint8)
    labels, pieces = digit_pieces(mask)
    digits = []
    for piece in pieces:
        stages = mnist_stages(digit_ink(ink, labels, piece))
        if stages is not None:
            digits.append(Digit(bbox=piece.bbox, stages=stages))
    return digits


def split_digits(drawing: np.ndarray) -> list[Digit]:
    """The digits of a drawing of a number, left to right; empty for a blank drawing."""
    return split_ink(ink_layer(drawing))


def cut_columns(ink: np.ndarray, bbox: Box) -> list[int]:
    """Canvas columns where a piece has least ink, the places to try cutting touching digits apart."""
    x, y, w, h = bbox
    profile = (ink[y : y + h, x : x + w] > INK_THRESHOLD).sum(axis=0).astype(np.float32)
    profile = np.convolve(profile, np.ones(3, np.float32) / 3, mode="same")
    low, high = int(CUT_SPAN[0] * w), int(CUT_SPAN[1] * w)
    columns: list[int] = []
    for column in low + np.argsort(profile[low:high], kind="stable"):
        if all(abs(column - other) > CUT_SPACING * w for other in columns):
            columns.append(int(column))
        if len(columns) == CUT_CANDIDATES:
            break
    return [x + column for column in columns]


def cut_at(ink: np.ndarray, column: int) -> list[Digit] | None:
    """The two digits left and right of a canvas column, or None when one side has no ink."""
    left, right = ink.copy(), ink.copy()
    left[:, column:] = 0
    right[:, :column] = 0
    halves = [mnist_stages(left), mnist_stages(right)]
    if halves[0] is None or halves[1] is None:
        return None
    return [Digit(stages.bbox, stages) for stages in halves]


def is_wide(digit: Digit) -> bool:
    """Whether a piece is wide enough for its height to be two touching digits."""
    _, _, w, h = digit.bbox
    return w >= TOUCHING_WIDTH * h


def cut_bar(confidence: float, threshold: float) -> float:
    """How sure both halves of a cut must be, given how sure the model is of the whole piece."""
    if confidence < threshold:
        return threshold
    return max(threshold, 1 - SURE_PIECE_DOUBT * (1 - confidence))


def is_digit_sized(half: Digit, line_height: int) -> bool:
    """Whether a cut-off half has a piece of ink as tall as a digit of the line, not only fragments (see merge_fragments)."""
    mask = (half.stages.cropped > INK_THRESHOLD).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return int(stats[1:, cv2.CC_STAT_HEIGHT].max(initial=0)) >= FRAGMENT_HEIGHT * line_height


def cut_touching(
    model: Model, digits: list[Digit], probabilities: np.ndarray
) -> tuple[list[Digit], np.ndarray]:
    """Cut apart the wide pieces that read best as two sure digits; one model call per round of cuts."""
    fresh = [True] * len(digits)  # a piece that could not be cut in one round reads the same in the next
    line_height = max(digit.bbox[3] for digit in digits)
    for _ in range(CUT_ROUNDS):
        suspects = [i for i, d in enumerate(digits) if fresh[i] and is_wide(d)]
        tries = [
            (i, halves)
            for i in suspects
            for column in cut_columns(digits[i].stages.ink, digits[i].bbox)
            if (halves := cut_at(digits[i].stages.ink, column)) is not None
            and all(is_digit_sized(half, line_height) for half in halves)
        ]
        if not tries:
            break
        read = model.predict(np.stack([half.image for _, halves in tries for half in halves])).reshape(
            len(tries), 2, -1
        )
        surest = read.max(axis=2).min(axis=1)  # a cut is as sure as its less sure half
        best: dict[int, int] = {}
        for k, (i, _) in enumerate(tries):
            bar = cut_bar(float(probabilities[i].max()), model.threshold)
            if surest[k] >= bar and (i not in best or surest[k] > surest[best[i]]):
                best[i] = k
        if not best:
            break
        cut_digits, cut_probabilities, fresh = [], [], []
        for i, digit in enumerate(digits):
            if i in best:
                cut_digits += tries[best[i]][1]
                cut_probabilities += list(read[best[i]])
                fresh += [True, True]
            else:
                cut_digits.append(digit)
                cut_probabilities.append(probabilities[i])
                fresh.append(False)
        digits, probabilities = cut_digits, np.asarray(cut_probabilities, np.float32)
    return digits, probabilities


def read_number(model: Model, drawing: np.ndarray) -> NumberReading:
    """Split a drawing into digits and read them all with one call of `model.predict` (more only to cut touching digits)."""
    ink = ink_layer(drawing)
    digits = split_ink(ink)
    if not digits:
        return NumberReading(ink, [], np.zeros((0, 10), np.float32), model.threshold)
    probabilities = np.asarray(model.predict(np.stack([d.image for d in digits])), np.float32)
    digits, probabilities = cut_touching(model, digits, probabilities)
    return NumberReading(ink, digits, probabilities, model.threshold)
