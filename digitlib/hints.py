"""Advice on a drawing the model cannot read well: too small, only a flat line, or running off the canvas."""

from __future__ import annotations

from dataclasses import dataclass

from digitlib.ink import Box

# Ink whose longer side is below this share of the canvas's height is a dot: the recipe would blow it up
# into a blob, so there is nothing to read.
DOT = 0.06
# Below this share it is readable but small, and drawn digits that small are read worse.
SMALL = 0.2
# A flat line: at most this share of the canvas's height tall and several times wider than tall.
FLAT = 0.08
FLAT_RATIO = 4


@dataclass(frozen=True)
class Hint:
    """What to tell the person drawing, and whether the drawing is no reading at all."""

    message: str
    blocks_answer: bool = False


def drawing_hints(box: Box, canvas_height: int, canvas_width: int) -> list[Hint]:
    """The hints for ink in `box` on a canvas of the given size, most important first."""
    x, y, width, height = box
    hints = []
    if max(width, height) < DOT * canvas_height:
        hints.append(
            Hint("That is only a dot. Draw a whole digit, as tall as most of the canvas.", blocks_answer=True)
        )
    elif height < FLAT * canvas_height and width >= FLAT_RATIO * height:
        hints.append(
            Hint(
                "That is a flat line, not a digit. Draw a whole digit, as tall as most of the canvas.",
                blocks_answer=True,
            )
        )
    elif max(width, height) < SMALL * canvas_height:
        hints.append(
            Hint("Draw bigger: the model reads digits best when they fill most of the canvas's height.")
        )
    if x <= 0 or y <= 0 or x + width >= canvas_width or y + height >= canvas_height:
        hints.append(Hint("The digit runs off the canvas: draw all of it inside the black square."))
    return hints
