"""Find the ink in a photo or scan of digits on paper and return it clean, white on black, like a drawing.

Steps: grey levels, the paper's brightness estimated with a large median filter and divided out (uneven
light, shadows, vignettes), polarity (dark ink on light paper or light ink on a dark board), a threshold
above both the paper's texture and Otsu's split, weak ink kept only where it touches strong ink, and
specks dropped. Only NumPy and OpenCV: this module must import without TensorFlow.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.imagefile import check_uint8_image, decode_image
from digitlib.ink import fitted_size, grown, scaled_to_fit, speck_area

# Photos are brought down to this many pixels on the longer side: enough for a digit, fast to clean.
WORK_SIDE = 800
# The paper's brightness is estimated on an image this small, with a median window of this many pixels.
BACKGROUND_SIDE = 96
BACKGROUND_WINDOW = 31
# Keeps sensor noise in dark regions from swamping the log-ratio: grey levels are offset by this much.
DARK_OFFSET = 32.0
# Ink must stand out from the paper by at least this log-ratio (about 18% darker or 20% brighter)...
MIN_CONTRAST = 0.18
# ...and by this many times the paper's own texture (robust standard deviation).
NOISE_SIGMAS = 5.0
# A piece with less than this share of the image is a speck, whatever the largest piece.
MIN_SPECK_SHARE = 1e-4
# Anti-aliased fringe kept around the ink, in pixels.
FRINGE = 2
# Ink sits well above the threshold; paper texture that crosses it barely does.
MIN_SEPARATION = 1.5


def grayscale(image: np.ndarray) -> np.ndarray:
    """Grey levels (H, W) uint8 of a decoded photo: of a transparent one, its opacity (where its ink is)."""
    check_uint8_image(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return np.ascontiguousarray(image.reshape(image.shape[:2]))
    if image.shape[2] == 4 and image[..., 3].min() < 255:
        return np.ascontiguousarray(image[..., 3])
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)


def work_size(gray: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """The image shrunk (never enlarged) so its longer side is at most `side` pixels."""
    if max(gray.shape) <= side:
        return gray
    return scaled_to_fit(gray, side)


def paper_level(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness under each pixel, float32: a median over windows much larger than a stroke."""
    height, width = gray.shape
    small_size = fitted_size(height, width, BACKGROUND_SIDE)
    small = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
    # A median ignores the strokes, dark or light, as long as they cover less than half of each window.
    window = min(BACKGROUND_WINDOW, 2 * (min(small_size) // 2) - 1)
    if window >= 3:
        small = cv2.medianBlur(small, window)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def contrast(gray: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Log-ratio of each pixel to the paper under it: illumination divides out, ink stands out by sign."""
    return np.log((gray.astype(np.float32) + DARK_OFFSET) / (paper + DARK_OFFSET))


def robust_sigma(values: np.ndarray) -> float:
    """The standard deviation of the bulk of some values (from their median absolute deviation)."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def ink_strength(ratio: np.ndarray, sigma: float) -> np.ndarray:
    """How much each pixel looks like ink, with the polarity whose far tail holds more: ink is one-sided."""
    dark = np.maximum(-ratio - NOISE_SIGMAS * sigma, 0).sum()
    light = np.maximum(ratio - NOISE_SIGMAS * sigma, 0).sum()
    return np.maximum(-ratio if dark >= light else ratio, 0)


def otsu_level(strength: np.ndarray) -> float:
    """Otsu's threshold between paper and ink on a strength map."""
    peak = float(strength.max())
    if peak <= 0:
        return 0.0
    scaled = np.round(strength * (255 / peak)).astype(np.uint8)
    level, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return level * peak / 255


def ink_mask(strength: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels above the threshold, plus weaker ones above half of it that touch them, without specks."""
    strong = strength > threshold
    weak = (strength > threshold / 2).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    # Each weak component is kept only if it holds strong ink: blurred edges of strokes, not texture.
    has_strong = np.zeros(count, bool)
    has_strong[np.unique(labels[strong])] = True
    has_strong[0] = False
    areas = stats[:, cv2.CC_STAT_AREA]
    if has_strong.any():
        has_strong &= areas >= speck_area(areas[has_strong], MIN_SPECK_SHARE * strength.size)
    return has_strong[labels]


def find_ink(
    gray: np.ndarray, paper: np.ndarray, bare: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Ink strength, ink mask and threshold of a grey image over its estimated paper (bare where given)."""
    ratio = contrast(gray, paper)
    # Thick strokes covering much of a photo would inflate the texture's estimate: measure it on bare paper.
    sigma = robust_sigma(ratio if bare is None or not bare.any() else ratio[bare])
    strength = ink_strength(ratio, sigma)
    threshold = max(MIN_CONTRAST, NOISE_SIGMAS * sigma, otsu_level(strength))
    return strength, ink_mask(strength, threshold), threshold


def photo_ink(image: np.ndarray) -> np.ndarray:
    """The ink of a photo or scan as (H, W) uint8, 255 = ink on 0 background; all zero when there is none."""
    gray = work_size(grayscale(image))
    paper = paper_level(gray)
    _, mask, _ = find_ink(gray, paper)
    # Once more with the ink painted over by the paper: thick strokes pull a median towards themselves.
    inked = grown(mask, FRINGE)
    paper = paper_level(np.where(inked, paper, gray).astype(np.uint8))
    strength, mask, threshold = find_ink(gray, paper, bare=~inked)
    if not mask.any() or np.median(strength[mask]) < MIN_SEPARATION * threshold:
        return np.zeros_like(gray)
    # Full ink from a typical stroke pixel up, so strokes look as solid as on the canvas.
    level = float(np.percentile(strength[mask], 25))
    return np.where(grown(mask, FRINGE), np.clip(strength * (255 / level), 0, 255), 0).astype(np.uint8)


def picture_ink(data: bytes) -> np.ndarray:
    """The ink of a PNG or JPEG file's bytes, cleaned like a photo: the one path of the app and the CLI."""
    return photo_ink(decode_image(data))
