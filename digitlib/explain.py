"""Why the model answers what it does: how much each region of the input matters to one digit.

Occlusion: hide a small square patch (set it to the black background) at every position, ask the
model again, and see how much the probability of the digit drops. All the occluded copies go to
the model as one batch. Only NumPy: this module must import without Streamlit or TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]
# About the width of an MNIST stroke: big enough to hide a part of the digit, small enough to localise it.
PATCH = 4
# Patches every 2 px: a quarter of stride 1's copies, fast enough for every stroke; 4 cover each inner pixel.
STRIDE = 2


def patch_starts(size: int, patch: int, stride: int) -> list[int]:
    """Where patches start along one side, every `stride` px, the last one flush with the edge."""
    return sorted(set(range(0, size - patch + 1, stride)) | {size - patch})


def patch_masks(shape: tuple[int, int], patch: int, stride: int) -> np.ndarray:
    """One boolean (H, W) mask per patch position, True where that patch hides the image."""
    height, width = shape
    tops, lefts = np.array(patch_starts(height, patch, stride)), np.array(patch_starts(width, patch, stride))
    rows = (np.arange(height) >= tops[:, None]) & (np.arange(height) < tops[:, None] + patch)  # (tops, H)
    columns = (np.arange(width) >= lefts[:, None]) & (np.arange(width) < lefts[:, None] + patch)  # (lefts, W)
    return (rows[:, None, :, None] & columns[None, :, None, :]).reshape(-1, height, width)


def occlusion_map(
    predict: Predict, image: np.ndarray, digit: int, patch: int = PATCH, stride: int = STRIDE
) -> np.ndarray:
    """How much hiding each pixel's surroundings lowers `digit`'s probability, in one batched `predict`."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected one (H, W) image, got shape {image.shape}")
    if not 1 <= patch <= min(image.shape):
        raise ValueError(f"patch must be from 1 to {min(image.shape)} px, got {patch}")
    if not 1 <= stride <= patch:
        raise ValueError(
            f"stride must be from 1 to the patch size {patch} (so every pixel is covered), got {stride}"
        )
    masks = patch_masks(image.shape, patch, stride)
    # A patch over blank background leaves the image as it is: its drop is 0 without asking the model.
    hides_ink = (masks & (image != 0)).any(axis=(1, 2))
    # The unoccluded image goes in the same batch, so its probability comes from the same computation.
    batch = np.concatenate([image[None], np.where(masks[hides_ink], np.float32(0), image)])
    probabilities = predict(batch)[:, digit]
    drops = np.zeros(len(masks), np.float32)
    drops[hides_ink] = probabilities[0] - probabilities[1:]
    # Each pixel gets the mean drop of every patch that covers it.
    total = np.tensordot(drops, masks, axes=1)
    return (total / masks.sum(axis=0)).astype(np.float32)
