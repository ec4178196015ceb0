"""Drawing-like distortions of MNIST digits, and handwriting styles MNIST lacks.

Every augmented digit goes back through the app's own MNIST recipe (`preprocess.to_mnist`),
so the network trains on exactly the kind of input the app will give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from digitlib import ink
from digitlib.ink import Box, mask_box
from digitlib.preprocess import to_mnist
from digitlib.strokes import draw_polyline

UPSCALE = 3  # work at 84x84 so that stroke-width changes come in fine steps
PAD = 28


def stroke_width(image: np.ndarray) -> float:
    """Typical stroke width in pixels of a white-on-black digit."""
    return ink.stroke_width(image > 127)


def ink_box(image: np.ndarray) -> Box:
    """The box of the pixels brighter than mid-grey (the whole image when there are none)."""
    return mask_box(image > 127) or (0, 0, image.shape[1], image.shape[0])


def ink_middle(image: np.ndarray, row: int) -> float:
    """The mean x of the ink brighter than mid-grey in one row."""
    return float(np.mean(np.nonzero(image[row] > 127)[0]))


def _draw_line(image: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: float) -> None:
    """Draw an anti-aliased white line in place."""
    draw_polyline(image, np.array([p0, p1]), max(1, round(width)))


def add_slash(zero: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crossed zero: a diagonal stroke through a 0, as many people write it."""
    out = zero.copy()
    x0, y0, width, height = ink_box(out)
    x1, y1 = x0 + width - 1, y0 + height - 1
    w, h = x1 - x0, y1 - y0
    overshoot = rng.uniform(-0.05, 0.25)
    lean = rng.uniform(-0.25, 0.25) * w
    start = (x0 - overshoot * w + lean, y1 + overshoot * h)
    end = (x1 + overshoot * w + lean, y0 - overshoot * h)
    _draw_line(out, start, end, stroke_width(out) * rng.uniform(0.7, 1.0))
    return out


def stem_direction(image: np.ndarray) -> tuple[float, float]:
    """Unit vector (x, y) along the principal axis of the ink, pointing down the image."""
    moments = cv2.moments((image > 127).astype(np.uint8), binaryImage=True)
    angle = 0.5 * np.arctan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"])
    dx, dy = float(np.cos(angle)), float(np.sin(angle))
    return (-dx, -dy) if dy < 0 else (dx, dy)


def add_stem_flag(
    one: np.ndarray, rng: np.random.Generator, longest: float = 0.8, angles: tuple[float, float] = (25, 65)
) -> np.ndarray:
    """A continental 1 whose flag opens at an angle to its own stem, so a slanted stem does not hide it."""
    out = one.copy()
    _x0, y0, _width, height = ink_box(out)
    y1 = y0 + height - 1
    top_x = ink_middle(out, y0)
    dx, dy = stem_direction(out)
    lean = np.rad2deg(np.arctan2(dx, dy))  # the stem's angle from the vertical, positive to the right
    # Turned from the stem towards the left, but kept steeper than a 7's bar (at least 25 deg below the
    # horizontal), else a 1 that leans left would get a 7's top.
    slope = np.deg2rad(np.clip(rng.uniform(*angles) - lean, 15, 65))  # from the vertical, to the left
    length = rng.uniform(0.2, longest) * (y1 - y0)
    end = (top_x - length * np.sin(slope), y0 + length * np.cos(slope))
    _draw_line(out, (top_x, y0), end, stroke_width(out) * rng.uniform(0.7, 1.0))
    return out


