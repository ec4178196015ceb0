"""Letters and signs that are not digits, drawn in fonts and by hand, for the "not a digit" class.

Like the augmented digits, each goes through the app's own MNIST recipe before the network sees it.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.augment import PAD, UPSCALE, distort
from digitlib.preprocess import to_mnist
from digitlib.strokes import draw_polyline

# Letters and signs that nobody reads as a digit, for the "not a digit" class. Left out on purpose:
# O o D Q C c (a 0), I i l j L (a 1), Z z (a 2), S s (a 5), G b (a 6), T (a 7), B (an 8), g q (a 9).
NOT_DIGITS = "AEFHKMNPRUVWXYaedfhkmnprtuvwxy#*@"
HERSHEY_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)
LETTER_FIELD = 28 * UPSCALE + 2 * PAD


def draw_not_digit(rng: np.random.Generator) -> np.ndarray:
    """A letter or sign in a single-stroke (Hershey) font, white on black, at the augmentation scale."""
    text = NOT_DIGITS[rng.integers(len(NOT_DIGITS))]
    font = int(HERSHEY_FONTS[rng.integers(len(HERSHEY_FONTS))]) | (
        cv2.FONT_ITALIC if rng.random() < 0.3 else 0
    )
    (w, h), base = cv2.getTextSize(text, font, 1.0, 1)
    size = rng.uniform(50, 80)
    scale = size / max(w, h + base)
    thickness = max(2, round(size * rng.uniform(0.05, 0.1)))
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    canvas = np.zeros((LETTER_FIELD, LETTER_FIELD), np.uint8)
    origin = ((LETTER_FIELD - w) // 2, (LETTER_FIELD + h - base) // 2)
    cv2.putText(canvas, text, origin, font, scale, 255, thickness, cv2.LINE_AA)
    return canvas


def _arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, steps: int = 10
) -> list[tuple[float, float]]:
    """Points along an elliptic arc, angles in degrees with y pointing down (increasing = clockwise)."""
    t = np.deg2rad(np.linspace(start, end, steps))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# Letters as a hand writes them, stroke by stroke, in a unit box (x right, y down): single-storey a,
# looped e, arches of h, m and n. Fonts give typeset shapes; these give the handwritten ones.
HANDWRITTEN_LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.8, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.8, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0.1, 0), (0.5, 0.7), (0.9, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "R": [[(0, 1), (0, 0), *_arc(0.3, 0.27, 0.6, 0.27, -90, 90), (0, 0.54)], [(0.3, 0.54), (0.95, 1)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "a": [_arc(0.42, 0.5, 0.42, 0.48, -30, -360, 16), [(0.88, 0.02), (0.88, 0.88), (1, 1)]],
    "e": [[(0.05, 0.55), (0.95, 0.5), *_arc(0.5, 0.5, 0.45, 0.5, 0, -300, 16)]],
    "h": [[(0, 0), (0, 1)], [(0, 0.62), *_arc(0.45, 0.72, 0.45, 0.22, -180, 0), (0.9, 1)]],
    "k": [[(0, 0), (0, 1)], [(0.8, 0.4), (0, 0.72), (0.85, 1)]],
    "m": [
        [(0, 0.1), (0, 1)],
        [(0, 0.35), *_arc(0.25, 0.35, 0.25, 0.33, -180, 0), (0.5, 1)],
        [(0.5, 0.35), *_arc(0.75, 0.35, 0.25, 0.33, -180, 0), (1, 1)],
    ],
    "n": [[(0, 0.05), (0, 1)], [(0, 0.4), *_arc(0.45, 0.4, 0.45, 0.38, -180, 0), (0.9, 1)]],
    "r": [[(0, 0.1), (0, 1)], _arc(0.45, 0.4, 0.45, 0.35, -180, -40)],
    "u": [[(0, 0), *_arc(0.42, 0.6, 0.42, 0.4, 180, 0)], [(0.84, 0), (0.84, 1)]],
    "w": [[(0, 0), (0.22, 1), (0.5, 0.3), (0.78, 1), (1, 0)]],
    "x": [[(0, 0), (1, 1)], [(1, 0.05), (0, 0.95)]],
    "#": [[(0.35, 0), (0.25, 1)], [(0.75, 0), (0.65, 1)], [(0, 0.33), (1, 0.33)], [(0, 0.67), (1, 0.67)]],
    "*": [[(0.5, 0), (0.5, 1)], [(0.07, 0.25), (0.93, 0.75)], [(0.93, 0.25), (0.07, 0.75)]],
}


def draw_handwritten_letter(rng: np.random.Generator) -> np.ndarray:
    """A letter or sign drawn stroke by stroke by a wobbly hand, white on black, at the augmentation scale."""
    letter = list(HANDWRITTEN_LETTERS)[rng.integers(len(HANDWRITTEN_LETTERS))]
    height = rng.uniform(50, 80)
    width = height * rng.uniform(0.55, 1.1)
    origin = np.array([(LETTER_FIELD - width) / 2, (LETTER_FIELD - height) / 2])
    canvas = np.zeros((LETTER_FIELD, LETTER_FIELD), np.uint8)
    pen = max(2, round(height * rng.uniform(0.04, 0.1)))
    for stroke in HANDWRITTEN_LETTERS[letter]:
        points = np.array(stroke) + rng.normal(0.0, 0.035, size=(len(stroke), 2))
        draw_polyline(canvas, origin + points * [width, height], pen)
    return canvas


def not_digit_batch(
    count: int, rng: np.random.Generator, jitter: float = 0.5, handwritten: float = 0.0
) -> np.ndarray:
    """`count` distorted letters and signs, float32 (count, 28, 28); a share `handwritten` drawn by hand."""
    out = np.zeros((count, 28, 28), np.float32)
    for i in range(count):
        by_hand = handwritten > 0 and rng.random() < handwritten
        drawing = draw_handwritten_letter(rng) if by_hand else draw_not_digit(rng)
        image = to_mnist(distort(drawing, rng, jitter))
        if image is not None:
            out[i] = image
    return out
