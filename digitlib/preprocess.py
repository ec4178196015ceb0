"""Turn a drawing into an MNIST-style 28x28 image, the way MNIST itself was made.

The recipe: find the ink, crop to its bounding box, scale the longer side to 20 px keeping
the aspect ratio (anti-aliased), then place it in a 28x28 field so that its centre of mass
sits at the centre. Only NumPy and OpenCV: this module must import without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from digitlib.ink import Box, count_pieces, fitted_size, mask_box, scaled_to_fit, shrunk_by_area

FIELD = 28
BOX = 20
# Mean centre of mass of the MNIST test digits, in pixel-index coordinates (row, column).
MNIST_CENTER = (14.0, 14.0)
# Ink below this level (of 255) is anti-aliasing fringe or noise, not part of the bounding box.
INK_THRESHOLD = 40
# The largest drawing or photo accepted, in pixels a side.
MAX_SIDE = 8192

# Drawings are small: OpenCV's thread pool costs more to wake than it saves, and the app's
# sessions already run in parallel.
cv2.setNumThreads(1)


@dataclass(frozen=True)
class Stages:
    """Every intermediate image of the recipe, for showing what the network sees."""

    drawing: np.ndarray  # the drawing as given, as uint8
    ink: np.ndarray  # (H, W) uint8, 255 = ink, background 0
    bbox: Box  # of the ink in `ink`
    cropped: np.ndarray  # (h, w) uint8
    fitted: np.ndarray  # longer side 20 px, float32 in [0, 1]
    centered: np.ndarray  # (28, 28) float32 in [0, 1]

    @cached_property
    def pieces(self) -> int:
        """How many separate marks the ink makes, counted in its box (the ink outside it is only fringe)."""
        return count_pieces(self.cropped)


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate the layout and dtype of an input image and return it as uint8."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a NumPy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image has no pixels: shape {image.shape}")
    if max(image.shape[:2]) > MAX_SIDE:
        raise ValueError(f"image too large: {image.shape[1]}x{image.shape[0]}, at most {MAX_SIDE} px a side")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("float image contains NaN or infinity")
        if image.size and (image.min() < 0.0 or image.max() > 1.0):
            raise ValueError("float image must have values in [0, 1]")
        return np.round(image * 255.0).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer):
        if image.size and (image.min() < 0 or image.max() > 255):
            raise ValueError("integer image must have values in [0, 255]")
        return image.astype(np.uint8)
    raise ValueError(f"unsupported image dtype {image.dtype}")


def _border(image: np.ndarray) -> np.ndarray:
    """The outermost pixels of a 2-D image."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def has_transparent_background(image: np.ndarray) -> bool:
    """Whether an RGBA drawing keeps its strokes in the alpha channel (a transparent canvas)."""
    # Read from the border only: the background decides whether the canvas is transparent.
    return image.ndim == 3 and image.shape[2] == 4 and _border(image[..., 3]).min() < 255


def ink_layer(image: np.ndarray) -> np.ndarray:
    """Return the ink of any supported drawing as (H, W) uint8 with 255 = ink on 0 background."""
    image = check_image(image)
    if has_transparent_background(image):
        return cv2.extractChannel(np.ascontiguousarray(image), 3)
    return _opaque_ink(image)


