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
    """The strokes Python keeps for canvas `key`, the epoch of its last edit and what that edit left.

    `seen` is the number of the last stroke Python had at that edit: the canvas keeps any stroke after it,
    drawn while the edit was on its way, instead of losing it.
    """
    return st.session_state.setdefault(f"{key}_strokes", {"epoch": 0, "strokes": [], "edited": [], "seen": 0})


def _last_number(strokes: list[dict]) -> int:
    """The number the canvas gave the last of some strokes (0 for none)."""
    return max((stroke.get("n", 0) for stroke in strokes), default=0)


def _take(state: dict, sent: dict | None) -> None:
    """Keep the strokes the canvas sent, if it drew them on Python's latest edit (else they are stale)."""
    if sent is not None and sent["epoch"] == state["epoch"]:
        state["strokes"] = sent["strokes"]


def _take_pending(key: str) -> None:
    """Before an edit by a button: keep the strokes the canvas sent that the page has not read yet."""
    _take(_state(key), (st.session_state.get(key) or {}).get("drawing"))


def _edit(key: str, strokes: list[dict]) -> None:
    """Replace the strokes of canvas `key` with `strokes`, as Python's own edit of the drawing."""
    state = _state(key)
    seen = max(state["seen"], _last_number(state["strokes"]))
    state.update(epoch=state["epoch"] + 1, strokes=strokes, edited=strokes, seen=seen)


def drawing_canvas(key: str, width: int, height: int, brush: int) -> list[PenStroke]:
    """Show the canvas and return its strokes, oldest first."""
    state = _state(key)
    if key not in st.session_state and state["edited"] != state["strokes"]:
        # Mounted afresh (back from another mode or page): it draws what it is sent, so send every stroke.
        _edit(key, state["strokes"])
    result = _canvas(
        key=key,
        data={
            "epoch": state["epoch"],
            # Redrawn only when the epoch changes: sending the strokes as Python left them, not the latest,
            # keeps the element unchanged between strokes, so Streamlit need not send it again.
            "strokes": state["edited"],
            "seen": state["seen"],
            "width": width,
            "height": height,
            "brush": brush,
        },
        default={"drawing": None},
        on_drawing_change=lambda: None,
    )
    _take(state, result.drawing)
    return [
        PenStroke(np.asarray(s["points"], np.float64).reshape(-1, 2), float(s["width"]))
        for s in state["strokes"]
    ]


def undo(key: str) -> None:
    """Take back the last stroke of canvas `key`."""
    # A stroke sent just before the button was pressed may not have been read yet: it is the one to undo.
    _take_pending(key)
    _edit(key, _state(key)["strokes"][:-1])


def clear(key: str) -> None:
    """Empty canvas `key`."""
    _take_pending(key)
    _edit(key, [])
