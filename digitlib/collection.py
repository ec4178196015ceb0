"""Your drawings: digits you corrected in the app, kept in a local SQLite database and exported like drawn_dev.

The database is `$DIGITLIB_DRAWINGS_DB`, else `data/drawings.sqlite3` in the project (git ignores `data/`).
Every save is one transaction in WAL mode, so a crash mid-write leaves the rows committed before it intact.
Only the standard library's sqlite3, NumPy and OpenCV: this module must import without TensorFlow or Streamlit.
"""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from digitlib.classes import NUM_CLASSES
from digitlib.data import DataError
from digitlib.preprocess import FIELD, decode_image, ink_in_square

DRAWINGS_ENV = "DIGITLIB_DRAWINGS_DB"
DEFAULT_DRAWINGS_DB = Path(__file__).resolve().parent.parent / "data" / "drawings.sqlite3"
SCHEMA_VERSION = 1
# How long a save waits for another connection's write to finish before giving up.
BUSY_TIMEOUT_S = 10.0
EXPORT_SIDE = 280  # drawn_dev's canvases are 280x280
INSTITUTION = "you"
INPUT_BYTES = FIELD * FIELD * np.dtype(np.float32).itemsize

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so an exported sample_id stays unique
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    predicted INTEGER NOT NULL CHECK (predicted BETWEEN 0 AND 9),
    confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    model TEXT NOT NULL,
    saved_at TEXT NOT NULL,  -- ISO 8601, UTC
    canvas_png BLOB NOT NULL,
    input BLOB NOT NULL CHECK (length(input) = {INPUT_BYTES})  -- (28, 28) float32, C order
)
"""


class CollectionError(DataError):
    """The drawings database cannot be opened, read or written; the message says which file and why."""


@dataclass(frozen=True)
class SavedDrawing:
    """One saved drawing, without its canvas (decoded only when needed)."""

    id: int
    label: int
    predicted: int
    confidence: float
    model: str
    saved_at: str
    input: np.ndarray  # (28, 28) float32 in [0, 1]: what the model read


def drawings_db(path: str | os.PathLike | None = None) -> Path:
    """The database file: the argument, else $DIGITLIB_DRAWINGS_DB, else the project's data/drawings.sqlite3."""
    chosen = path if path is not None else os.environ.get(DRAWINGS_ENV) or DEFAULT_DRAWINGS_DB
    return Path(chosen).expanduser()


