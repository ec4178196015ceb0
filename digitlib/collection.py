"""Your drawings: digits saved in the app with their right label, kept in SQLite and exported like drawn_dev.

The database is `$DIGITLIB_DRAWINGS_DB`, else `data/drawings.sqlite3` in the project (git ignores `data/`).
Each drawing belongs to the visitor who saved it (a token their browser keeps), and only they see it,
unless the server shares one collection among everyone. Saving the same drawing again replaces its label;
a deleted drawing can be restored. Every write is one transaction in WAL mode, so a crash mid-write
leaves the rows committed before it intact. Only the standard library's sqlite3, NumPy and OpenCV.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digitlib.classes import NOT_A_DIGIT, NUM_CLASSES
from digitlib.data import DataError
from digitlib.imagefile import decode_image, encode_png
from digitlib.preprocess import FIELD, ink_in_square

DRAWINGS_ENV = "DIGITLIB_DRAWINGS_DB"
DEFAULT_DRAWINGS_DB = Path(__file__).resolve().parent.parent / "data" / "drawings.sqlite3"
SHARED_ENV = "DIGITLIB_SHARED_DRAWINGS"
SCHEMA_VERSION = 2
# How long a save waits for another connection's write to finish before giving up.
BUSY_TIMEOUT_S = 10.0
EXPORT_SIDE = 280  # drawn_dev's canvases are 280x280
INSTITUTION = "you"
INPUT_BYTES = FIELD * FIELD * np.dtype(np.float32).itemsize

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so an exported sample_id stays unique
    owner TEXT NOT NULL,  -- the visitor who saved it, or '' for drawings shared by all
    input_sha256 TEXT NOT NULL,  -- of the 28x28 input: one row per drawing and visitor
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    predicted INTEGER NOT NULL CHECK (predicted BETWEEN {NOT_A_DIGIT} AND 9),  -- -1 not sure, -2 not a digit
    confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    model TEXT NOT NULL,
    saved_at TEXT NOT NULL,  -- ISO 8601, UTC
    deleted INTEGER NOT NULL DEFAULT 0,  -- deleted drawings can be restored
    canvas_png BLOB NOT NULL,
    input BLOB NOT NULL CHECK (length(input) = {INPUT_BYTES}),  -- (28, 28) float32, C order
    UNIQUE (owner, input_sha256)
)
"""
# Version 1 had no owners: its rows move over as the drawings of no visitor (shown in a shared collection).
MIGRATE_FROM_1 = """
INSERT INTO drawings
(id, owner, input_sha256, label, predicted, confidence, model, saved_at, canvas_png, input)
VALUES (?, '', ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, input_sha256) DO UPDATE SET
label = excluded.label, predicted = excluded.predicted, confidence = excluded.confidence,
model = excluded.model, saved_at = excluded.saved_at
"""


class CollectionError(DataError):
    """The drawings database cannot be opened, read or written; the message says which file and why."""


@dataclass(frozen=True)
class SavedDrawing:
    """One saved drawing, without its canvas (decoded only when needed)."""

    id: int
    label: int
    predicted: int
    confidence: float  # the probability of what the model said
    model: str
    saved_at: str
    input: np.ndarray  # (28, 28) float32 in [0, 1]: what the model read


def drawings_db(path: str | os.PathLike | None = None) -> Path:
    """The database: the argument, else $DIGITLIB_DRAWINGS_DB, else the project's data/drawings.sqlite3."""
    chosen = path if path is not None else os.environ.get(DRAWINGS_ENV) or DEFAULT_DRAWINGS_DB
    return Path(chosen).expanduser()


def _switch_to_wal(connection: sqlite3.Connection) -> None:
    """Put the database in WAL mode, waiting up to BUSY_TIMEOUT_S for connections switching it at once."""
    # SQLite answers "locked" at once, without its busy wait, when another connection switches a new file.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _prepare(connection: sqlite3.Connection) -> None:
    """Switch to WAL with full syncs and create the table in a new database; refuse a newer schema."""
    _switch_to_wal(connection)
    # A save that returned survives a power cut, not only a crash.
    connection.execute("PRAGMA synchronous = FULL")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"it was written by a newer digit studio (schema {version})")
    if version == 1:
        _migrate_from_1(connection)
    elif version < SCHEMA_VERSION:
        # Both statements are idempotent: a crash between them is repaired by the next open.
        connection.execute(SCHEMA)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _migrate_from_1(connection: sqlite3.Connection) -> None:
    """Move version-1 rows into the version-2 table in one transaction (another process may race)."""
    connection.isolation_level = None  # the transaction below is explicit: DDL included
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("PRAGMA user_version").fetchone()[0] == 1:
            rows = connection.execute(
                "SELECT id, label, predicted, confidence, model, saved_at, canvas_png, input "
                "FROM drawings ORDER BY id"
            ).fetchall()
            # Ids are never reused: the new table's counter starts where the old one stopped.
            (last,) = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'drawings'"
            ).fetchone() or (0,)
            connection.execute("DROP TABLE drawings")
            connection.execute(SCHEMA)
            for drawing_id, *fields, model_input in rows:
                digest = hashlib.sha256(model_input).hexdigest()
                connection.execute(MIGRATE_FROM_1, (drawing_id, digest, *fields, model_input))
            connection.execute(
                "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'drawings'", (last,)
            )
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.isolation_level = ""


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
        raise CollectionError(
            f"no drawings database at {file} (save a drawing in the app, or set {DRAWINGS_ENV})"
        )
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


def _check_answer(answer: int) -> int:
    """A digit, NOT_SURE or NOT_A_DIGIT as a Python int, or ValueError."""
    if int(answer) != answer or not NOT_A_DIGIT <= answer < NUM_CLASSES:
        raise ValueError(f"an answer must be a digit, -1 (not sure) or -2 (not a digit), got {answer!r}")
    return int(answer)


