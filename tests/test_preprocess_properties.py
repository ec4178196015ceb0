"""Property test: no canvas, however odd, crashes the recipe or comes out off-centre."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitlib.preprocess import MNIST_CENTER, center_of_mass, to_mnist

DTYPES = ["uint8", "bool", "float32", "float64", "int16", "uint16", "int64"]
LAYOUTS = ["gray", "gray1", "rgb", "rgba_opaque", "rgba_alpha"]
PATTERNS = ["blank", "full", "noise", "pixel", "strokes", "border_strokes", "speckles"]


def _side(draw) -> int:
    """Mostly canvas-like sizes, sometimes tiny, rarely huge (up to 4000 px)."""
    kind = draw(st.sampled_from(["tiny", "normal", "normal", "normal", "large"]))
    if kind == "tiny":
        return draw(st.integers(1, 8))
    if kind == "large":
        return draw(st.integers(1000, 4000))
    return draw(st.integers(9, 600))


def _ink(pattern: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A white-on-black uint8 drawing of the given kind."""
    ink = np.zeros((h, w), np.uint8)
    if pattern == "full":
        ink[:] = 255
    elif pattern == "noise":
        ink = rng.integers(0, 256, (h, w), dtype=np.uint8)
    elif pattern == "pixel":
        ink[rng.integers(h), rng.integers(w)] = 255
    elif pattern == "speckles":
        ink[rng.integers(0, h, 5), rng.integers(0, w, 5)] = rng.integers(1, 256, 5)
    elif pattern in ("strokes", "border_strokes"):
        for _ in range(rng.integers(1, 5)):
            points = rng.integers(0, [w, h], (2, 2))
            if pattern == "border_strokes":
                points[0] = [0, rng.integers(h)]
                points[1] = [w - 1, rng.integers(h)]
            width = int(rng.integers(1, max(2, min(h, w) // 8 + 2)))
            cv2.line(ink, tuple(map(int, points[0])), tuple(map(int, points[1])), 255, width, cv2.LINE_AA)
    return ink


def _layout(ink: np.ndarray, layout: str, dtype: str, inverted: bool) -> np.ndarray:
    """Put the drawing into a channel layout and dtype the recipe accepts."""
    gray = 255 - ink if inverted else ink
    if layout == "gray1":
        image = gray[..., None]
    elif layout == "rgb":
        image = np.dstack([gray] * 3)
    elif layout == "rgba_opaque":
        image = np.dstack([gray] * 3 + [np.full_like(gray, 255)])
    elif layout == "rgba_alpha":
        image = np.dstack([np.zeros_like(ink)] * 3 + [ink])
    else:
        image = gray
    if dtype == "bool":
        return image > 127
    if dtype.startswith("float"):
        return image.astype(dtype) / 255.0
    return image.astype(dtype)


@st.composite
def canvases(draw) -> np.ndarray:
    h, w = _side(draw), _side(draw)
    while h * w > 4000 * 1500:  # keep one example's memory modest; each side still reaches 4000
        h = max(1, h // 2)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ink = _ink(draw(st.sampled_from(PATTERNS)), h, w, rng)
    return _layout(ink, draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(DTYPES)), draw(st.booleans()))


@settings(
    max_examples=1_500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(canvases())
def test_any_canvas_gives_none_or_a_centred_mnist_image(canvas):
    result = to_mnist(canvas)
    if result is None:
        return
    assert result.dtype == np.float32 and result.shape == (28, 28)
    assert np.isfinite(result).all() and result.min() >= 0.0 and result.max() <= 1.0
    cy, cx = center_of_mass(result)
    ink_rows, ink_cols = np.nonzero(result > 0)
    # Centred by mass, unless centring would cut ink off: then the ink sits against the field's edge.
    assert abs(cy - MNIST_CENTER[0]) < 1.5 or ink_rows.min() == 0 or ink_rows.max() == 27
    assert abs(cx - MNIST_CENTER[1]) < 1.5 or ink_cols.min() == 0 or ink_cols.max() == 27


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((4, 4, 2), np.uint8), "expected an"),
        (np.zeros((0, 4), np.uint8), "no pixels"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        (np.full((4, 4), 1.5), r"\[0, 1\]"),
        (np.full((4, 4), -3, np.int32), r"\[0, 255\]"),
        (np.zeros((4, 4), "U1"), "dtype"),
        (np.zeros((9000, 2), np.uint8), "too large"),
    ],
)
def test_unaccepted_input_gets_a_clear_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        to_mnist(bad)
