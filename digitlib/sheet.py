"""Contact sheets: many drawings in one image, each under a caption, to look at what a model gets wrong."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from digitlib.preprocess import ink_in_square

TILE = 140
CAPTION_HEIGHT = 20
COLUMNS = 8
GUTTER = 2
CAPTION_COLOUR = (0, 220, 255)  # BGR: amber on grey reads at a glance
CAPTION_BACKGROUND = (60, 60, 60)
GUTTER_COLOUR = (0, 0, 160)


def tile(canvas: np.ndarray, caption: str, size: int = TILE) -> np.ndarray:
    """One drawing as white ink on black, its longer side scaled to `size`, under a caption strip (BGR)."""
    strip = np.full((CAPTION_HEIGHT, size, 3), CAPTION_BACKGROUND, np.uint8)
    cv2.putText(
        strip, caption, (3, CAPTION_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, CAPTION_COLOUR, 1, cv2.LINE_AA
    )
    return np.vstack([strip, cv2.cvtColor(ink_in_square(canvas, size), cv2.COLOR_GRAY2BGR)])


def contact_sheet(
    canvases: Sequence[np.ndarray], captions: Sequence[str], columns: int = COLUMNS, size: int = TILE
) -> np.ndarray:
    """The drawings in rows of `columns` tiles, in the order given, each under its caption (BGR)."""
    if len(canvases) != len(captions):
        raise ValueError(f"{len(canvases)} drawings but {len(captions)} captions")
    step_y, step_x = size + CAPTION_HEIGHT + GUTTER, size + GUTTER
    rows = max(1, -(-len(canvases) // columns))
    sheet = np.full((GUTTER + rows * step_y, GUTTER + columns * step_x, 3), GUTTER_COLOUR, np.uint8)
    for i, (canvas, caption) in enumerate(zip(canvases, captions)):
        y, x = GUTTER + (i // columns) * step_y, GUTTER + (i % columns) * step_x
        sheet[y : y + size + CAPTION_HEIGHT, x : x + size] = tile(canvas, caption, size)
    return sheet


def save_sheet(path: str | os.PathLike, sheet: np.ndarray) -> None:
    """Write a sheet as PNG; an unwritable path is an OSError."""
    ok, encoded = cv2.imencode(".png", sheet)
    if not ok:
        raise OSError(f"cannot encode the sheet for {path}")
    with open(path, "wb") as file:
        file.write(encoded.tobytes())
