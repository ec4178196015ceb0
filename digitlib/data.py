"""Loading MNIST and drawing sets (canvases with labels or letters)."""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import json
import os
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from digitlib.classes import NUM_CLASSES
from digitlib.strokes import PenStroke, pen_strokes

MNIST_ENV = "DIGITLIB_MNIST"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# Keras's checksum of that file. The download goes where Keras keeps it, so either one downloads it once.
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_CACHE = Path("~/.keras/datasets/mnist.npz")

Split = tuple[np.ndarray, np.ndarray]


class DataError(RuntimeError):
    """A data set is missing or unreadable; the message says what to do."""


def _read_mnist_npz(path: Path) -> tuple[Split, Split]:
    """Read an mnist.npz with Keras's layout."""
    try:
        with np.load(path) as data:
            missing = [k for k in MNIST_KEYS if k not in data.files]
            if missing:
                raise DataError(f"{path} is not an MNIST npz: missing keys {', '.join(missing)}")
            x_train, y_train, x_test, y_test = (np.asarray(data[k], dtype=np.uint8) for k in MNIST_KEYS)
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read MNIST from {path}: {error}") from error
    return (x_train, y_train), (x_test, y_test)


def _download_mnist() -> tuple[Split, Split]:
    """MNIST from the download cache, downloaded there first if it is not yet (needs the internet)."""
    file = MNIST_CACHE.expanduser()
    if not file.is_file():
        try:
            with urllib.request.urlopen(MNIST_URL, timeout=60) as response:
                content = response.read()
        except (OSError, ValueError) as error:
            raise DataError(
                f"MNIST is not available: set {MNIST_ENV} to a local mnist.npz "
                f"(keys {', '.join(MNIST_KEYS)}) or connect to the internet to download it ({error})"
            ) from error
        if hashlib.sha256(content).hexdigest() != MNIST_SHA256:
            raise DataError(f"the file downloaded from {MNIST_URL} is not MNIST's mnist.npz: try again")
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f"{file.name}.{os.getpid()}.part")
        partial.write_bytes(content)
        partial.replace(file)  # whole or not at all, even when two processes download at once
    return _read_mnist_npz(file)


@functools.lru_cache(maxsize=4)
def _load_mnist_cached(path: str | None) -> tuple[Split, Split]:
    """Load once per path (None = download)."""
    if path is None:
        return _download_mnist()
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"MNIST file not found: {file} (set {MNIST_ENV} to a local mnist.npz)")
    return _read_mnist_npz(file)


def mnist_path(path: str | os.PathLike | None = None) -> str | None:
    """The local MNIST file to use: the argument, else $DIGITLIB_MNIST, else None (download)."""
    chosen = path if path is not None else os.environ.get(MNIST_ENV) or None
    return None if chosen is None else str(Path(chosen).expanduser().resolve())


