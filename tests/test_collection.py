"""Your drawings in SQLite: what is saved reads back exactly, exports like drawn_dev, and survives crashes and rivals."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from conftest import ROOT
from digitlib.collection import (
    CollectionError,
    delete_drawing,
    export_arrays,
    export_canvas,
    label_counts,
    list_drawings,
    load_canvas,
    npz_bytes,
    opened,
    save_drawing,
)
from digitlib.data import load_drawings
from digitlib.preprocess import to_mnist


def strokes(seed: int, side: int = 280) -> np.ndarray:
    """A grey canvas (255 ink on 0) with a few anti-aliased pen strokes, like a quick drawing."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((side, side), np.uint8)
    points = rng.integers(side // 5, side - side // 5, size=(4, 2))
    for start, end in zip(points[:-1], points[1:]):
        cv2.line(canvas, tuple(map(int, start)), tuple(map(int, end)), 255, thickness=18, lineType=cv2.LINE_AA)
    return canvas


def as_rgba(grey: np.ndarray) -> np.ndarray:
    """White ink on opaque black, as the Draw page's canvas returns it."""
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def save(connection: sqlite3.Connection, seed: int, label: int, model: str = "cnn") -> int:
    """Save the drawing of `seed` with the given right digit; the model 'said' the next digit."""
    canvas = as_rgba(strokes(seed))
    return save_drawing(connection, canvas, to_mnist(canvas), label, (label + 1) % 10, 0.75, model)


def rows(path) -> list[tuple]:
    """Every row of the database, straight through sqlite3 (the oracle for what is on disk)."""
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT id, label, predicted, model, canvas_png, input FROM drawings ORDER BY id").fetchall()


# --- saving and reading back ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["rgba canvas", "transparent canvas", "rgb photo", "grey scan"],
)
def test_a_saved_drawing_reads_back_exactly(drawings_db_path, kind):
    grey = strokes(1)
    canvas = {
        "rgba canvas": as_rgba(grey),
        "transparent canvas": np.dstack([np.full_like(grey, 255)] * 3 + [grey]),  # white strokes, clear background
        "rgb photo": np.dstack([255 - grey, 250 - grey // 2, 245 - grey // 2]),
        "grey scan": 255 - grey,
    }[kind]
    model_input = to_mnist(canvas)
    when = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
    with opened() as connection:
        drawing_id = save_drawing(connection, canvas, model_input, 3, 8, 0.625, "digitnet", saved_at=when)
        [saved] = list_drawings(connection)
        assert np.array_equal(load_canvas(connection, drawing_id), canvas), "the canvas comes back pixel for pixel"
    assert (saved.id, saved.label, saved.predicted, saved.confidence, saved.model) == (drawing_id, 3, 8, 0.625, "digitnet")
    assert saved.saved_at == "2026-05-01T12:30:00+00:00"
    assert saved.input.dtype == np.float32 and np.array_equal(saved.input, model_input)
    assert drawings_db_path.is_file(), "the database lives where $DIGITLIB_DRAWINGS_DB says"


def test_list_newest_first_count_per_label_and_delete(drawings_db_path):
    labels = [3, 1, 3, 9, 3, 0]
    with opened() as connection:
        ids = [save(connection, seed, label) for seed, label in enumerate(labels)]
        assert [d.id for d in list_drawings(connection)] == ids[::-1]
        assert label_counts(connection).tolist() == np.bincount(labels, minlength=10).tolist()

        assert delete_drawing(connection, ids[2]) and not delete_drawing(connection, ids[2])
        assert delete_drawing(connection, ids[-1])
        left = [label for i, label in zip(ids, labels) if i not in (ids[2], ids[-1])]
        assert label_counts(connection).tolist() == np.bincount(left, minlength=10).tolist()
        assert [d.label for d in list_drawings(connection)] == left[::-1]
        assert save(connection, 99, 5) > ids[-1], "a deleted drawing's id is never reused"
    assert len(rows(drawings_db_path)) == len(left) + 1


def test_a_missing_label_or_a_wrong_input_saves_nothing(drawings_db_path):
    canvas = as_rgba(strokes(2))
    good = to_mnist(canvas)
    bad_calls = [
        dict(model_input=good, label=10),
        dict(model_input=good, label=2.5),
        dict(model_input=good[:27], label=2),
        dict(model_input=np.full((28, 28), np.nan, np.float32), label=2),
        dict(model_input=good * 2 + 0.1, label=2),
    ]
    with opened() as connection:
        for call in bad_calls:
            with pytest.raises(ValueError):
                save_drawing(connection, canvas, predicted=1, confidence=0.5, model="cnn", **call)
        with pytest.raises(ValueError):
            save_drawing(connection, canvas.astype(np.float32), good, 2, 1, 0.5, "cnn")
        with pytest.raises(ValueError):
            save_drawing(connection, canvas, good, 2, 1, 1.5, "cnn")
    assert rows(drawings_db_path) == []


def test_unreadable_databases_give_one_readable_error(tmp_path):
    with pytest.raises(CollectionError, match="no drawings database"):
        with opened(tmp_path / "missing.sqlite3", create=False):
            pass
    assert not (tmp_path / "missing.sqlite3").exists(), "looking does not create it"

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(CollectionError, match="garbage.sqlite3.*not a database"):
        with opened(garbage):
            pass

    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(CollectionError, match="newer"):
        with opened(newer):
            pass


# --- export -----------------------------------------------------------------------------------------------


def test_export_has_drawn_devs_layout_and_what_the_model_read(drawings_db_path, shared_data_dir):
    labels = [7, 2, 2, 0]
    with opened() as connection:
        ids = [save(connection, seed, label) for seed, label in enumerate(labels)]
        saved = {d.id: d for d in list_drawings(connection)}
        data = npz_bytes(export_arrays(connection))
    out = drawings_db_path.parent / "mine.npz"
    out.write_bytes(data)

    exported = load_drawings(out)  # what `python -m digitlib evaluate --drawings` reads
    with np.load(shared_data_dir / "drawn_dev.npz") as reference:
        dev = {k: reference[k][:2] for k in reference.files}
    assert set(exported) <= set(dev), "only drawn_dev's keys"
    for key, array in exported.items():
        assert array.dtype.kind == dev[key].dtype.kind and array.shape[1:] == dev[key].shape[1:], key
    assert exported["images"].dtype == np.uint8 and exported["labels"].dtype == np.uint8
    assert exported["labels"].tolist() == labels, "oldest first, with the right digits"
    assert exported["institution"].tolist() == ["you"] * 4
    assert exported["sample_id"].tolist() == [f"you#{i}" for i in ids]
    for i, image in zip(ids, exported["images"]):
        seed = ids.index(i)
        assert np.array_equal(image, strokes(seed)), "255 ink on 0, one channel, as drawn"
        assert np.allclose(to_mnist(image), saved[i].input, atol=1e-6), "the export reads as the saved input"


def test_export_of_an_empty_collection_is_empty_but_well_formed():
    with opened() as connection:
        arrays = export_arrays(connection)
    assert arrays["images"].shape == (0, 280, 280) and arrays["images"].dtype == np.uint8
    assert arrays["labels"].shape == (0,) and arrays["labels"].dtype == np.uint8


def test_export_scales_other_sizes_into_280_and_turns_paper_into_ink():
    drawing = strokes(4)[:, 40:240]  # 280 tall, 200 wide
    photo = 255 - cv2.resize(drawing, (400, 560), interpolation=cv2.INTER_NEAREST)  # dark ink on white, twice the size
    expected = np.pad(drawing, ((0, 0), (40, 40)))  # halved back and centred in 280x280
    assert np.array_equal(export_canvas(photo), expected)
    assert np.array_equal(export_canvas(as_rgba(strokes(4))), strokes(4)), "a 280x280 canvas is kept as it is"


# --- crashes and concurrent writers -----------------------------------------------------------------------


def test_an_error_inside_a_save_rolls_it_back(drawings_db_path):
    with opened() as connection:
        committed = [save(connection, seed, seed) for seed in range(2)]
    before = rows(drawings_db_path)

    with pytest.raises(CollectionError, match="interrupted"):
        with opened() as connection:

            def interrupt_the_commit(statement: str) -> None:
                if statement.startswith("COMMIT"):  # the row is written; fail at the last moment
                    connection.interrupt()

            connection.set_trace_callback(interrupt_the_commit)
            save(connection, 7, 7)

    assert rows(drawings_db_path) == before and [r[0] for r in before] == committed
    with opened() as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert save(connection, 8, 8) > committed[-1], "the database takes new saves"


KILLED_SAVER = """
import os, sys, time
sys.path.insert(0, {tests!r})
from digitlib.collection import opened
from test_collection import save

path = {path!r}
with opened(path) as connection:
    for seed in range(3):
        save(connection, seed, seed)
    print("committed", os.path.getsize(path + "-wal"), flush=True)
    connection.execute("PRAGMA cache_size = 1")  # spill the half-saved row into the files before the kill

    def stall_before_commit(statement):
        if statement.startswith("COMMIT"):
            print("mid-write", flush=True)
            time.sleep(600)

    connection.set_trace_callback(stall_before_commit)
    save(connection, 3, 3)
"""


def test_a_save_killed_mid_transaction_loses_nothing_committed(drawings_db_path):
    script = KILLED_SAVER.format(tests=str(ROOT / "tests"), path=str(drawings_db_path))
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        committed_wal = int(child.stdout.readline().split()[1])
        assert child.stdout.readline().strip() == "mid-write"
        wal = drawings_db_path.with_name(drawings_db_path.name + "-wal")
        assert wal.stat().st_size > committed_wal, "the uncommitted row reached the disk"
    finally:
        child.kill()  # SIGKILL: no cleanup, no rollback, no checkpoint
        child.wait(timeout=30)

    with opened() as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        saved = list_drawings(connection)[::-1]
        assert [d.label for d in saved] == [0, 1, 2], "exactly the committed rows"
        for seed, drawing in enumerate(saved):
            assert np.array_equal(load_canvas(connection, drawing.id), as_rgba(strokes(seed)))
            assert np.array_equal(drawing.input, to_mnist(as_rgba(strokes(seed))))


def test_concurrent_saves_from_two_connections_keep_every_row(drawings_db_path):
    per_writer = 25
    start = threading.Barrier(2, timeout=60)
    failures = []

    def writer(model: str) -> None:
        try:
            with opened() as connection:
                start.wait()
                for i in range(per_writer):
                    canvas = as_rgba(strokes(i))
                    save_drawing(connection, canvas, np.full((28, 28), i / per_writer, np.float32), i % 10, 0, 0.5, model)
        except Exception as error:  # reported below: an exception in a thread would otherwise vanish
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(model,)) for model in ("cnn", "mlp")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures

    saved = {(model, label, np.frombuffer(x, np.float32)[0]) for _, label, _, model, _, x in rows(drawings_db_path)}
    expected = {(model, i % 10, np.float32(i / per_writer)) for model in ("cnn", "mlp") for i in range(per_writer)}
    assert saved == expected and len(rows(drawings_db_path)) == 2 * per_writer
