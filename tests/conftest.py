"""Shared fixtures: MNIST (through the same loader the app uses) and the committed models folder."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from digitlib.data import load_mnist

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def drawings_db_path(tmp_path_factory, monkeypatch) -> Path:
    """A fresh drawings database path for every test, set through $DIGITLIB_DRAWINGS_DB: never the user's own."""
    path = tmp_path_factory.mktemp("drawings") / "drawings.sqlite3"
    monkeypatch.setenv("DIGITLIB_DRAWINGS_DB", str(path))
    return path


@pytest.fixture(scope="session")
def mnist():
    """`(x_train, y_train), (x_test, y_test)`: from $DIGITLIB_MNIST, else downloaded by Keras."""
    return load_mnist()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder that holds mnist.npz and the drawn sets (beside $DIGITLIB_MNIST)."""
    path = os.environ.get("DIGITLIB_MNIST")
    if not path:
        pytest.skip("DIGITLIB_MNIST is not set: the drawn data sets live beside it")
    return Path(path).resolve().parent


def digit_on_canvas(digit: np.ndarray, size: int = 200, top: int = 40, left: int = 40, canvas: int = 280) -> np.ndarray:
    """An MNIST digit enlarged to `size` px and pasted on a black canvas, as if drawn there."""
    import cv2

    big = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC)
    out = np.zeros((canvas, canvas), np.uint8)
    out[top : top + size, left : left + size] = big
    return out


def ink_crop(drawing: np.ndarray, height: int) -> np.ndarray:
    """A drawing's ink cropped to its bounding box and scaled to `height` px, keeping its shape."""
    import cv2

    from digitlib.preprocess import ink_bbox

    x, y, w, h = ink_bbox(drawing)
    scale = height / h
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(drawing[y : y + h, x : x + w], (max(1, round(w * scale)), height), interpolation=interpolation)


def compose_number(crops: list[np.ndarray], rng: np.random.Generator, canvas_height: int = 280, margin: int = 40) -> np.ndarray:
    """Digits of one height written side by side on a black canvas: small random gaps, a little up and down."""
    height = crops[0].shape[0]
    gaps = np.round(rng.uniform(0.05, 0.3, len(crops)) * height).astype(int)  # the last one is unused
    jitter = np.round(rng.uniform(-0.1, 0.1, len(crops)) * height).astype(int)
    width = 2 * margin + sum(c.shape[1] for c in crops) + int(gaps[:-1].sum())
    canvas = np.zeros((canvas_height, width), np.uint8)
    x = margin
    for crop, gap, dy in zip(crops, gaps, jitter):
        top = (canvas_height - height) // 2 + dy
        canvas[top : top + height, x : x + crop.shape[1]] = crop
        x += crop.shape[1] + gap
    return canvas

