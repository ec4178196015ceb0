"""Read a number: split a drawing of several digits side by side into digits and read them all at once.

The ink is split into connected components. Pieces of one digit are put back together: pieces whose
horizontal extents overlap substantially (a 7's crossbar, a 5's flag above its body), then pieces much
shorter than the line's digits that sit right beside a neighbour (a 4 drawn as an L and a separate
bar). Specks much smaller than the rest are dropped. Each digit then goes through the same MNIST
recipe as a single drawing, and all are read in one call of the model.

Touching digits form one piece. A piece wide enough to hold two is cut apart (digitlib/cuts.py), its parts
read all in a second call. A piece written apart from its neighbours is cut only when the model cannot read
it and it is as wide as two digits (see TOUCHING_WIDTH). Where the pen strokes are known, a person lifts the
pen between digits: a piece is cut only between its strokes, and each part is read from its own strokes alone,
so digits that overlap read as if written apart and a scribble in one stroke stays one mark.

The strokes also give a number its signs, which the model does not read: a dot low in a gap between digits
is a decimal point, and a flat stroke left of every digit, at their middle height, a minus sign.
Only NumPy and OpenCV: this module must import without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, reduce
from typing import Protocol

import cv2
import numpy as np

from digitlib.classes import NOT_A_DIGIT, decide
from digitlib.cuts import PART_WIDTH, Part, best_parts, is_digit_sized, piece_parts
from digitlib.hints import (
    DOT_PENS,
    FLAT_RATIO,
    MAX_PIECES,
    Hint,
    blocking_hint,
    crowded_digit_hint,
    drawing_hints,
)
from digitlib.ink import Box, grown, speck_area
from digitlib.kept import KeptDrawings, KeptMatch
from digitlib.preprocess import INK_THRESHOLD, Stages, ink_bbox, ink_layer, mnist_stages
from digitlib.strokes import PenStroke, draw_strokes

# Two pieces belong to one digit when their horizontal extents share this share of the narrower one.
OVERLAP = 0.5
# A piece shorter than this share of the tallest digit is a fragment of a digit, not a digit...
FRAGMENT_HEIGHT = 0.75
# ...and joins the nearest piece when the horizontal gap to it is at most this share of that height.
FRAGMENT_GAP = 0.1
# Anti-aliased fringe kept around a digit's strokes, in pixels, so its edges look as in a single drawing.
FRINGE = 3
UNSURE_MARK = "?"
# A piece at least this wide for its height may be touching digits (two narrow ones: a 1 and a 7), unless
# it has SPACED of the line height blank to each neighbour: written apart, it may be touching digits only
# when the model is not sure of it and it is APART_WIDTH wide, so that a wide 0 or a flat 2 is left whole.
TOUCHING_WIDTH = 0.7
SPACED = 0.02
APART_WIDTH = 1.1
# Strokes are one group, never cut apart, when the narrower lies almost all within the other's columns (a 7's
# bar and stem, a 4's two halves). A 1 that overlaps a neighbour's edge is left for the model to part.
STROKE_OVERLAP = 0.8
# No digit of drawn_dev's 6,114 has its strokes in more groups than this: a run of more is no digit.
MAX_GROUPS = 3
# Blank pixels kept around a run of strokes drawn alone, beyond their anti-aliased fringe.
MARGIN = 4
# A decimal point's centre lies below this share of the digits' height from their top, and at most
# POINT_BELOW of it under their bottom.
POINT_LOW = 0.5
POINT_BELOW = 0.25
# A minus sign's centre lies at least this share of the digits' height from their top and from their bottom,
# and it is MINUS_LENGTH of their height long: shorter is a tick, longer an underline.
MINUS_MIDDLE = 0.25
MINUS_LENGTH = (0.2, 1.2)


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
        """Columns from left to right."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Rows from top to bottom."""
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
    marks: int = 1  # separate pieces of ink put together as this digit

    @property
    def image(self) -> np.ndarray:
        """The (28, 28) float32 input the model reads."""
        return self.stages.centered


@dataclass(frozen=True)
class Signs:
    """A number's signs found among its pen strokes, and the strokes of its digits."""

    digit_strokes: list[PenStroke]
    points: list[float]  # the column of each decimal point's centre on the canvas
    negative: bool = False


