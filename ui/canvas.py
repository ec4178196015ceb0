"""The drawing canvas: a component of the app's own, and the pen strokes it sends.

The canvas draws with pointer events, so mouse, pen and touch all draw, from any point of it, and it has
no toolbar or modes to fall into. Python keeps the strokes: Undo and Clear are buttons of the page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from digitlib.strokes import PenStroke

_canvas = st.components.v2.component(
    "digit_studio.canvas",
    js=Path(__file__).with_name("canvas.js").read_text(),
    css="canvas.ink { display: block; width: 100%; touch-action: none; cursor: crosshair; "
    "outline: 1px solid var(--st-border-color); }",
)


def _state(key: str) -> dict:
    """The strokes Python keeps for canvas `key`, the epoch of its last edit and the strokes it left."""
    return st.session_state.setdefault(f"{key}_strokes", {"epoch": 0, "strokes": [], "edited": []})


def drawing_canvas(key: str, width: int, height: int, brush: int) -> list[PenStroke]:
    """Show the canvas and return its strokes, oldest first."""
    state = _state(key)
    if key not in st.session_state and state["edited"] != state["strokes"]:
        # Mounted afresh (back from another mode or page): it draws what it is sent, so send every stroke.
        state.update(epoch=state["epoch"] + 1, edited=state["strokes"])
    result = _canvas(
        key=key,
        data={
            "epoch": state["epoch"],
            # Redrawn only when the epoch changes: sending the strokes as Python left them, not the latest,
            # keeps the element unchanged between strokes, so Streamlit need not send it again.
            "strokes": state["edited"],
            "width": width,
            "height": height,
            "brush": brush,
        },
        default={"drawing": None},
        on_drawing_change=lambda: None,
    )
    sent = result.drawing
    # Strokes drawn before Python's last edit (an Undo or Clear) are out of date.
    if sent is not None and sent["epoch"] == state["epoch"]:
        state["strokes"] = sent["strokes"]
    return [
        PenStroke(np.asarray(s["points"], np.float64).reshape(-1, 2), float(s["width"]))
        for s in state["strokes"]
    ]


def undo(key: str) -> None:
    """Take back the last stroke of canvas `key`."""
    state = _state(key)
    strokes = state["strokes"][:-1]
    state.update(epoch=state["epoch"] + 1, strokes=strokes, edited=strokes)


def clear(key: str) -> None:
    """Empty canvas `key`."""
    state = _state(key)
    state.update(epoch=state["epoch"] + 1, strokes=[], edited=[])