def _prepare(connection: sqlite3.Connection) -> None:
    """Switch to WAL with full syncs and create the table in a new database; refuse a newer schema."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")  # a save that returned survives a power cut, not only a crash
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"it was written by a newer digit studio (schema {version})")
    if version < SCHEMA_VERSION:
        # Both statements are idempotent: a crash between them is repaired by the next open.
        connection.execute(SCHEMA)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _connect(file: Path) -> sqlite3.Connection:
    """A prepared connection to the database file, created with its folder if needed."""
    file.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(file, timeout=BUSY_TIMEOUT_S)
    try:
        _prepare(connection)
    except sqlite3.Error:
        connection.close()
        raise
    return connection


@contextmanager
def opened(path: str | os.PathLike | None = None, create: bool = True) -> Iterator[sqlite3.Connection]:
    """A connection to the drawings database, closed afterwards; SQLite errors become CollectionError."""
    file = drawings_db(path)
    if not create and not file.is_file():
        raise CollectionError(f"no drawings database at {file} (save a drawing in the app, or set {DRAWINGS_ENV})")
    try:
        connection = _connect(file)
    except (sqlite3.Error, OSError) as error:
        raise CollectionError(f"cannot open the drawings database {file}: {error}") from error
    try:
        yield connection
    except sqlite3.Error as error:
        raise CollectionError(f"drawings database {file}: {error}") from error
    finally:
        connection.close()


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a grey, RGB or RGBA uint8 image."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"a canvas must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {image.dtype} {image.shape}")
    to_bgr = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(image.shape[2] if image.ndim == 3 else 1)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, to_bgr) if to_bgr is not None else image)
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} canvas as PNG")
    return png.tobytes()


def _check_input(model_input: np.ndarray) -> np.ndarray:
    """The 28x28 input as contiguous float32, or ValueError if it is not one."""
    if model_input.shape != (FIELD, FIELD):
        raise ValueError(f"the model input must be ({FIELD}, {FIELD}), got {model_input.shape}")
    values = np.ascontiguousarray(model_input, dtype=np.float32)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ValueError("the model input must have finite values in [0, 1]")
    return values


def _check_digit(name: str, digit: int) -> int:
    """A digit 0-9 as a Python int, or ValueError."""
    if int(digit) != digit or not 0 <= digit < NUM_CLASSES:
        raise ValueError(f"{name} must be a digit from 0 to 9, got {digit!r}")
    return int(digit)


def _check_confidence(confidence: float) -> float:
    """A probability as a Python float, or ValueError."""
    if not 0.0 <= confidence <= 1.0:  # also refuses NaN
        raise ValueError(f"confidence must be a probability in [0, 1], got {confidence!r}")
    return float(confidence)


def save_drawing(
    connection: sqlite3.Connection,
    canvas: np.ndarray,
    model_input: np.ndarray,
    label: int,
    predicted: int,
    confidence: float,
    model: str,
    saved_at: datetime | None = None,
) -> int:
    """Save one drawing with its right digit and the model's answer in one transaction; return its id."""
    # Everything is checked and encoded before the transaction, so it holds the lock only for the insert.
    row = (
        _check_digit("label", label),
        _check_digit("predicted", predicted),
        _check_confidence(confidence),
        model,
        (saved_at or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        encode_png(canvas),
        _check_input(model_input).tobytes(),
    )
    with connection:
        cursor = connection.execute(
            "INSERT INTO drawings (label, predicted, confidence, model, saved_at, canvas_png, input) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    return int(cursor.lastrowid)


def _saved(row: tuple) -> SavedDrawing:
    """A SavedDrawing from a (id, label, predicted, confidence, model, saved_at, input) row."""
    drawing_id, label, predicted, confidence, model, saved_at, model_input = row
    image = np.frombuffer(model_input, np.float32).reshape(FIELD, FIELD)
    return SavedDrawing(drawing_id, label, predicted, confidence, model, saved_at, image)


def list_drawings(connection: sqlite3.Connection) -> list[SavedDrawing]:
    """Every saved drawing, newest first."""
    rows = connection.execute("SELECT id, label, predicted, confidence, model, saved_at, input FROM drawings ORDER BY id DESC")
    return [_saved(row) for row in rows]


def load_canvas(connection: sqlite3.Connection, drawing_id: int) -> np.ndarray:
    """The canvas of one saved drawing as it was drawn (RGB(A) or grey uint8); KeyError if there is none."""
    row = connection.execute("SELECT canvas_png FROM drawings WHERE id = ?", (drawing_id,)).fetchone()
    if row is None:
        raise KeyError(f"no saved drawing #{drawing_id}")
    return decode_image(row[0])


def delete_drawing(connection: sqlite3.Connection, drawing_id: int) -> bool:
    """Delete one drawing in one transaction; False if there was none with that id."""
    with connection:
        return connection.execute("DELETE FROM drawings WHERE id = ?", (drawing_id,)).rowcount > 0


def label_counts(connection: sqlite3.Connection) -> np.ndarray:
    """How many drawings each right digit has, (10,) int64."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    for label, count in connection.execute("SELECT label, COUNT(*) FROM drawings GROUP BY label"):
        counts[label] = count
    return counts


def export_canvas(canvas: np.ndarray, side: int = EXPORT_SIDE) -> np.ndarray:
    """A canvas in drawn_dev's layout: (side, side) uint8, 255 ink on 0, other sizes scaled to fit and centred."""
    return ink_in_square(canvas, side)


def export_arrays(connection: sqlite3.Connection) -> dict[str, np.ndarray]:
    """Every saved drawing, oldest first, as drawn_dev's arrays: images, labels, institution, sample_id."""
    rows = connection.execute("SELECT id, label, canvas_png FROM drawings ORDER BY id").fetchall()
    images = np.zeros((len(rows), EXPORT_SIDE, EXPORT_SIDE), np.uint8)
    for i, (_, _, png) in enumerate(rows):
        images[i] = export_canvas(decode_image(png))
    return {
        "images": images,
        "labels": np.array([label for _, label, _ in rows], np.uint8),
        "institution": np.array([INSTITUTION] * len(rows), dtype=f"<U{len(INSTITUTION)}"),
        "sample_id": np.array([f"{INSTITUTION}#{drawing_id}" for drawing_id, _, _ in rows], dtype=str),
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as the bytes of a compressed .npz file, built in memory."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
