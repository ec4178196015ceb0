"""Advice on a drawing the model cannot read well: several marks, a dot, a flat line, too small, cut off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digitlib.ink import Box

# Ink whose longer side is below this share of the canvas's height is a dot: the recipe would blow it up
# into a blob, so there is nothing to read.
DOT = 0.06
# Ink less than this many pen widths across is a dot too: a tap leaves ink as wide as the pen.
DOT_PENS = 1.5
# Below this share it is readable but small, and drawn digits that small are read worse.
SMALL = 0.2
# A digit fewer pen widths tall than this is read worse too, whatever the canvas: its strokes fill its loops.
THICK_PENS = 5
# A flat line: at most this share of the canvas's height tall and several times wider than tall.
FLAT = 0.08
FLAT_RATIO = 4
# Each of drawn_dev's 6,114 real digits is at most three separate pieces of ink: more marks than that (a
# smiley's face, eyes and mouth, or several digits) are not one digit, whatever the model says.
MAX_PIECES = 3


@dataclass(frozen=True)
class Hint:
    """What to tell the person drawing, and whether the drawing is no reading at all."""

    message: str
    blocks_answer: bool = False


def blocking_hint(hints: Sequence[Hint]) -> Hint | None:
    """The hint that says a drawing is no reading at all (a dot, a flat line, several marks), if one does."""
    return next((hint for hint in hints if hint.blocks_answer), None)


def crowded_digit_hint(marks: int) -> Hint:
    """The hint for a number whose digit, as placed, is more separate marks than any digit is drawn in."""
    return Hint(
        f"Those are {marks} separate marks in the place of one digit, not a digit. "
        "Write digits from 0 to 9 side by side.",
        blocks_answer=True,
    )


def drawing_hints(
    box: Box,
    canvas_height: int,
    canvas_width: int,
    pieces: int | None,
    digit_size: int | None = None,
    pen_width: float = 0.0,
) -> list[Hint]:
    """The hints for ink in `box` on a canvas, in `pieces` separate marks if counted; most important first.

    A digit's size is the longer side of the box, unless given (a number's is its largest digit's).
    The pen's width, where known, tells a tap of a wide pen from a digit.
    """
    x, y, width, height = box
    digit_size = max(width, height) if digit_size is None else digit_size
    hints = []
    if pieces is not None and pieces > MAX_PIECES:
        hints.append(
            Hint(
                f"Those are {pieces} separate marks, not one digit. Draw a single digit, "
                'or choose "A number" to read several side by side.',
                blocks_answer=True,
            )
        )
    elif max(width, height) < max(DOT * canvas_height, DOT_PENS * pen_width):
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
    elif digit_size < SMALL * canvas_height:
        hints.append(
            Hint("Draw bigger: the model reads digits best when they fill most of the canvas's height.")
        )
    elif digit_size < THICK_PENS * pen_width:
        hints.append(
            Hint(
                "Draw bigger, or with a thinner pen: a digit less than five pen widths tall is read worse, "
                "as its strokes fill its loops."
            )
        )
    if x <= 0 or y <= 0 or x + width >= canvas_width or y + height >= canvas_height:
        hints.append(Hint("The digit runs off the canvas: draw all of it inside the black square."))
    return hints