def _opaque_ink(image: np.ndarray) -> np.ndarray:
    """The ink of a checked drawing whose background is not transparent: grey, background removed."""
    if image.ndim == 3 and image.shape[2] == 4:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2GRAY)
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    else:
        gray = np.ascontiguousarray(image.reshape(image.shape[:2]))
    border = _border(gray)
    background = int(np.partition(border, len(border) // 2)[len(border) // 2])  # the border's median
    if background > 127:
        gray = cv2.bitwise_not(gray)
        background = 255 - background
    if background > 0:
        gray = cv2.subtract(gray, np.full_like(gray, background))
    return gray


def ink_bbox(ink: np.ndarray) -> Box | None:
    """Bounding box of the ink, or None when there is none."""
    # One uint8 mask rather than a boolean one and its uint8 copy: less memory for the model to wait on.
    _, mask = cv2.threshold(ink, INK_THRESHOLD, 255, cv2.THRESH_BINARY)
    return mask_box(mask)


def fit_to_box(cropped: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is `box` px, keeping the aspect ratio, anti-aliased; float32 in [0, 1]."""
    # In float, so that faint ink averaged over a large area is not rounded away.
    if max(cropped.shape) <= box:
        fitted = scaled_to_fit(cropped.astype(np.float32), box)
    else:
        fitted = shrunk_by_area(cropped, *fitted_size(*cropped.shape, box))
    fitted *= 1 / 255
    return fitted


def _weighted_mean_index(profile: np.ndarray, mass: float) -> float:
    """Mean index of a 1-D ink profile weighted by its values."""
    return float(profile @ np.arange(len(profile), dtype=np.float64) / mass)


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted centre (row, column) of an image with some ink."""
    # NumPy, not cv2.moments: OpenCV reads an (N, 2) float array as a list of points, not an image.
    rows, cols = image.sum(axis=1, dtype=np.float64), image.sum(axis=0, dtype=np.float64)
    mass = float(rows.sum())
    if mass <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    return _weighted_mean_index(rows, mass), _weighted_mean_index(cols, mass)


def _ink_extent(profile: np.ndarray) -> tuple[int, int]:
    """First and last index of a 1-D ink profile's non-zero values."""
    nonzero = np.flatnonzero(profile)
    return int(nonzero[0]), int(nonzero[-1])


def _clamped_shift(shift: float, image: np.ndarray, axis: int, field: int) -> float:
    """A shift of `image` along `axis` (0: down, 1: right), limited so none of its ink leaves the field."""
    if 0 <= shift <= field - image.shape[axis]:
        return shift  # the whole image fits at this shift, so its ink does too
    first, last = _ink_extent(image.sum(axis=1 - axis))
    return min(max(shift, -first), field - 1 - last)


def _mass_and_centre(image: np.ndarray) -> tuple[float, float, float]:
    """The total ink of a float image and its centre of mass (row, column)."""
    if image.shape[1] == 2:
        # OpenCV reads an (N, 2) array as N points, not as an image.
        return float(image.sum(dtype=np.float64)), *center_of_mass(image)
    moments = cv2.moments(image)
    mass = moments["m00"]
    if mass <= 0:
        return 0.0, 0.0, 0.0
    return mass, moments["m01"] / mass, moments["m10"] / mass


def center_by_mass(fitted: np.ndarray, field: int = FIELD) -> np.ndarray:
    """Place the image in a field x field square with its centre of mass at the MNIST centre."""
    mass, cy, cx = _mass_and_centre(fitted)
    if mass <= 0:
        return np.zeros((field, field), np.float32)
    # Clamped so that lopsided ink (a heavy end with a long thin tail) is moved, never cut off.
    dx = _clamped_shift(MNIST_CENTER[1] - cx, fitted, 1, field)
    dy = _clamped_shift(MNIST_CENTER[0] - cy, fitted, 0, field)
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    placed = cv2.warpAffine(fitted, shift, (field, field), flags=cv2.INTER_LINEAR, borderValue=0)
    placed *= 1 / placed.max()
    return placed


def mnist_stages(image: np.ndarray) -> Stages | None:
    """Run the MNIST recipe and keep every stage, or None for a drawing without ink."""
    drawing = check_image(image)
    ink = ink_layer(drawing)
    bbox = ink_bbox(ink)
    if bbox is None:
        return None
    x, y, w, h = bbox
    cropped = ink[y : y + h, x : x + w]
    fitted = fit_to_box(cropped)
    return Stages(drawing, ink, bbox, cropped, fitted, center_by_mass(fitted))


def to_model_input(images: np.ndarray, input_shape: tuple) -> np.ndarray:
    """Shape float images (N, 28, 28) or one (28, 28) in [0, 1] as a model's input layer expects."""
    return np.ascontiguousarray(images, dtype=np.float32).reshape((-1, *input_shape[1:]))


def to_mnist(image: np.ndarray) -> np.ndarray | None:
    """Turn a drawing into a float32 (28, 28) MNIST-style image in [0, 1], or None when blank."""
    stages = mnist_stages(image)
    return None if stages is None else stages.centered


def ink_in_square(image: np.ndarray, side: int) -> np.ndarray:
    """A drawing's ink scaled to fit a side x side square and centred in it: (side, side) uint8, 255 = ink."""
    ink = ink_layer(image)
    height, width = ink.shape
    if (height, width) == (side, side):
        return ink
    fitted = scaled_to_fit(ink, side)
    square = np.zeros((side, side), np.uint8)
    top, left = (side - fitted.shape[0]) // 2, (side - fitted.shape[1]) // 2
    square[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return square
