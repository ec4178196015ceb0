"""Drawing-like distortions of MNIST digits, and handwriting styles MNIST lacks.

Every augmented digit goes back through the app's own MNIST recipe (`preprocess.to_mnist`),
so the network trains on exactly the kind of input the app will give it.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.preprocess import to_mnist

UPSCALE = 3  # work at 84x84 so that stroke-width changes come in fine steps
PAD = 28


def stroke_width(image: np.ndarray) -> float:
    """Typical stroke width in pixels of a white-on-black digit."""
    mask = (image > 127).astype(np.uint8)
    if not mask.any():
        return 1.0
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    return float(2.0 * np.percentile(distance[mask > 0], 90))


def ink_extent(image: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of the pixels brighter than mid-grey."""
    ys, xs = np.nonzero(image > 127)
    if len(xs) == 0:
        h, w = image.shape
        return 0, 0, w - 1, h - 1
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _draw_line(image: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float) -> None:
    """Draw an anti-aliased white line in place."""
    shift = 4  # sub-pixel precision of cv2.line
    scale = 1 << shift
    a = (round(p0[0] * scale), round(p0[1] * scale))
    b = (round(p1[0] * scale), round(p1[1] * scale))
    cv2.line(image, a, b, 255, max(1, round(width)), cv2.LINE_AA, shift)


def add_slash(zero: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crossed zero: a diagonal stroke through a 0, as many people write it."""
    out = zero.copy()
    x0, y0, x1, y1 = ink_extent(out)
    w, h = x1 - x0, y1 - y0
    overshoot = rng.uniform(-0.05, 0.25)
    lean = rng.uniform(-0.25, 0.25) * w
    start = (x0 - overshoot * w + lean, y1 + overshoot * h)
    end = (x1 + overshoot * w + lean, y0 - overshoot * h)
    _draw_line(out, start, end, stroke_width(out) * rng.uniform(0.7, 1.0))
    return out


def add_flag(one: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A continental 1: an up-stroke from the top of the 1 going down to the left."""
    out = one.copy()
    x0, y0, x1, y1 = ink_extent(out)
    top_x = float(np.mean(np.nonzero(out[y0] > 127)[0]))
    height = y1 - y0
    length = rng.uniform(0.2, 0.5) * height
    angle = np.deg2rad(rng.uniform(25, 65))  # below the horizontal
    end = (top_x - length * np.cos(angle), y0 + length * np.sin(angle))
    _draw_line(out, (top_x, y0), end, stroke_width(out) * rng.uniform(0.7, 1.0))
    return out


def add_base(one: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 1 with a base serif: a short horizontal stroke under it."""
    out = one.copy()
    x0, y0, x1, y1 = ink_extent(out)
    bottom_x = float(np.mean(np.nonzero(out[y1] > 127)[0]))
    half = rng.uniform(0.2, 0.4) * (y1 - y0)
    tilt = rng.uniform(-0.08, 0.08) * (y1 - y0)
    _draw_line(out, (bottom_x - half, y1 - tilt), (bottom_x + half, y1 + tilt), stroke_width(out) * rng.uniform(0.7, 1.0))
    return out


def add_style(image: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """Sometimes give a 0 or a 1 a style that MNIST lacks but people draw."""
    if label == 0 and rng.random() < 0.2:
        return add_slash(image, rng)
    if label == 1:
        u = rng.random()
        if u < 0.25:
            return add_flag(image, rng)
        if u < 0.35:
            return add_base(image, rng)
    return image


def change_thickness(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make the strokes thinner or thicker, as with another brush width."""
    size = int(rng.choice([-3, 0, 0, 3, 3, 5, 7]))
    if size == 0:
        return image
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(size), abs(size)))
    if size < 0:
        thinner = cv2.erode(image, kernel)
        return thinner if (thinner > 127).sum() > 0.4 * (image > 127).sum() else image
    return cv2.dilate(image, kernel)


def random_affine(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate, shear and stretch about the centre, as slant and aspect vary between writers."""
    h, w = image.shape
    angle = np.deg2rad(rng.uniform(-15, 15))
    shear = rng.uniform(-0.3, 0.3)
    aspect = np.exp(rng.uniform(-0.2, 0.2))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([aspect, 1.0 / aspect])
    center = np.array([w / 2, h / 2])
    matrix = np.hstack([linear, (center - linear @ center)[:, None]]).astype(np.float32)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def augment_digit(image: np.ndarray, label: int, rng: np.random.Generator, styles: bool = True) -> np.ndarray:
    """One random drawing-like variant of a 28x28 uint8 digit, as float32 (28, 28) in [0, 1]."""
    big = cv2.resize(image, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR)
    big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=0)
    if styles:
        big = add_style(big, label, rng)
    big = change_thickness(big, rng)
    big = random_affine(big, rng)
    result = to_mnist(big)
    return result if result is not None else image.astype(np.float32) / 255.0


def augment_batch(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, rate: float = 0.85) -> np.ndarray:
    """Augment a fraction `rate` of a uint8 batch; return float32 (N, 28, 28) in [0, 1]."""
    out = images.astype(np.float32) / 255.0
    for i in np.nonzero(rng.random(len(images)) < rate)[0]:
        out[i] = augment_digit(images[i], int(labels[i]), rng)
    return out