def _check_confidence(confidence: float) -> float:
    """A probability as a Python float, or ValueError."""
    if not 0.0 <= confidence <= 1.0:  # also refuses NaN
        raise ValueError(f"confidence must be a probability in [0, 1], got {confidence!r}")
    return float(confidence)


def shared() -> bool:
    """Whether every visitor sees one shared collection ($DIGITLIB_SHARED_DRAWINGS=1)."""
    return os.environ.get(SHARED_ENV) == "1"


def save_drawing(
    connection: sqlite3.Connection,
    owner: str | None,
    canvas: np.ndarray,
    model_input: np.ndarray,
    label: int,
    answer: int,
    confidence: float,
    model: str,
    saved_at: datetime | None = None,
) -> int:
    """Save one drawing of `owner` with its right digit and the model's answer; return its id.

    The same drawing saved again by the same visitor keeps its row and takes the new label (and is restored
    if it was deleted).
    """
    values = _check_input(model_input)
    # Everything is checked and encoded before the transaction, so it holds the lock only for the write.
    row = (
        owner or "",  # a shared collection's drawings belong to no visitor
        hashlib.sha256(values.tobytes()).hexdigest(),
        _check_digit("label", label),
        _check_answer(answer),
        _check_confidence(confidence),
        model,
        (saved_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        encode_png(canvas),
        values.tobytes(),
    )
    with connection:
        connection.execute(
            "INSERT INTO drawings "
            "(owner, input_sha256, label, predicted, confidence, model, saved_at, canvas_png, input) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, input_sha256) DO UPDATE SET "
            "label = excluded.label, predicted = excluded.predicted, confidence = excluded.confidence, "
            "model = excluded.model, saved_at = excluded.saved_at, deleted = 0",
            row,
        )
        return int(
            connection.execute(
                "SELECT id FROM drawings WHERE owner = ? AND input_sha256 = ?", row[:2]
            ).fetchone()[0]
        )


def _whose(owner: str | None) -> tuple[str, tuple]:
    """The SQL condition for the drawings of `owner` (every drawing when None)."""
    return ("1", ()) if owner is None else ("owner = ?", (owner,))


def _saved(row: tuple) -> SavedDrawing:
    """A SavedDrawing from a (id, label, predicted, confidence, model, saved_at, input) row."""
    drawing_id, label, predicted, confidence, model, saved_at, model_input = row
    image = np.frombuffer(model_input, np.float32).reshape(FIELD, FIELD)
    return SavedDrawing(drawing_id, label, predicted, confidence, model, saved_at, image)


def list_drawings(connection: sqlite3.Connection, owner: str | None) -> list[SavedDrawing]:
    """The drawings of `owner` (of everyone when None) that are not deleted, newest first."""
    condition, args = _whose(owner)
    rows = connection.execute(
        "SELECT id, label, predicted, confidence, model, saved_at, input FROM drawings "
        f"WHERE {condition} AND deleted = 0 ORDER BY id DESC",
        args,
    )
    return [_saved(row) for row in rows]


def drawing_labels(connection: sqlite3.Connection, owner: str | None) -> list[tuple[int, int]]:
    """(id, right digit) of each drawing of `owner` (of everyone when None) not deleted, newest first."""
    condition, args = _whose(owner)
    query = f"SELECT id, label FROM drawings WHERE {condition} AND deleted = 0 ORDER BY id DESC"
    return [(drawing_id, label) for drawing_id, label in connection.execute(query, args)]


def load_canvas(connection: sqlite3.Connection, drawing_id: int, owner: str | None) -> np.ndarray:
    """The canvas of one drawing of `owner`, as drawn (RGB(A) or grey uint8); KeyError if there is none."""
    condition, args = _whose(owner)
    row = connection.execute(
        f"SELECT canvas_png FROM drawings WHERE id = ? AND {condition}", (drawing_id, *args)
    ).fetchone()
    if row is None:
        raise KeyError(f"no saved drawing #{drawing_id}")
    return decode_image(row[0])


def set_deleted(
    connection: sqlite3.Connection, drawing_id: int, owner: str | None, deleted: bool = True
) -> bool:
    """Delete (or restore) one drawing of `owner` in one transaction; False if `owner` has no such drawing."""
    condition, args = _whose(owner)
    with connection:
        changed = connection.execute(
            f"UPDATE drawings SET deleted = ? WHERE id = ? AND {condition}", (int(deleted), drawing_id, *args)
        )
        return changed.rowcount > 0


def saved_label_counts(connection: sqlite3.Connection, owner: str | None) -> np.ndarray:
    """How many drawings of `owner` each right digit has, (10,) int64."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    condition, args = _whose(owner)
    query = f"SELECT label, COUNT(*) FROM drawings WHERE {condition} AND deleted = 0 GROUP BY label"
    for label, count in connection.execute(query, args):
        counts[label] = count
    return counts


def export_canvas(canvas: np.ndarray, side: int = EXPORT_SIDE) -> np.ndarray:
    """A canvas in drawn_dev's layout: (side, side) uint8, 255 ink on 0, scaled to fit and centred."""
    return ink_in_square(canvas, side)


def export_arrays(connection: sqlite3.Connection, owner: str | None) -> dict[str, np.ndarray]:
    """The drawings of `owner` (of everyone when None), oldest first, as drawn_dev's arrays."""
    condition, args = _whose(owner)
    rows = connection.execute(
        f"SELECT id, label, canvas_png FROM drawings WHERE {condition} AND deleted = 0 ORDER BY id", args
    ).fetchall()
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
