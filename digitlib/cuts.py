"""Cutting touching digits apart: paths through the least ink, the parts between them, the best row of parts.

A piece of ink that may hold touching digits is cut along paths from its top to its bottom that cross least
ink: they bend around slanted and overlapping strokes, where a straight column cannot. Every part between two
paths that has a digit-tall piece of ink is read, and the piece is read as the row of parts, or as itself,
that scores best (see part_score): sure digits, as wide and as tall as digits are, between cuts that cross
little ink. Only NumPy and OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from digitlib.classes import answer_confidence
from digitlib.ink import Box, stroke_width
from digitlib.preprocess import INK_THRESHOLD, Stages, ink_layer, mnist_stages

# A cut path steps at most one column aside per row, at a cost in ink pixels: one set of paths per cost, as
# cheap steps follow slanted gaps and dear ones keep straight through a knot of strokes. More paths find
# more cuts, and cost time: every part between two paths is read.
STEP_COSTS = (0.05, 0.1, 0.3, 1.0, 3.0)
# Per cost and per row of ROWS (shares of the piece's height), the paths through the lowest points of the ink
# crossed along that row, CUT_SPACING line heights apart and CUT_MARGIN from the piece's ends: CUTS_PER_HEIGHT
# per line height of the piece's width, at least MIN_CUTS. Paths that leave all but SAME_INK of the piece's
# ink on the same sides are one.
ROWS = (0.35, 0.5, 0.65)
CUT_SPACING = 0.05
CUT_MARGIN = 0.1
CUTS_PER_HEIGHT = 6
MIN_CUTS = 8
SAME_INK = 0.02
# A part between two paths is read when it is at most PART_WIDTH line heights wide and has a piece of ink at
# least PART_HEIGHT of the line tall: not only a stub of a wide 7's bar, yet a 5 whose flag was drawn apart.
PART_WIDTH = 2.5
PART_HEIGHT = 0.5
# How likely a part is one digit (see part_score). The model is often as sure of two touching digits read as
# one as of each alone, so what counts is how many nines its confidence has (up to NINES, worth SURE_BONUS),
# and shape: wider than the digit it reads as (z-score of log width/height against DIGIT_ASPECTS, weighted
# by ASPECT_WEIGHT) or shorter than SHORT of the line (HEIGHT_WEIGHT per line height short).
SURE_BONUS = 0.8
NINES = 7
ASPECT_WEIGHT = 0.3
SHORT = 0.9
HEIGHT_WEIGHT = 2.0
# 5th and 95th percentiles of width / height of each digit in MNIST's training set.
DIGIT_ASPECTS = (
    (0.65, 1.25), (0.2, 0.8), (0.65, 1.33), (0.6, 1.05), (0.55, 1.11),
    (0.6, 1.43), (0.5, 1.0), (0.55, 1.05), (0.5, 1.05), (0.5, 0.95),
)  # fmt: skip
# A cut costs this per stroke width of ink it crosses: touching digits meet at a point or two, while a cut
# through one digit crosses its strokes.
CROSSING_COST = 0.15
# The shares and weights of cutting were chosen by measuring numbers composed from drawn_dev digits on seeds
# other than the tests'.


def descend(cost: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(steps, rows, columns): per step cost, the least ink a path from the top row to each pixel crosses,
    stepping one column aside per row at most at that cost."""
    total = np.empty((len(steps), *cost.shape), np.float32)
    total[:, 0] = cost[0]
    beside = np.ones((1, 3), np.uint8)
    for row in range(1, len(cost)):
        above = total[:, row - 1]
        aside = cv2.erode(above, beside, borderType=cv2.BORDER_REPLICATE) + steps[:, None]
        total[:, row] = cost[row] + np.minimum(above, aside)
    return total


