"""Contact sheets: every drawing lands in its own tile, in order, as the ink it is, under its caption."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitlib.sheet import CAPTION_HEIGHT, GUTTER, GUTTER_COLOUR, TILE, contact_sheet, save_sheet


def square_at(row: int, column: int) -> np.ndarray:
    """A black 280x280 canvas with one white 40x40 square whose top-left corner is at (row, column)."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[row : row + 40, column : column + 40] = 255
    return canvas


def drawing_in(sheet: np.ndarray, index: int, columns: int) -> np.ndarray:
    """The drawing part (no caption) of tile `index`, grey."""
    y = GUTTER + (index // columns) * (TILE + CAPTION_HEIGHT + GUTTER) + CAPTION_HEIGHT
    x = GUTTER + (index % columns) * (TILE + GUTTER)
    return cv2.cvtColor(sheet[y : y + TILE, x : x + TILE], cv2.COLOR_BGR2GRAY)


def test_each_drawing_lands_in_its_tile_in_order():
    canvases = [square_at(20 + 40 * i, 200 - 40 * i) for i in range(5)]
    sheet = contact_sheet(canvases, [f"{i} 4->1" for i in range(5)], columns=3)
    assert sheet.shape == (GUTTER + 2 * (TILE + CAPTION_HEIGHT + GUTTER), GUTTER + 3 * (TILE + GUTTER), 3)
    for i, canvas in enumerate(canvases):
        expected = cv2.resize(canvas, (TILE, TILE), interpolation=cv2.INTER_AREA)
        assert np.array_equal(drawing_in(sheet, i, 3), expected), i
    # The sixth place of the grid is left empty.
    assert (sheet[-TILE:, -TILE:] == GUTTER_COLOUR).all()


def test_a_transparent_canvas_shows_its_ink_and_a_wide_one_keeps_its_shape():
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[100:180, 100:180] = (255, 255, 255, 255)  # the app's canvas: white strokes, ink in the alpha channel
    wide = np.zeros((280, 560), np.uint8)
    wide[100:180, 40:120] = 255  # ink at the left of a number canvas
    sheet = contact_sheet([rgba, wide], ["", ""], columns=2)
    assert np.array_equal(
        drawing_in(sheet, 0, 2), cv2.resize(rgba[..., 3], (TILE, TILE), interpolation=cv2.INTER_AREA)
    )
    tile = drawing_in(sheet, 1, 2)
    ink_rows, ink_columns = np.flatnonzero(tile.max(axis=1)), np.flatnonzero(tile.max(axis=0))
    # Scaled by TILE / 560 = 1/4 and centred: the 70 px high picture starts 35 px down.
    assert (ink_rows.min(), ink_rows.max(), ink_columns.min(), ink_columns.max()) == (
        35 + 25,
        35 + 44,
        10,
        29,
    )


def test_captions_are_written_and_must_match_the_drawings():
    blank = np.zeros((280, 280), np.uint8)
    sheet = contact_sheet([blank, blank], ["0 4->1 ibm", ""], columns=2)
    first, second = (
        sheet[GUTTER : GUTTER + CAPTION_HEIGHT, GUTTER : GUTTER + TILE],
        sheet[GUTTER : GUTTER + CAPTION_HEIGHT, 2 * GUTTER + TILE : 2 * GUTTER + 2 * TILE],
    )
    assert len(np.unique(second.reshape(-1, 3), axis=0)) == 1  # an empty caption is a plain strip
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 2  # text, anti-aliased
    with pytest.raises(ValueError, match="2 drawings but 1 captions"):
        contact_sheet([blank, blank], ["one"])


def test_a_saved_sheet_reads_back_the_same(tmp_path):
    sheet = contact_sheet([square_at(0, 0)], ["0 1->7"])
    save_sheet(tmp_path / "sheet.png", sheet)
    assert np.array_equal(cv2.imread(str(tmp_path / "sheet.png")), sheet)
    with pytest.raises(OSError):
        save_sheet(tmp_path / "missing" / "sheet.png", sheet)