def load_mnist(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """Return `(x_train, y_train), (x_test, y_test)` as uint8 arrays, loaded once per process."""
    return _load_mnist_cached(mnist_path(path))


def load_drawings(path: str | os.PathLike) -> dict:
    """Read a drawn_dev-style npz: `images`, `labels` or `letters`, optionally `institution` and `sample_id`.

    `name` is the file's stem, the name of the set.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"drawings file not found: {file}")
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"cannot read drawings from {file}: one array, not an .npz of arrays")
        with loaded as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read drawings from {file}: not a NumPy .npz of arrays") from error
    if "images" not in arrays:
        raise DataError(f"{file} has no 'images' array")
    if "labels" not in arrays and "letters" not in arrays:
        raise DataError(f"{file} has neither 'labels' nor 'letters'")
    images = arrays["images"]
    if images.ndim not in (3, 4) or images.dtype != np.uint8 or not len(images):
        raise DataError(
            f"{file}: 'images' must be uint8 (N, H, W) or (N, H, W, C) with N > 0, "
            f"got {images.dtype} {images.shape}"
        )
    for key in ("labels", "letters", "institution", "sample_id"):
        if key in arrays and arrays[key].shape != (len(images),):
            raise DataError(f"{file}: '{key}' must hold one value per image, got shape {arrays[key].shape}")
    labels = arrays.get("labels")
    if labels is not None and not (
        np.issubdtype(labels.dtype, np.integer) and labels.min() >= 0 and labels.max() < NUM_CLASSES
    ):
        raise DataError(f"{file}: 'labels' must be digits from 0 to 9")
    arrays["name"] = file.stem
    return arrays


def label_counts(labels: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """How many images each class has."""
    return np.bincount(np.asarray(labels, dtype=int), minlength=classes)


def mean_images(images: np.ndarray, labels: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """The average image of each class, float32 (classes, H, W) in [0, 255]; zeros for an absent class."""
    means = np.zeros((classes, *images.shape[1:]), np.float32)
    for digit in range(classes):
        chosen = images[labels == digit]
        if len(chosen):
            means[digit] = chosen.mean(axis=0, dtype=np.float64)
    return means


def sample_indices(labels: np.ndarray, count: int, seed: int, digit: int | None = None) -> np.ndarray:
    """`count` distinct random indices (fewer if there are not enough), only of class `digit` when given."""
    pool = np.arange(len(labels)) if digit is None else np.flatnonzero(labels == digit)
    rng = np.random.default_rng(seed)
    return rng.choice(pool, size=min(count, len(pool)), replace=False)


DATA_ENV = "DIGITLIB_DATA"
DIGITS_SET, LETTERS_SET = "drawn_dev", "nondigit_dev"
REVIEW_FILE = Path(__file__).resolve().parent.parent / "docs" / "drawn_dev_review.csv"
# Institutions with over a thousand drawings are left out one at a time; the smaller ones together.
OWN_FOLD = ("ibm", "val", "ced", "gmd")
OTHER_INSTITUTIONS = "others"


def drawn_sets_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder of the drawn sets: the argument, else $DIGITLIB_DATA, else beside $DIGITLIB_MNIST."""
    chosen = (
        path
        or os.environ.get(DATA_ENV)
        or (Path(os.environ[MNIST_ENV]).parent if os.environ.get(MNIST_ENV) else None)
    )
    if chosen is None:
        raise DataError(
            f"no folder of drawn sets: set {DATA_ENV} to the folder of drawn_dev.npz and nondigit_dev.npz"
        )
    return Path(chosen).expanduser()


def drawn_set(name: str, folder: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """One of the drawn sets (DIGITS_SET or LETTERS_SET) from the folder of drawn sets."""
    return load_drawings(drawn_sets_dir(folder) / f"{name}.npz")


def load_strokes(npz_path: str | os.PathLike) -> list[list[PenStroke]]:
    """The pen strokes of every drawing of a drawn set, from the `.jsonl.gz` beside its `.npz`."""
    file = Path(npz_path).with_suffix(".jsonl.gz")
    try:
        with gzip.open(file, "rt", encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines]
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read the strokes of {npz_path} from {file}: {error}") from error
    return [pen_strokes(record["canvas_strokes"], record["stroke_width"]) for record in records]


def fold_names(institutions: np.ndarray) -> np.ndarray:
    """The fold of each drawing: its institution if it is one of OWN_FOLD, else OTHER_INSTITUTIONS."""
    institutions = np.asarray(institutions).astype(str)
    return np.where(np.isin(institutions, OWN_FOLD), institutions, OTHER_INSTITUTIONS)


def unreadable(sample_ids: np.ndarray, review: str | os.PathLike = REVIEW_FILE) -> np.ndarray:
    """Which drawings the review of drawn_dev marks unreadable (they do not show their label)."""
    try:
        with open(review, newline="") as file:
            marked = {row["sample_id"] for row in csv.DictReader(file) if row["verdict"] == "unreadable"}
    except (OSError, KeyError, csv.Error) as error:
        raise DataError(f"cannot read the review {review}: {error}") from error
    return np.isin(np.asarray(sample_ids).astype(str), list(marked))