def follow(total: np.ndarray, starts: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(paths, rows): the cheapest paths up `total` (see descend) from starts (step, row, column), a column
    per row; below its start a path keeps its start column."""
    walled = np.pad(total, ((0, 0), (0, 0), (1, 1)), constant_values=np.inf)  # no path steps off the piece
    asides = np.arange(-1, 2)
    step, first, columns = starts[:, :1], starts[:, 1], starts[:, 2].copy()
    paths = np.repeat(columns[:, None], total.shape[1], axis=1)
    for row in range(int(first.max()) - 1, -1, -1):
        costs = walled[step, row, columns[:, None] + asides + 1] + steps[step] * np.abs(asides)
        columns = np.where(first > row, columns + asides[costs.argmin(axis=1)], columns)
        paths[:, row] = columns
    return paths


def valleys(profile: np.ndarray, margin: int, spacing: int, count: int) -> np.ndarray:
    """Up to `count` lowest local minima of a profile, `margin` from its ends, the middle of each flat run."""
    window = np.ones((1, 2 * spacing + 1), np.uint8)
    lowest = cv2.erode(profile[None].astype(np.float32), window, borderType=cv2.BORDER_REPLICATE)[0]
    low = profile <= lowest + 1e-3
    low[:margin] = False
    low[max(len(low) - margin, 0) :] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], low.astype(np.int8), [0]])))
    middles = (edges[::2] + edges[1::2] - 1) // 2
    return middles[np.argsort(profile[middles], kind="stable")[:count]]


def cut_paths(mask: np.ndarray, line_height: int) -> list[np.ndarray]:
    """Paths from a piece's top to its bottom that cross least ink, each a column per row, left to right."""
    height, width = mask.shape
    cost = mask.astype(np.float32)
    count = max(MIN_CUTS, int(CUTS_PER_HEIGHT * width / height))
    margin, spacing = int(CUT_MARGIN * line_height), max(1, int(CUT_SPACING * line_height))
    steps = np.array(STEP_COSTS, np.float32)
    down = descend(cost, steps)
    up = descend(cost[::-1].copy(), steps)[:, ::-1]
    starts = []
    for step, middle in ((k, int(share * (height - 1))) for k in range(len(steps)) for share in ROWS):
        # The least ink a path from top to bottom through each pixel of this row crosses.
        through = down[step, middle] + up[step, middle] - cost[middle]
        through = np.convolve(through, np.ones(3, np.float32) / 3, mode="same")
        starts += [(step, middle, column) for column in valleys(through, margin, spacing, count)]
    if not starts:
        return []
    starts = np.array(starts)
    upper = follow(down, starts, steps)
    flipped = np.stack([starts[:, 0], height - 1 - starts[:, 1], starts[:, 2]], axis=1)
    lower = follow(up[:, ::-1], flipped, steps)
    paths = np.where(np.arange(height) <= starts[:, 1:2], upper, lower[:, ::-1])
    # Paths that leave the same ink on each side are one cut, however far apart they run through blank.
    left_of = np.concatenate([np.zeros((height, 1)), np.cumsum(mask, axis=1)], axis=1)
    rows = np.arange(height)
    inks = left_of[rows, paths]  # (paths, rows): ink left of each path in each row
    found = [0]
    for k in range(1, len(paths)):
        if np.abs(inks[found] - inks[k]).sum(axis=1).min() > SAME_INK * mask.sum():
            found.append(k)
    return sorted(paths[found], key=lambda path: path.mean())


def is_digit_sized(stages: Stages, line_height: int) -> bool:
    """Whether some connected piece of a part's ink is PART_HEIGHT of the line tall, not only fragments."""
    if stages.cropped.shape[0] < PART_HEIGHT * line_height:
        return False
    # In the recipe's 20-pixel image, whose pieces are as tall in proportion and much quicker to find.
    mask = (stages.fitted > 0.1).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    tallest = int(stats[1:, cv2.CC_STAT_HEIGHT].max(initial=0)) * stages.cropped.shape[0] / mask.shape[0]
    return tallest >= PART_HEIGHT * line_height


@dataclass(frozen=True)
class Part:
    """The ink of a piece between two of its cut paths, numbered left to right from its left edge (0)."""

    left: int
    right: int
    origin: tuple[int, int]  # where the stages' drawing lies on the canvas
    stages: Stages

    @property
    def bbox(self) -> Box:
        """The part's ink box on the canvas."""
        x, y, width, height = self.stages.bbox
        return self.origin[0] + x, self.origin[1] + y, width, height

    def on_canvas(self, canvas: np.ndarray) -> Stages:
        """The part's stages as if it were drawn alone on a blank canvas of the given one's size."""
        drawing = np.zeros_like(canvas)
        (x, y), (height, width) = self.origin, self.stages.drawing.shape
        drawing[y : y + height, x : x + width] = self.stages.drawing
        return replace(self.stages, drawing=drawing, ink=ink_layer(drawing), bbox=self.bbox)


def between(crop: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[int, np.ndarray]:
    """The first column and the ink of a crop between two paths, with a blank border of one pixel."""
    first, last = int(left.min()), int(right.max())
    columns = np.arange(first, last)
    part = np.zeros((crop.shape[0] + 2, last - first + 2), np.uint8)
    part[1:-1, 1:-1] = crop[:, first:last] * ((columns >= left[:, None]) & (columns < right[:, None]))
    return first, part


def piece_parts(ink: np.ndarray, box: Box, line_height: int) -> tuple[list[Part], list[float]]:
    """The digit-sized parts of the ink in `box` between any two of its bounds (its left edge, the cut paths
    left to right, its right edge), and the ink each bound crosses, in stroke widths."""
    x, y, width, height = box
    crop = ink[y : y + height, x : x + width]
    mask = crop > INK_THRESHOLD
    paths = cut_paths(mask, line_height)
    bounds = np.stack([np.zeros(height, np.int64), *paths, np.full(height, width, np.int64)])
    rows = np.arange(height)
    # Ink left of each bound in each row, so as to skip parts too wide or too short before making them.
    left_of = np.concatenate([np.zeros((height, 1), np.int64), np.cumsum(mask, axis=1)], axis=1)[rows, bounds]
    middles = bounds.mean(axis=1)
    parts = []
    for j in range(1, len(bounds)):
        inked = (left_of[j] - left_of[:j]) > 0  # (left bounds, rows)
        tall = height - inked[:, ::-1].argmax(axis=1) - inked.argmax(axis=1) >= PART_HEIGHT * line_height
        narrow = middles[j] - middles[:j] <= PART_WIDTH * line_height
        for i in np.flatnonzero(tall & narrow & inked.any(axis=1)):
            if (i, j) == (0, len(bounds) - 1):
                continue
            first, ink = between(crop, bounds[i], bounds[j])
            stages = mnist_stages(ink)
            if stages is not None and is_digit_sized(stages, line_height):
                parts.append(Part(int(i), j, (x + first - 1, y - 1), stages))
    crossed = [float(mask[rows, np.minimum(path, width - 1)].sum()) for path in paths]
    return parts, [0.0, *np.divide(crossed, stroke_width(mask)).tolist(), 0.0]


def part_score(probabilities: np.ndarray, bbox: Box, line_height: int) -> float:
    """How likely some ink read as `probabilities` is one digit, on a log scale (see SURE_BONUS)."""
    confidence = float(answer_confidence(probabilities)[0])
    nines = min(-np.log10(max(1.0 - confidence, 10.0**-NINES)), NINES)
    _, _, width, height = bbox
    low, high = np.log(DIGIT_ASPECTS[int(np.argmax(probabilities))])
    # How many standard deviations wider than its digit's middle, 5th to 95th percentile being 3.3 of them.
    too_wide = max(0.0, (np.log(width / height) - (low + high) / 2) / ((high - low) / 3.3))
    too_short = max(0.0, SHORT - height / line_height)
    return float(
        np.log(confidence + 1e-3)  # ink that is no digit at all costs as much as one read at 0.1%
        + SURE_BONUS * nines / NINES
        - ASPECT_WEIGHT * too_wide**2 / 2
        - HEIGHT_WEIGHT * too_short
    )


def best_row(
    scores: dict[tuple[int, int], float], crossed: list[float]
) -> tuple[float, list[tuple[int, int]]]:
    """The row of parts (left bound, right bound) across a piece that scores best, with its score."""
    best: dict[int, tuple[float, list[tuple[int, int]]]] = {0: (0.0, [])}
    for (i, j), score in sorted(scores.items(), key=lambda item: item[0][1]):
        if i in best:
            total = best[i][0] + score - CROSSING_COST * crossed[j]
            if j not in best or total > best[j][0]:
                best[j] = (total, [*best[i][1], (i, j)])
    return best.get(len(crossed) - 1, (-np.inf, []))


def best_parts(
    box: Box, whole: np.ndarray, parts: list[Part], read: np.ndarray, crossed: list[float], line_height: int
) -> list[int] | None:
    """The parts (indices) whose row reads a piece better than it reads whole, or None to keep it whole."""
    scores = {(p.left, p.right): part_score(r, p.bbox, line_height) for p, r in zip(parts, read)}
    score, row = best_row(scores, crossed)
    # The piece itself is not cut off anything: it is as tall as it is.
    if score <= part_score(whole, box, box[3]):
        return None
    index = {(p.left, p.right): k for k, p in enumerate(parts)}
    return [index[key] for key in row]
