"""Pictures the app shows: enlarged inputs, boxes on ink, why-maps and probability bars, as NumPy arrays.

Only NumPy: the pages hand these arrays to Streamlit, and the tests check them pixel by pixel.
"""

from __future__ import annotations

import numpy as np

from digitlib.ink import Box

# The app's red where a region speaks for the answer, blue where it speaks against it.
SUPPORTS, OPPOSES = np.array([1.0, 0.29, 0.29]), np.array([0.25, 0.5, 1.0])
BOX_COLOUR = (255, 75, 75)


def pixelated(image: np.ndarray, scale: int) -> np.ndarray:
    """An image enlarged by repeating pixels, so the browser shows sharp squares instead of blur."""
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (or a uint8 one) as uint8, so that showing it needs no conversion."""
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def with_boxes(ink: np.ndarray, boxes: list[Box], colour: tuple[int, int, int] = BOX_COLOUR) -> np.ndarray:
    """The grey ink as RGB with each box outlined."""
    rgb = np.repeat(ink[:, :, None], 3, axis=2)
    thickness = max(1, max(ink.shape) // 140)  # about one screen pixel at the shown size
    for x, y, width, height in boxes:
        top, bottom, left, right = y, y + height - 1, x, x + width - 1
        rgb[top : top + thickness, left : right + 1] = colour
        rgb[bottom - thickness + 1 : bottom + 1, left : right + 1] = colour
        rgb[top : bottom + 1, left : left + thickness] = colour
        rgb[top : bottom + 1, right - thickness + 1 : right + 1] = colour
    return rgb


def saliency_overlay(saliency: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The dimmed grey image as RGB uint8, tinted red where `saliency` is positive and blue where negative."""
    scale = float(np.abs(saliency).max())
    strength = saliency / scale if scale > 0 else np.zeros_like(saliency)
    grey = np.repeat(image[:, :, None], 3, axis=2) * 0.5  # dimmed, so the colours stand out over the ink
    tint = np.where(strength[:, :, None] > 0, SUPPORTS, OPPOSES)
    # A square-root scale keeps the weaker regions visible beside the strongest one.
    alpha = np.sqrt(np.abs(strength))[:, :, None]
    return np.round(255 * ((1 - alpha) * grey + alpha * tint)).astype(np.uint8)
