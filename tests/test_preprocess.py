"""The drawing-to-MNIST recipe against real MNIST digits and every canvas layout."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import digit_on_canvas

from digitlib.preprocess import (
    MNIST_CENTER,
    center_by_mass,
    center_of_mass,
    fit_to_box,
    mnist_stages,
    to_mnist,
)

PLACEMENTS = [(200, 40, 40), (120, 10, 150), (250, 0, 30), (60, 200, 200), (280, 0, 0)]


@pytest.mark.parametrize("size,top,left", PLACEMENTS)
def test_mnist_digits_come_back_close_to_the_original(mnist, size, top, left):
    _, (x_test, _) = mnist
    errors = []
    for digit in x_test[:200]:
        result = to_mnist(digit_on_canvas(digit, size, top, left))
        errors.append(np.abs(result - digit / 255.0).mean())
    assert np.mean(errors) < 0.05
    assert np.max(errors) < 0.12


def test_mnist_digits_pass_through_almost_unchanged(mnist):
    _, (x_test, _) = mnist
    errors = [np.abs(to_mnist(digit) - digit / 255.0).mean() for digit in x_test[:200]]
    assert np.mean(errors) < 0.03
    assert np.max(errors) < 0.08


def test_output_is_float32_in_unit_range_with_centred_mass(mnist):
    _, (x_test, _) = mnist
    result = to_mnist(digit_on_canvas(x_test[0], 150, 5, 120))
    assert result.dtype == np.float32 and result.shape == (28, 28)
    assert result.min() >= 0.0 and result.max() == pytest.approx(1.0)
    cy, cx = center_of_mass(result)
    assert abs(cy - MNIST_CENTER[0]) < 0.5 and abs(cx - MNIST_CENTER[1]) < 0.5


@pytest.mark.parametrize("shape", [(280, 280), (280, 280, 3), (280, 280, 4), (50, 400), (1, 1)])
def test_blank_canvases_give_none(shape):
    assert to_mnist(np.zeros(shape, np.uint8)) is None
    assert to_mnist(np.full(shape, 255, np.uint8)) is None  # all white paper: no ink either


def _layouts(canvas: np.ndarray) -> dict[str, np.ndarray]:
    """The same white-on-black drawing in every layout the app can receive."""
    rgb = np.dstack([canvas] * 3)
    alpha_only = np.zeros((*canvas.shape, 4), np.uint8)
    alpha_only[..., 3] = canvas  # black strokes on a transparent canvas
    opaque = np.dstack([canvas] * 3 + [np.full_like(canvas, 255)])
    # What the Draw page returns.
    app = np.dstack([np.where(canvas > 0, 255, 0).astype(np.uint8)] * 3 + [canvas])
    wider = np.zeros((canvas.shape[0], canvas.shape[1] + 9, 4), np.uint8)
    wider[:, 9:] = app
    return {
        "gray": canvas,
        "gray_channel": canvas[..., None],
        "rgb": rgb,
        "black_on_white": 255 - canvas,
        "black_on_white_rgb": 255 - rgb,
        "rgba_alpha_only": alpha_only,
        "rgba_opaque": opaque,
        "rgba_app_canvas": app,
        "rgba_app_canvas_view": wider[:, 9:],  # not contiguous: a view into a wider canvas
        "float": canvas.astype(np.float64) / 255.0,
        "bool": canvas > 127,
    }


@pytest.mark.parametrize("layout", list(_layouts(np.zeros((2, 2), np.uint8))))
def test_every_layout_gives_the_same_digit(mnist, layout):
    _, (x_test, _) = mnist
    canvas = digit_on_canvas(x_test[7], 180, 50, 60)
    expected = to_mnist(canvas)
    result = to_mnist(_layouts(canvas)[layout])
    tolerance = 0.15 if layout == "bool" else 0.01
    assert np.abs(result - expected).mean() < tolerance
    if layout.startswith("rgba"):
        assert np.array_equal(result, expected), "the alpha channel holds the same ink exactly"


def test_grey_paper_background_is_removed(mnist):
    _, (x_test, _) = mnist
    canvas = digit_on_canvas(x_test[3])
    paper = 255 - (canvas.astype(np.int32) * 200 // 255) - 30  # dark ink on light grey paper
    result = to_mnist(paper.astype(np.uint8))
    assert np.abs(result - to_mnist(canvas)).mean() < 0.05


def test_stages_show_the_recipe(mnist):
    _, (x_test, _) = mnist
    canvas = digit_on_canvas(x_test[0], 100, 30, 90)  # a 7, narrower than tall
    rows, cols = np.nonzero(x_test[0] > 127)
    stages = mnist_stages(canvas)
    x, y, w, h = stages.bbox
    assert abs(x - (90 + cols.min() * 100 / 28)) < 6 and abs(y - (30 + rows.min() * 100 / 28)) < 6
    assert stages.cropped.shape == (h, w)
    assert stages.ink.shape == canvas.shape and np.array_equal(
        stages.ink[y : y + h, x : x + w], stages.cropped
    )
    assert max(stages.fitted.shape) == 20
    assert stages.fitted.shape[0] / stages.fitted.shape[1] == pytest.approx(h / w, rel=0.15)
    assert stages.centered.shape == (28, 28)


def test_lopsided_ink_is_never_cut_off():
    # A heavy blob at one end of a long faint-but-visible line: centring its mass would push the line's
    # far end out of the 28x28 field.
    canvas = np.zeros((40, 400), np.uint8)
    cv2.line(canvas, (0, 20), (399, 20), 120, 3)
    canvas[5:35, 370:400] = 255
    result = to_mnist(canvas)
    assert result[:, 0].max() > 0.02  # the thin end is still in the field, against its left edge


def test_center_of_mass_of_two_column_images():
    # The oracle of the centring tests below, checked by hand: cv2.moments would read (N, 2) as N points.
    image = np.zeros((20, 2), np.float32)
    image[15:, :] = 1.0
    assert center_of_mass(image) == pytest.approx((17.0, 0.5))


@pytest.mark.parametrize("shape", [(20, 2), (2, 20), (20, 1)])
def test_narrow_images_are_centred_by_their_pixels(shape):
    # A (N, 2) float image is what cv2.moments reads as N points: centring must not go that way.
    image = np.zeros(shape, np.float32)
    image[-5:, -1] = 1.0
    cy, cx = center_of_mass(center_by_mass(image))
    assert cy == pytest.approx(MNIST_CENTER[0], abs=0.05) and cx == pytest.approx(MNIST_CENTER[1], abs=0.05)


def test_ink_in_a_corner_of_a_large_image_is_still_centred():
    # The image cannot move 13 px right and stay inside the field, but its ink can: only ink is kept in.
    image = np.zeros((20, 20), np.float32)
    image[:3, :3] = 1.0
    cy, cx = center_of_mass(center_by_mass(image))
    assert cy == pytest.approx(MNIST_CENTER[0], abs=0.05) and cx == pytest.approx(MNIST_CENTER[1], abs=0.05)


def test_fit_to_box_keeps_aspect_ratio():
    assert fit_to_box(np.full((100, 50), 255, np.uint8)).shape == (20, 10)
    assert fit_to_box(np.full((3, 12), 255, np.uint8)).shape == (5, 20)
    assert fit_to_box(np.full((1, 1), 255, np.uint8)).shape == (20, 20)


@pytest.mark.parametrize("height,width", [(194, 134), (280, 21), (21, 280), (40, 3), (300, 300), (8000, 25)])
def test_fit_to_box_shrinks_as_opencvs_area_resize(mnist, height, width):
    # Real digits stretched to each size, then shrunk back: the matrix products against OpenCV's INTER_AREA.
    _, (x_test, _) = mnist
    for digit in x_test[:5]:
        crop = cv2.resize(digit, (width, height), interpolation=cv2.INTER_LINEAR)
        size = (round(width * 20 / max(height, width)) or 1, round(height * 20 / max(height, width)) or 1)
        expected = cv2.resize(crop.astype(np.float32), size, interpolation=cv2.INTER_AREA) / 255
        np.testing.assert_allclose(fit_to_box(crop), expected, atol=1e-5)


def test_a_single_thin_line_is_still_found():
    canvas = np.zeros((280, 280), np.uint8)
    cv2.line(canvas, (140, 40), (140, 240), 255, 1)
    result = to_mnist(canvas)
    assert result is not None and result.max() == pytest.approx(1.0)
    assert result[:, 14].sum() > result[:, 4].sum()


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((5, 5, 2), np.uint8),
        np.zeros((0, 10), np.uint8),
        np.zeros((2, 2, 2, 2), np.uint8),
        np.full((4, 4), np.nan),
        np.full((4, 4), 3.0),
        np.zeros((4, 4), np.complex64),
        [[0, 1]],
    ],
)
def test_unsupported_input_raises_value_error(bad):
    with pytest.raises(ValueError):
        to_mnist(bad)


def test_preprocess_imports_without_tensorflow():
    code = (
        "import sys, digitlib.preprocess; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pieces_of_ink_are_counted_as_the_eye_separates_them():
    from digitlib.ink import count_pieces

    canvas = np.zeros((280, 280), np.uint8)
    assert count_pieces(canvas) == 0
    for x in (40, 110, 180):
        cv2.circle(canvas, (x, 140), 20, 255, -1)
    assert count_pieces(canvas) == 3
    canvas[200, 200] = canvas[201, 201] = 255  # two pixels that touch only at a corner are one mark
    assert count_pieces(canvas) == 4
    cv2.line(canvas, (40, 140), (180, 140), 255, 5)
    assert count_pieces(canvas) == 2, "a stroke through three discs joins them"
