"""Shared fixtures: MNIST (through the same loader the app uses) and the committed models folder."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest

from digitlib.data import load_mnist

ROOT = Path(__file__).resolve().parent.parent
# The real-browser fixtures (an app server, Chromium), for the test_browser_* modules.
pytest_plugins = ["browser"]


@pytest.fixture(autouse=True)
def drawings_db_path(tmp_path_factory, monkeypatch) -> Path:
    """A fresh drawings database path per test, set through $DIGITLIB_DRAWINGS_DB: never the user's own."""
    path = tmp_path_factory.mktemp("drawings") / "drawings.sqlite3"
    monkeypatch.setenv("DIGITLIB_DRAWINGS_DB", str(path))
    return path


@pytest.fixture(scope="session")
def mnist():
    """`(x_train, y_train), (x_test, y_test)`: from $DIGITLIB_MNIST, else downloaded once."""
    return load_mnist()


@pytest.fixture(scope="session")
def drawn(shared_data_dir) -> dict[str, np.ndarray]:
    """drawn_dev: real people's digits on 280x280 canvases."""
    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        return {"images": data["images"], "labels": data["labels"]}


@pytest.fixture(scope="session")
def predictor():
    """The committed default model, from the project's models/."""
    from digitlib.registry import DEFAULT_MODEL
    from digitlib.serving import Predictor

    return Predictor(DEFAULT_MODEL, ROOT / "models")


@pytest.fixture(scope="session")
def mnist_file() -> Path:
    """The local MNIST file the app reads ($DIGITLIB_MNIST)."""
    path = os.environ.get("DIGITLIB_MNIST")
    if not path or not Path(path).is_file():
        pytest.skip("set DIGITLIB_MNIST to a local mnist.npz")
    return Path(path)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, mnist_file) -> Path:
    """A models folder: a tiny CNN and MLP trained one epoch on a few images, evaluated on MNIST test."""
    from digitlib.artifacts import model_files
    from digitlib.evaluate import evaluate_mnist
    from digitlib.serving import Predictor
    from digitlib.train import train

    folder = tmp_path_factory.mktemp("tiny_models")
    for name, limit in (("cnn", 3000), ("mlp", 300)):
        train(name, epochs=1, directory=folder, mnist=mnist_file, limit=limit, verbose=0)
        evaluate_mnist(Predictor(name, folder).predict, model_files(name, folder), mnist_file)
    return folder


@pytest.fixture(scope="session")
def strokes_file(shared_data_dir) -> str:
    """drawn_dev's pen strokes (a .jsonl.gz beside its .npz)."""
    return str(shared_data_dir / "drawn_dev.jsonl.gz")


def committed(*names: str, folder: Path) -> Path:
    """A models folder holding only some of the committed models (their files linked, not copied)."""
    for name in names:
        for path in (ROOT / "models").glob(f"{name}.*"):
            (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder that holds mnist.npz and the drawn sets (beside $DIGITLIB_MNIST)."""
    path = os.environ.get("DIGITLIB_MNIST")
    if not path:
        pytest.skip("DIGITLIB_MNIST is not set: the drawn data sets live beside it")
    return Path(path).resolve().parent


def digit_on_canvas(
    digit: np.ndarray, size: int = 200, top: int = 40, left: int = 40, canvas: int = 280
) -> np.ndarray:
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
    return cv2.resize(
        drawing[y : y + h, x : x + w], (max(1, round(w * scale)), height), interpolation=interpolation
    )


def compose_number(
    crops: list[np.ndarray],
    rng: np.random.Generator,
    canvas_height: int = 280,
    margin: int = 40,
    gap_range: tuple[float, float] = (0.05, 0.3),
) -> np.ndarray:
    """Digits of one height side by side on a black canvas, a little up and down, with random gaps.

    The gaps are in digit heights; negative ones overlap the digits.
    """
    height = crops[0].shape[0]
    gaps = np.round(rng.uniform(*gap_range, len(crops)) * height).astype(int)  # the last one is unused
    jitter = np.round(rng.uniform(-0.1, 0.1, len(crops)) * height).astype(int)
    width = 2 * margin + sum(c.shape[1] for c in crops) + int(gaps[:-1].sum())
    canvas = np.zeros((canvas_height, width), np.uint8)
    x = margin
    for crop, gap, dy in zip(crops, gaps, jitter):
        top = (canvas_height - height) // 2 + dy
        region = canvas[top : top + height, x : x + crop.shape[1]]
        np.maximum(region, crop, out=region)
        x += crop.shape[1] + gap
    return canvas


def photographed(
    canvas: np.ndarray, rng: np.random.Generator, dark_ink: bool = True, side: int = 420
) -> bytes:
    """A white-on-black drawing as a JPEG photo of ink on paper: texture, uneven light, noise, blur."""
    import cv2

    scale = side / max(canvas.shape)
    size = (round(canvas.shape[1] * scale), round(canvas.shape[0] * scale))
    ink = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    height, width = ink.shape
    texture = cv2.GaussianBlur(rng.normal(0, 1, ink.shape).astype(np.float32), (0, 0), 12)
    texture /= texture.std()
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * (cols - cols.mean()) + np.sin(angle) * (rows - rows.mean())
    centre_row, centre_col = rng.uniform(0.3, 0.7, 2)
    vignette = 1 - 0.9 * ((rows - centre_row) ** 2 + (cols - centre_col) ** 2)
    light = (0.75 + 0.5 * gradient) * vignette
    paper, ink_level = (200 + 12 * texture, 45.0) if dark_ink else (50 + 8 * texture, 210.0)
    photo = light * (paper * (1 - ink) + ink_level * ink) + rng.normal(0, 5, ink.shape)
    photo = cv2.GaussianBlur(np.clip(photo, 0, 255).astype(np.float32), (0, 0), 1.0)
    rgb = np.repeat(np.clip(photo, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    ok, encoded = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return encoded.tobytes()


def penultimate_model(model):
    """A Keras model cut before its last dense layer: the features its classifier reads (oracle of embed)."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return keras.Model(model.input, dense[-1].input)