def add_hook(nine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 9 whose tail curls to the left at the bottom, as in a cursive 9."""
    out = nine.copy()
    _x0, y0, _width, height = ink_box(out)
    y1 = y0 + height - 1
    bottom_x = ink_middle(out, y1)
    radius = rng.uniform(0.1, 0.22) * (y1 - y0)
    # Clockwise from the tail's end: down, left, up.
    sweep = np.deg2rad(np.linspace(0, rng.uniform(120, 180), 8))
    xs = bottom_x - radius + radius * np.cos(sweep)
    ys = y1 + radius * np.sin(sweep)
    width = stroke_width(out) * rng.uniform(0.7, 1.0)
    for i in range(len(sweep) - 1):
        _draw_line(out, (xs[i], ys[i]), (xs[i + 1], ys[i + 1]), width)
    return out


def add_base(one: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 1 with a base serif: a short horizontal stroke under it."""
    out = one.copy()
    _x0, y0, _width, height = ink_box(out)
    y1 = y0 + height - 1
    bottom_x = ink_middle(out, y1)
    half = rng.uniform(0.2, 0.4) * (y1 - y0)
    tilt = rng.uniform(-0.08, 0.08) * (y1 - y0)
    _draw_line(
        out,
        (bottom_x - half, y1 - tilt),
        (bottom_x + half, y1 + tilt),
        stroke_width(out) * rng.uniform(0.7, 1.0),
    )
    return out


def add_strike(zero: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A zero struck through the middle by a nearly horizontal stroke that overshoots both sides."""
    out = zero.copy()
    x0, y0, width, height = ink_box(out)
    x1, y1 = x0 + width - 1, y0 + height - 1
    w, h = x1 - x0, y1 - y0
    y = y0 + rng.uniform(0.35, 0.65) * h
    tilt = rng.uniform(-0.2, 0.2) * w
    left, right = rng.uniform(0.0, 0.35, size=2) * w
    _draw_line(out, (x0 - left, y + tilt), (x1 + right, y - tilt), stroke_width(out) * rng.uniform(0.7, 1.0))
    return out


def add_crossbar(seven: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A continental 7: a bar across the middle of its stem, reaching 15-30% of the 7's width to each side."""
    out = seven.copy()
    x0, y0, width, height = ink_box(out)
    x1, y1 = x0 + width - 1, y0 + height - 1
    y = round(y0 + rng.uniform(0.45, 0.6) * (y1 - y0))
    stem = np.nonzero(out[y] > 127)[0]
    if len(stem) == 0:
        return out
    x = float(stem.mean())
    half = rng.uniform(0.15, 0.3) * (x1 - x0 + 1)
    _draw_line(
        out,
        (x - half, y),
        (x + half, y - rng.uniform(-0.05, 0.05) * (y1 - y0)),
        stroke_width(out) * rng.uniform(0.7, 1.0),
    )
    return out


def lift_bar(five: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 5 whose flat top bar is drawn as a separate stroke, lifted off the body."""
    x0, y0, width, height = ink_box(five)
    x1, y1 = x0 + width - 1, y0 + height - 1
    h, w = y1 - y0, x1 - x0
    cut = y0 + round(rng.uniform(0.18, 0.3) * h)
    gap = round(rng.uniform(0.06, 0.15) * h)
    shift = round(rng.uniform(-0.05, 0.15) * w)
    out = five.copy()
    out[:cut] = 0
    bar = five[y0:cut]
    top = max(0, y0 - gap)
    left, right = max(0, shift), min(five.shape[1], five.shape[1] + shift)
    out[top : top + len(bar), left:right] = np.maximum(
        out[top : top + len(bar), left:right], bar[:, left - shift : right - shift]
    )
    return out


@dataclass(frozen=True)
class StyleMix:
    """How often each synthetic handwriting style is given to a digit, and how it is drawn."""

    slashed_zero: float = 0.0
    struck_zero: float = 0.0
    flag_one: float = 0.0
    longest_flag: float = 0.8  # of the height of the 1
    flag_angles: tuple[float, float] = (25, 65)  # degrees between the flag and the 1's stem
    base_one: float = 0.0
    crossed_seven: float = 0.0
    lifted_five: float = 0.0
    hooked_nine: float = 0.0
    pen_jitter: float = 0.0


STYLE_MIXES: dict[str, StyleMix] = {
    # Styles MNIST lacks but many people draw.
    "drawn": StyleMix(
        slashed_zero=0.15,
        struck_zero=0.15,
        flag_one=0.4,
        base_one=0.1,
        crossed_seven=0.15,
        lifted_five=0.3,
        hooked_nine=0.2,
        pen_jitter=0.5,
    ),
    # Only MNIST's own styles, distorted.
    "none": StyleMix(),
}


def add_style(image: np.ndarray, label: int, rng: np.random.Generator, mix: StyleMix) -> np.ndarray:
    """Sometimes give a 0, 1, 5, 7 or 9 a style that MNIST lacks but people draw."""
    if label == 0:
        u = rng.random()
        if u < mix.slashed_zero:
            return add_slash(image, rng)
        if u < mix.slashed_zero + mix.struck_zero:
            return add_strike(image, rng)
    elif label == 1:
        u = rng.random()
        if u < mix.flag_one:
            return add_stem_flag(image, rng, mix.longest_flag, mix.flag_angles)
        if u < mix.flag_one + mix.base_one:
            return add_base(image, rng)
    elif label == 7 and mix.crossed_seven > 0 and rng.random() < mix.crossed_seven:
        return add_crossbar(image, rng)
    elif label == 5 and mix.lifted_five > 0 and rng.random() < mix.lifted_five:
        return lift_bar(image, rng)
    elif label == 9 and mix.hooked_nine > 0 and rng.random() < mix.hooked_nine:
        return add_hook(image, rng)
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


@lru_cache(maxsize=4)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The x and y coordinates of every pixel, as float32 maps for cv2.remap."""
    return tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))


def pen_jitter(image: np.ndarray, rng: np.random.Generator, amplitude: float = 0.03) -> np.ndarray:
    """Bend the strokes by a smooth random displacement, as an unsteady hand does."""
    h, w = image.shape
    coarse = rng.normal(0.0, amplitude * max(h, w), size=(2, 5, 5)).astype(np.float32)
    dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
    xs, ys = pixel_grid(h, w)
    return cv2.remap(image, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)


def distort(big: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Brush width, slant and aspect, and (with probability `jitter`) pen jitter."""
    big = change_thickness(big, rng)
    big = random_affine(big, rng)
    if jitter > 0 and rng.random() < jitter:
        big = pen_jitter(big, rng)
    return big


def augment_digit(image: np.ndarray, label: int, rng: np.random.Generator, mix: StyleMix) -> np.ndarray:
    """One random drawing-like variant of a 28x28 uint8 digit, as float32 (28, 28) in [0, 1]."""
    big = cv2.resize(image, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR)
    big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=0)
    big = add_style(big, label, rng, mix)
    big = distort(big, rng, mix.pen_jitter)
    result = to_mnist(big)
    return result if result is not None else image.astype(np.float32) / 255.0


def augment_batch(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, rate: float, mix: StyleMix
) -> np.ndarray:
    """Augment a fraction `rate` of a uint8 batch; return float32 (N, 28, 28) in [0, 1]."""
    out = images.astype(np.float32) / 255.0
    for i in np.nonzero(rng.random(len(images)) < rate)[0]:
        out[i] = augment_digit(images[i], int(labels[i]), rng, mix)
    return out


def place(digit: np.ndarray, dx: float, dy: float, scale: float) -> np.ndarray:
    """A 28x28 digit scaled about the image centre and moved by (dx, dy) pixels."""
    h, w = digit.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    matrix = np.array([[scale, 0.0, (1 - scale) * cx + dx], [0.0, scale, (1 - scale) * cy + dy]], np.float32)
    return cv2.warpAffine(digit, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def jitter_placement(batch: np.ndarray, rng: np.random.Generator, shift: float, zoom: float) -> np.ndarray:
    """MNIST's classic augmentation: shift each digit of a float batch up to `shift` px, zoom up to `zoom`."""
    moves = rng.uniform(-shift, shift, size=(len(batch), 2))
    scales = rng.uniform(1 - zoom, 1 + zoom, size=len(batch))
    return np.stack([place(digit, dx, dy, s) for digit, (dx, dy), s in zip(batch, moves, scales)])
