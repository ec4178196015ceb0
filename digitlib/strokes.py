"""Pen strokes as the canvas records them, drawn as ink: white, round-capped lines on black.

The app's canvas sends its strokes, and drawn_dev and nondigit_dev keep theirs, so a drawing can be drawn
again exactly as it was, or with another slant, aspect and pen for training. Only NumPy and OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# The Draw page's canvas is this many pixels tall (and a digit's as wide), as drawn_dev's canvases are.
CANVAS_SIZE = 280
# The Draw page's pen width in pixels, until the person picks another.
PEN_WIDTH = 18
# cv2.polylines takes fixed-point coordinates: 4 bits of sub-pixel precision.
SHIFT = 4
Stroke = Sequence[Sequence[float]]  # [(x, y), ...] in canvas pixels
# A restyled drawing's longer side, as a share of its square: slanted and stretched, it still fits.
FILL = 0.6


@dataclass(frozen=True)
class PenStroke:
    """One stroke: its points in canvas pixels and the pen's width."""

    points: np.ndarray  # (N, 2) float
    width: float


def draw_polyline(canvas: np.ndarray, points: np.ndarray, width: int, antialiased: bool = True) -> None:
    """Draw a white line through (x, y) points in pixels onto a uint8 canvas, in place."""
    fixed = np.round(np.asarray(points, np.float64) * (1 << SHIFT)).astype(np.int32)
    cv2.polylines(canvas, [fixed], False, 255, width, cv2.LINE_AA if antialiased else cv2.LINE_8, SHIFT)


def draw_strokes(
    strokes: Sequence[PenStroke], height: int, width: int, antialiased: bool = False
) -> np.ndarray:
    """The strokes drawn on a black (height, width) canvas: uint8, 255 = ink.

    Bilevel by default, like the NIST scans MNIST was made from: the recipe's resize to 20 px anti-aliases
    the ink, and bilevel lines draw four times faster.
    """
    canvas = np.zeros((height, width), np.uint8)
    for stroke in strokes:
        points = stroke.points if len(stroke.points) > 1 else np.vstack([stroke.points] * 2)  # a dot
        draw_polyline(canvas, points, max(1, round(stroke.width)), antialiased)
    return canvas


def pen_strokes(strokes: Sequence[Stroke], width: float) -> list[PenStroke]:
    """Strokes drawn with one pen width, as PenStrokes (empty strokes dropped)."""
    return [PenStroke(np.asarray(s, np.float64).reshape(-1, 2), width) for s in strokes if len(s)]


def restyled(strokes: Sequence[PenStroke], rng: np.random.Generator, side: int = 140) -> np.ndarray:
    """The strokes drawn again with a random slant, rotation, aspect and pen width, fitted into `side` px.

    Only the drawing's shape matters here: the recipe crops to the ink and scales it to 20 px anyway.
    """
    points = np.vstack([stroke.points for stroke in strokes])
    low, high = points.min(axis=0), points.max(axis=0)
    extent = max(float((high - low).max()), 1.0)
    angle = np.deg2rad(rng.uniform(-12, 12))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, rng.uniform(-0.25, 0.25)], [0.0, 1.0]])
    aspect = np.exp(rng.uniform(-0.2, 0.2))
    size = FILL * side
    linear = rotation @ shear @ np.diag([aspect, 1 / aspect]) * (size / extent)
    centre = (low + high) / 2
    pen = rng.uniform(0.05, 0.2) * size  # pens from a fine liner to a marker, for the drawing's size
    moved = [PenStroke((stroke.points - centre) @ linear.T + side / 2, pen) for stroke in strokes]
    # Anti-aliased: on this small square the resize averages few pixels, so a fine pen's edges show.
    return draw_strokes(moved, side, side, antialiased=True)