class Model(Protocol):
    """What reading a number needs from a model (digitlib.serving.Predictor is one)."""

    threshold: float

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Digit probabilities (N, 10) of float images (N, 28, 28)."""
        ...

    def likeness_features(self, images: np.ndarray) -> np.ndarray:
        """Features (N, D) that tell how alike drawings are (digitlib.kept)."""
        ...


@dataclass(frozen=True)
class NumberReading:
    """The digits found in a drawing, left to right, with the model's probabilities for each."""

    ink: np.ndarray  # (H, W) uint8, the whole drawing's ink, 255 = ink on 0 background
    digits: list[Digit]
    probabilities: np.ndarray  # (N, 10) float32
    threshold: float
    pen_width: float = 0.0  # of the strokes that drew it, where known
    points: tuple[int, ...] = ()  # how many digits stand left of each decimal point
    negative: bool = False  # whether a minus sign stands left of the digits
    kept: tuple[KeptMatch | None, ...] = ()  # per digit, the person's kept drawing that changes its answer

    @property
    def answers(self) -> list[int]:
        """Each digit's answer, a digit, NOT_SURE or NOT_A_DIGIT: the kept drawing's where one changes it."""
        said = decide(self.probabilities, self.threshold).tolist() if self.digits else []
        matches = self.kept or (None,) * len(said)
        return [answer if match is None else match.digit for answer, match in zip(said, matches)]

    @property
    def has_signs(self) -> bool:
        """Whether it has a decimal point or a minus sign."""
        return self.negative or bool(self.points)

    @property
    def text(self) -> str:
        """The number as a string, with "?" for each digit the model is not sure of."""
        marks = [str(a) if a >= 0 else UNSURE_MARK for a in self.answers]
        for count in sorted(self.points, reverse=True):
            marks.insert(count, ".")
        return ("-" if self.negative else "") + "".join(marks)

    @property
    def not_digits(self) -> int:
        """How many of its marks the model says are not a digit."""
        return self.answers.count(NOT_A_DIGIT)

    @property
    def is_a_number(self) -> bool:
        """Whether at most one of its marks, and at most half, is not a digit.

        One mark may be a digit the model took for a letter; two are a word, even with letters that read as
        digits among them (an O, an L).
        """
        return self.not_digits <= 1 and 2 * self.not_digits <= len(self.digits)

    @cached_property
    def hints(self) -> list[Hint]:
        """Advice on the whole drawing, sized by its largest digit: a dot, a line or a face is no number."""
        box = ink_bbox(self.ink)
        if box is None:
            return []
        largest = max(max(digit.bbox[2:]) for digit in self.digits)
        hints = drawing_hints(box, *self.ink.shape, None, largest, self.pen_width)
        marks = max(digit.marks for digit in self.digits)
        return [crowded_digit_hint(marks), *hints] if marks > MAX_PIECES else hints

    @property
    def blocked(self) -> bool:
        """Whether a hint says the drawing is no number to read."""
        return blocking_hint(self.hints) is not None


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


def overlap_substantially(a: Piece, b: Piece, share: float = OVERLAP) -> bool:
    """Whether two pieces share `share` of the narrower one's columns."""
    return -horizontal_gap(a, b) >= share * min(a.width, b.width)


