"""Ink masks: bounding boxes, specks and fringes, shared by drawings, numbers and photos.

A box is always (x, y, width, height) in pixels. Only NumPy and OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]
# A piece of ink with less than this share of the largest piece's area is a speck, not part of a digit.
SPECK_FRACTION = 0.02


def fitted_size(height: int, width: int, side: int) -> tuple[int, int]:
    """(width, height), as cv2.resize takes them, of an image scaled so that its longer side is `side` px."""
    scale = side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def scaled_to_fit(image: np.ndarray, side: int) -> np.ndarray:
    """The image scaled to a longer side of `side` px, keeping its aspect ratio; averaged when shrunk."""
    height, width = image.shape[:2]
    interpolation = cv2.INTER_AREA if max(height, width) > side else cv2.INTER_LINEAR
    return cv2.resize(image, fitted_size(height, width, side), interpolation=interpolation)


def area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) float32: how much of each source pixel falls in each target pixel, shrinking."""
    # The share of source pixel j below target edge e is clip(e - j, 0, 1); a pixel holds what lies between
    # its two edges.
    edges = np.arange(target + 1, dtype=np.float32)[:, None] * np.float32(source / target)
    below = edges - np.arange(source, dtype=np.float32)
    np.clip(below, 0, 1, out=below)
    return below[1:] - below[:-1]


def shrunk_by_area(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A 2-D image shrunk to (height, width) by averaging the area under each pixel: float32.

    What cv2.resize's INTER_AREA gives, as two small matrix products, which take half its time for a
    drawing's crop when the scale is not a whole number.
    """
    rows, columns = image.shape
    shrunk = area_weights(rows, height) @ image.astype(np.float32) @ area_weights(columns, width).T
    shrunk *= (height * width) / (rows * columns)
    return shrunk


def mask_box(mask: np.ndarray) -> Box | None:
    """The box of a mask's non-zero pixels, or None when there are none."""
    x, y, width, height = cv2.boundingRect(np.ascontiguousarray(mask, dtype=np.uint8))
    return None if width == 0 or height == 0 else (x, y, width, height)


def grown(mask: np.ndarray, radius: int) -> np.ndarray:
    """A boolean mask grown by `radius` pixels all round: a stroke with its anti-aliased fringe."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(np.asarray(mask, dtype=np.uint8), disc).astype(bool)


def count_pieces(mask: np.ndarray) -> int:
    """How many separate pieces of ink a mask has; pieces that touch, even at a corner, are one."""
    mask = np.asarray(mask)
    mask = mask if mask.dtype == np.uint8 else mask.astype(bool).astype(np.uint8)
    count, _labels = cv2.connectedComponents(np.ascontiguousarray(mask), connectivity=8)
    return count - 1


def speck_area(areas: np.ndarray, smallest: float = 0.0) -> float:
    """The area under which a piece of ink is a speck, given the areas of the pieces that count."""
    return max(SPECK_FRACTION * float(np.max(areas, initial=0)), smallest)


def stroke_width(mask: np.ndarray) -> float:
    """The typical thickness of a mask's strokes in pixels: twice the distance from their middle to blank."""
    mask = np.asarray(mask, dtype=np.uint8)
    if not mask.any():
        return 1.0
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    return float(2.0 * np.percentile(distance[mask > 0], 90))