def ink_pieces(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """The label image of a binary ink mask and one piece per component that is not a speck."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
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


def merge_overlapping(pieces: list[Piece], share: float = OVERLAP) -> list[Piece]:
    """Join pieces that share `share` of the narrower one's columns, until no two do."""
    pieces = list(pieces)
    while True:
        pair = next(
            (
                (i, j)
                for i in range(len(pieces))
                for j in range(i + 1, len(pieces))
                if overlap_substantially(pieces[i], pieces[j], share)
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
    # The threshold of a single drawing's bounding box, so each digit's box is the one it would have alone.
    mask = (ink > INK_THRESHOLD).astype(np.uint8)
    labels, pieces = digit_pieces(mask)
    digits = []
    for piece in pieces:
        stages = mnist_stages(digit_ink(ink, labels, piece))
        if stages is not None:
            digits.append(Digit(bbox=piece.bbox, stages=stages, marks=len(piece.labels)))
    return digits


def may_touch(pieces: list[Digit], index: int, sure: bool, line_height: int) -> bool:
    """Whether a piece may be touching digits, to be cut (see TOUCHING_WIDTH)."""
    x, _, width, height = pieces[index].bbox
    gaps = []
    if index > 0:
        left, _, left_width, _ = pieces[index - 1].bbox
        gaps.append(x - (left + left_width))
    if index + 1 < len(pieces):
        gaps.append(pieces[index + 1].bbox[0] - (x + width))
    if gaps and min(gaps) >= SPACED * line_height:
        return not sure and width >= APART_WIDTH * height
    return width >= TOUCHING_WIDTH * height


def strokes_by_piece(
    strokes: Sequence[PenStroke], pieces: Sequence[Digit], shape: tuple[int, int]
) -> list[list[Piece]]:
    """Per piece of ink, the strokes whose ink it holds most of, each as a piece of its own box."""
    owner = np.zeros(shape, np.int32)  # 1 + the index of the piece each pixel of ink is in
    for number, piece in enumerate(pieces, start=1):
        owner[piece.stages.drawing > INK_THRESHOLD] = number
    held = [[] for _ in pieces]
    for index, stroke in enumerate(strokes):
        mask = draw_strokes([stroke], *shape) > INK_THRESHOLD
        inside = np.bincount(owner[mask], minlength=len(pieces) + 1)[1:]
        if inside.max(initial=0) > 0:
            x, y, width, height = cv2.boundingRect(mask.astype(np.uint8))
            held[int(inside.argmax())].append(Piece((index,), x, y, x + width, y + height))
    return held


def stroke_groups(strokes: Sequence[Piece]) -> list[Piece]:
    """Strokes (as pieces) in groups, left to right: those sharing STROKE_OVERLAP of their columns joined."""
    return sorted(merge_overlapping(list(strokes), STROKE_OVERLAP), key=lambda piece: piece.left)


def stroke_parts(
    strokes: Sequence[PenStroke], groups: Sequence[Piece], shape: tuple[int, int], line_height: int
) -> tuple[list[Part], list[float]]:
    """The digit-sized runs of neighbouring stroke groups, each drawn alone, and the ink each bound between
    groups crosses (none), as piece_parts gives them for cut paths."""
    if len(groups) < 2:
        return [], [0.0, 0.0]
    parts = []
    for left in range(len(groups)):
        for right in range(left + 1, min(left + MAX_GROUPS, len(groups)) + 1):
            run = reduce(merged, groups[left:right])
            if right - left == len(groups) or run.width > PART_WIDTH * line_height:
                continue
            # Drawn in the run's box with a blank margin, as on the whole canvas but far quicker.
            x, y = max(run.left - MARGIN, 0), max(run.top - MARGIN, 0)
            width, height = min(run.right + MARGIN, shape[1]) - x, min(run.bottom + MARGIN, shape[0]) - y
            moved = [PenStroke(strokes[i].points - [x, y], strokes[i].width) for i in run.labels]
            stages = mnist_stages(draw_strokes(moved, height, width))
            if stages is not None and is_digit_sized(stages, line_height):
                parts.append(Part(left, right, (x, y), stages))
    return parts, [0.0] * (len(groups) + 1)


def ink_extent(stroke: PenStroke) -> tuple[float, float, float, float]:
    """The left, top, right and bottom of the ink a stroke leaves: its points and half the pen around them."""
    (left, top), (right, bottom) = stroke.points.min(axis=0), stroke.points.max(axis=0)
    half = stroke.width / 2
    return left - half, top - half, right + half, bottom + half


def ink_centre(stroke: PenStroke) -> tuple[float, float]:
    """The column and row of the middle of the ink a stroke leaves."""
    left, top, right, bottom = ink_extent(stroke)
    return (left + right) / 2, (top + bottom) / 2


def is_dot(stroke: PenStroke) -> bool:
    """Whether a stroke is a tap of the pen: ink less than DOT_PENS pen widths across."""
    left, top, right, bottom = ink_extent(stroke)
    return max(right - left, bottom - top) < DOT_PENS * stroke.width


def is_flat(stroke: PenStroke) -> bool:
    """Whether a stroke is a flat line: the pen went FLAT_RATIO times further across than up or down, or more,
    and at least a pen's width."""
    width, height = np.ptp(stroke.points, axis=0)
    return width >= max(FLAT_RATIO * height, stroke.width)


def is_point(dot: PenStroke, others: Sequence[PenStroke], top: float, bottom: float) -> bool:
    """Whether a dot is a decimal point: low in the line of digits from `top` to `bottom`, in a blank gap
    between other strokes' ink."""
    (x, y), height = ink_centre(dot), bottom - top
    if not top + POINT_LOW * height < y <= bottom + POINT_BELOW * height:
        return False
    extents = [ink_extent(stroke) for stroke in others]
    in_gap = all(not e[0] <= x <= e[2] for e in extents)
    return in_gap and any(e[2] < x for e in extents) and any(e[0] > x for e in extents)


def is_minus(line: PenStroke, others: Sequence[PenStroke], top: float, bottom: float) -> bool:
    """Whether a flat stroke is a minus sign: left of all other ink, at the middle height of the digits."""
    left, _, right, _ = ink_extent(line)
    y, height = ink_centre(line)[1], bottom - top
    low, high = MINUS_LENGTH
    return (
        top + MINUS_MIDDLE * height <= y <= bottom - MINUS_MIDDLE * height
        and low * height <= right - left <= high * height
        and all(right < ink_extent(stroke)[0] for stroke in others)
    )


def find_signs(strokes: Sequence[PenStroke]) -> Signs:
    """The decimal points and the minus sign among a number's strokes (see is_point and is_minus)."""
    dotted = [is_dot(stroke) for stroke in strokes]
    dots = [stroke for stroke, dot in zip(strokes, dotted) if dot]
    undotted = [stroke for stroke, dot in zip(strokes, dotted) if not dot]
    bodies = [stroke for stroke in undotted if not is_flat(stroke)]
    if not bodies:
        return Signs(list(strokes), [])
    # The line of digits is where the strokes that are neither dots nor flat lie: bars and flags stay within.
    top = min(ink_extent(stroke)[1] for stroke in bodies)
    bottom = max(ink_extent(stroke)[3] for stroke in bodies)
    points = [dot for dot in dots if is_point(dot, undotted, top, bottom)]
    minus = [
        stroke
        for stroke in undotted
        if is_flat(stroke) and is_minus(stroke, [s for s in undotted if s is not stroke], top, bottom)
    ]
    signs = points + (minus if len(minus) == 1 else [])  # two flat lines before a number: no minus
    return Signs(
        [stroke for stroke in strokes if not any(stroke is sign for sign in signs)],
        [ink_centre(dot)[0] for dot in points],
        len(minus) == 1,
    )


def read_number(
    model: Model, drawing: np.ndarray, strokes: Sequence[PenStroke] = (), kept: KeptDrawings | None = None
) -> NumberReading:
    """Read the digits of a drawing in one call of `model.predict` (and one more to cut touching ones).

    `strokes`, the pen strokes that drew it where they are known, are never cut: touching digits part between
    them, and they give the number its signs (see find_signs). A digit nearly the same as one of the
    person's `kept` drawings gets its digit.
    """
    ink = ink_layer(drawing)
    signs = find_signs(strokes)
    # The digits are read from their own ink: the signs are no part of them.
    digit_ink = (
        ink if len(signs.digit_strokes) == len(strokes) else draw_strokes(signs.digit_strokes, *ink.shape)
    )
    strokes = signs.digit_strokes
    pieces = split_ink(digit_ink)
    if not pieces:
        return NumberReading(ink, [], np.zeros((0, 10), np.float32), model.threshold)
    wholes = np.asarray(model.predict(np.stack([piece.image for piece in pieces])), np.float32)
    sure = decide(wholes, model.threshold) >= 0
    line_height = max(piece.bbox[3] for piece in pieces)
    touching = [may_touch(pieces, i, sure[i], line_height) for i in range(len(pieces))]
    held = strokes_by_piece(strokes, pieces, ink.shape) if strokes and any(touching) else None
    cuts = []
    for i, piece in enumerate(pieces):
        if not touching[i]:
            cuts.append(([], [0.0, 0.0]))
        elif held is not None:
            cuts.append(stroke_parts(strokes, stroke_groups(held[i]), ink.shape, line_height))
        else:
            cuts.append(piece_parts(piece.stages.ink, piece.bbox, line_height))
    parts = [part.stages.centered for own, _ in cuts for part in own]
    read = np.asarray(model.predict(np.stack(parts)), np.float32) if parts else wholes[:0]
    digits, probabilities, start = [], [], 0
    for piece, whole, (own, crossed) in zip(pieces, wholes, cuts):
        own_read = read[start : start + len(own)]
        start += len(own)
        chosen = best_parts(piece.bbox, whole, own, own_read, crossed, line_height)
        if chosen is None:
            digits.append(piece)
            probabilities.append(whole)
        else:
            digits += [Digit(own[k].bbox, own[k].on_canvas(digit_ink)) for k in chosen]
            probabilities += [own_read[k] for k in chosen]
    pen_width = max((stroke.width for stroke in strokes), default=0.0)
    points = tuple(sum(d.bbox[0] + d.bbox[2] / 2 < x for d in digits) for x in signs.points)
    reading = NumberReading(
        ink, digits, np.stack(probabilities), model.threshold, pen_width, points, signs.negative
    )
    if kept is None or not len(kept.digits):
        return reading
    features = model.likeness_features(np.stack([digit.image for digit in digits]))
    return replace(reading, kept=kept.changes(features, reading.answers))
