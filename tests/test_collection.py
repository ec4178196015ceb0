"""Your drawings in SQLite: what is saved reads back exactly, stays its visitor's, exports like drawn_dev,
and survives crashes, rivals and an older schema."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from conftest import ROOT

from digitlib.classes import NOT_A_DIGIT, NOT_SURE
from digitlib.collection import (
    CollectionError,
    drawing_labels,
    export_arrays,
    export_canvas,
    list_drawings,
    load_canvas,
    npz_bytes,
    opened,
    save_drawing,
    saved_label_counts,
    set_deleted,
)
from digitlib.data import load_drawings
from digitlib.imagefile import encode_png
from digitlib.preprocess import to_mnist

VISITOR = "visitor-token"


def strokes(seed: int, side: int = 280) -> np.ndarray:
    """A grey canvas (255 ink on 0) with a few anti-aliased pen strokes, like a quick drawing."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((side, side), np.uint8)
    points = rng.integers(side // 5, side - side // 5, size=(4, 2))
    for start, end in itertools.pairwise(points):
        cv2.line(canvas, tuple(map(int, start)), tuple(map(int, end)), 255, 18, lineType=cv2.LINE_AA)
    return canvas


def as_rgba(grey: np.ndarray) -> np.ndarray:
    """White ink on opaque black, as the Draw page's canvas returns it."""
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def save(connection: sqlite3.Connection, seed: int, label: int, owner: str = VISITOR) -> int:
    """Save `owner`'s drawing of `seed` with the given right digit; the model 'said' the next digit."""
    canvas = as_rgba(strokes(seed))
    return save_drawing(connection, owner, canvas, to_mnist(canvas), label, (label + 1) % 10, 0.75, "cnn")


def rows(path) -> list[tuple]:
    """Every row of the database, straight through sqlite3 (the oracle for what is on disk)."""
    with sqlite3.connect(path) as connection:
        columns = "id, owner, label, predicted, model, deleted, canvas_png, input"
        return connection.execute(f"SELECT {columns} FROM drawings ORDER BY id").fetchall()


# --- saving and reading back ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["rgba canvas", "transparent canvas", "rgb photo", "grey scan"],
)
def test_a_saved_drawing_reads_back_exactly(drawings_db_path, kind):
    grey = strokes(1)
    canvas = {
        "rgba canvas": as_rgba(grey),
        # White strokes on a clear background.
        "transparent canvas": np.dstack([np.full_like(grey, 255)] * 3 + [grey]),
        "rgb photo": np.dstack([255 - grey, 250 - grey // 2, 245 - grey // 2]),
        "grey scan": 255 - grey,
    }[kind]
    model_input = to_mnist(canvas)
    when = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    with opened() as connection:
        drawing_id = save_drawing(connection, VISITOR, canvas, model_input, 3, 8, 0.625, "digitnet", when)
        [saved] = list_drawings(connection, VISITOR)
        assert np.array_equal(load_canvas(connection, drawing_id, VISITOR), canvas), "pixel for pixel"
    assert (saved.id, saved.label, saved.predicted, saved.confidence) == (drawing_id, 3, 8, 0.625)
    assert saved.model == "digitnet"
    assert saved.saved_at == "2026-05-01T12:30:00+00:00"
    assert saved.input.dtype == np.float32 and np.array_equal(saved.input, model_input)
    assert drawings_db_path.is_file(), "the database lives where $DIGITLIB_DRAWINGS_DB says"


def test_list_newest_first_count_per_label_and_delete(drawings_db_path):
    labels = [3, 1, 3, 9, 3, 0]
    with opened() as connection:
        ids = [save(connection, seed, label) for seed, label in enumerate(labels)]
        assert [d.id for d in list_drawings(connection, VISITOR)] == ids[::-1]
        assert saved_label_counts(connection, VISITOR).tolist() == np.bincount(labels, minlength=10).tolist()

        assert set_deleted(connection, ids[2], VISITOR)
        assert set_deleted(connection, ids[-1], VISITOR)
        left = [label for i, label in zip(ids, labels) if i not in (ids[2], ids[-1])]
        assert saved_label_counts(connection, VISITOR).tolist() == np.bincount(left, minlength=10).tolist()
        assert [d.label for d in list_drawings(connection, VISITOR)] == left[::-1]
        kept_ids = [i for i in ids if i not in (ids[2], ids[-1])][::-1]
        assert drawing_labels(connection, VISITOR) == list(zip(kept_ids, left[::-1]))
        assert save(connection, 99, 5) > ids[-1], "a deleted drawing's id is never reused"
    on_disk = rows(drawings_db_path)
    assert len(on_disk) == len(labels) + 1, "a deleted drawing stays on disk, to be restored"
    assert [row[0] for row in on_disk if row[5]] == [ids[2], ids[-1]]


def test_a_deleted_drawing_can_be_restored():
    with opened() as connection:
        ids = [save(connection, seed, label) for seed, label in enumerate([4, 7])]
        assert set_deleted(connection, ids[0], VISITOR)
        assert [d.id for d in list_drawings(connection, VISITOR)] == [ids[1]]
        assert export_arrays(connection, VISITOR)["labels"].tolist() == [7], "nor exported"

        assert set_deleted(connection, ids[0], VISITOR, deleted=False)
        assert [d.id for d in list_drawings(connection, VISITOR)] == ids[::-1], "back under its own id"
        assert saved_label_counts(connection, VISITOR).tolist() == np.bincount([4, 7], minlength=10).tolist()
        assert export_arrays(connection, VISITOR)["labels"].tolist() == [4, 7]


def test_saving_the_same_drawing_again_replaces_its_label_in_one_row(drawings_db_path):
    with opened() as connection:
        first = save(connection, 5, 3)
        other = save(connection, 6, 1)
        assert save(connection, 5, 8) == first, "the same 28x28 input is the same drawing"
        listed = [(d.id, d.label, d.predicted) for d in list_drawings(connection, VISITOR)]
        assert listed == [(other, 1, 2), (first, 8, 9)]
        assert saved_label_counts(connection, VISITOR).tolist() == np.bincount([8, 1], minlength=10).tolist()

        assert set_deleted(connection, first, VISITOR)
        assert save(connection, 5, 2) == first
        listed = [(d.id, d.label) for d in list_drawings(connection, VISITOR)]
        assert listed == [(other, 1), (first, 2)], "and restored"
    assert [row[:3] for row in rows(drawings_db_path)] == [(first, VISITOR, 2), (other, VISITOR, 1)]


@pytest.mark.parametrize("answer", [NOT_SURE, NOT_A_DIGIT, 0, 9])
def test_the_apps_answer_is_stored_whether_a_digit_not_sure_or_not_a_digit(answer):
    canvas = as_rgba(strokes(3))
    with opened() as connection:
        drawing_id = save_drawing(connection, VISITOR, canvas, to_mnist(canvas), 6, answer, 0.4, "inknet")
        [saved] = list_drawings(connection, VISITOR)
    assert (saved.id, saved.label, saved.predicted) == (drawing_id, 6, answer)


def test_a_missing_label_a_bad_answer_or_a_wrong_input_saves_nothing(drawings_db_path):
    canvas = as_rgba(strokes(2))
    good = to_mnist(canvas)
    bad_calls = [
        dict(model_input=good, label=10, answer=1),
        dict(model_input=good, label=2.5, answer=1),
        dict(model_input=good, label=NOT_SURE, answer=1),
        dict(model_input=good, label=2, answer=10),
        dict(model_input=good, label=2, answer=-3),
        dict(model_input=good, label=2, answer=1.5),
        dict(model_input=good[:27], label=2, answer=1),
        dict(model_input=np.full((28, 28), np.nan, np.float32), label=2, answer=1),
        dict(model_input=good * 2 + 0.1, label=2, answer=1),
    ]
    with opened() as connection:
        for call in bad_calls:
            with pytest.raises(ValueError):
                save_drawing(connection, VISITOR, canvas, confidence=0.5, model="cnn", **call)
        with pytest.raises(ValueError):
            save_drawing(connection, VISITOR, canvas.astype(np.float32), good, 2, 1, 0.5, "cnn")
        with pytest.raises(ValueError):
            save_drawing(connection, VISITOR, canvas, good, 2, 1, 1.5, "cnn")
    assert rows(drawings_db_path) == []


def test_unreadable_databases_give_one_readable_error(tmp_path):
    missing = tmp_path / "missing.sqlite3"
    with pytest.raises(CollectionError, match="no drawings database"), opened(missing, create=False):
        pass
    assert not missing.exists(), "looking does not create it"

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(CollectionError, match=r"garbage\.sqlite3.*not a database"), opened(garbage):
        pass

    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(CollectionError, match="newer"), opened(newer):
        pass


# --- visitors ---------------------------------------------------------------------------------------------


def test_two_visitors_see_count_and_export_only_their_own_drawings():
    with opened() as connection:
        alices = [save(connection, seed, label, owner="alice") for seed, label in [(0, 1), (1, 2)]]
        bobs = save(connection, 2, 7, owner="bob")
        assert [d.id for d in list_drawings(connection, "alice")] == alices[::-1]
        assert [d.id for d in list_drawings(connection, "bob")] == [bobs]
        assert list_drawings(connection, "carol") == [] and drawing_labels(connection, "carol") == []
        assert drawing_labels(connection, "bob") == [(bobs, 7)]
        assert saved_label_counts(connection, "bob").tolist() == np.bincount([7], minlength=10).tolist()
        assert export_arrays(connection, "alice")["sample_id"].tolist() == [f"you#{i}" for i in alices]
        assert export_arrays(connection, "bob")["labels"].tolist() == [7]
        assert np.array_equal(load_canvas(connection, bobs, "bob"), as_rgba(strokes(2)))
        with pytest.raises(KeyError):
            load_canvas(connection, bobs, "alice")


def test_a_visitor_cannot_delete_or_restore_anothers_drawing():
    with opened() as connection:
        bobs = save(connection, 2, 7, owner="bob")
        assert not set_deleted(connection, bobs, "alice")
        assert [d.id for d in list_drawings(connection, "bob")] == [bobs]
        assert set_deleted(connection, bobs, "bob")
        assert not set_deleted(connection, bobs, "alice", deleted=False)
        assert list_drawings(connection, "bob") == []
        assert not set_deleted(connection, bobs + 1, "bob"), "no drawing has that id"


def test_the_same_drawing_saved_by_two_visitors_is_two_drawings(drawings_db_path):
    with opened() as connection:
        alices, bobs = save(connection, 4, 1, owner="alice"), save(connection, 4, 2, owner="bob")
        assert alices != bobs
        assert [d.label for d in list_drawings(connection, "alice")] == [1], "not replaced by bob's label"
    assert [row[1:3] for row in rows(drawings_db_path)] == [("alice", 1), ("bob", 2)]


def test_a_shared_collection_holds_every_visitors_drawings(drawings_db_path):
    with opened() as connection:
        alices, bobs = save(connection, 0, 1, owner="alice"), save(connection, 1, 2, owner="bob")
        canvas = as_rgba(strokes(2))
        nobodys = save_drawing(connection, None, canvas, to_mnist(canvas), 3, 4, 0.5, "cnn")
        assert [d.id for d in list_drawings(connection, None)] == [nobodys, bobs, alices]
        assert [d.id for d in list_drawings(connection, "")] == [nobodys], "'' is no visitor's token"
        assert saved_label_counts(connection, None).tolist() == np.bincount([1, 2, 3], minlength=10).tolist()
        assert export_arrays(connection, None)["labels"].tolist() == [1, 2, 3]
        assert np.array_equal(load_canvas(connection, alices, None), as_rgba(strokes(0)))
        assert set_deleted(connection, bobs, None)
        assert [d.id for d in list_drawings(connection, "bob")] == []
    assert rows(drawings_db_path)[2][1] == ""


# --- export -----------------------------------------------------------------------------------------------


def test_export_has_drawn_devs_layout_and_what_the_model_read(drawings_db_path, shared_data_dir):
    labels = [7, 2, 2, 0]
    with opened() as connection:
        ids = [save(connection, seed, label) for seed, label in enumerate(labels)]
        saved = {d.id: d for d in list_drawings(connection, VISITOR)}
        data = npz_bytes(export_arrays(connection, VISITOR))
    out = drawings_db_path.parent / "mine.npz"
    out.write_bytes(data)

    exported = load_drawings(out)  # what `python -m digitlib evaluate --drawings` reads
    assert exported.pop("name") == "mine"
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
        arrays = export_arrays(connection, VISITOR)
    assert arrays["images"].shape == (0, 280, 280) and arrays["images"].dtype == np.uint8
    assert arrays["labels"].shape == (0,) and arrays["labels"].dtype == np.uint8


def test_export_scales_other_sizes_into_280_and_turns_paper_into_ink():
    drawing = strokes(4)[:, 40:240]  # 280 tall, 200 wide
    # Dark ink on white, twice the size.
    photo = 255 - cv2.resize(drawing, (400, 560), interpolation=cv2.INTER_NEAREST)
    expected = np.pad(drawing, ((0, 0), (40, 40)))  # halved back and centred in 280x280
    assert np.array_equal(export_canvas(photo), expected)
    assert np.array_equal(export_canvas(as_rgba(strokes(4))), strokes(4)), "a 280x280 canvas is kept as it is"


# --- an older schema --------------------------------------------------------------------------------------

# Version 1's table, from before visitors: no owner, no hash of the input, no deleted drawings.
SCHEMA_1 = """
CREATE TABLE drawings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    predicted INTEGER NOT NULL CHECK (predicted BETWEEN 0 AND 9),
    confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    model TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    canvas_png BLOB NOT NULL,
    input BLOB NOT NULL CHECK (length(input) = 3136)
)
"""


def test_a_version_1_database_keeps_its_drawings_as_the_shared_ones(drawings_db_path):
    old = [  # id, label, predicted, confidence, model, saved_at and the seed of the drawing
        (1, 4, 9, 0.5, "cnn", "2025-01-02T03:04:05+00:00", 0),
        (3, 2, 2, 0.875, "mlp", "2025-02-03T04:05:06+00:00", 1),  # #2 was deleted
    ]
    with sqlite3.connect(drawings_db_path) as connection:
        connection.execute(SCHEMA_1)
        for *row, seed in old:
            canvas = as_rgba(strokes(seed))
            connection.execute(
                "INSERT INTO drawings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, encode_png(canvas), to_mnist(canvas).tobytes()),
            )
        connection.execute("PRAGMA user_version = 1")
    connection.close()

    with opened() as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (2,)
        assert list_drawings(connection, VISITOR) == [], "no visitor owns them"
        migrated = list_drawings(connection, "")
        assert [(d.id, d.label, d.predicted, d.confidence, d.model, d.saved_at) for d in migrated] == [
            tuple(row[:6]) for row in old[::-1]
        ]
        for drawing, (*_, seed) in zip(migrated, old[::-1]):
            assert np.array_equal(drawing.input, to_mnist(as_rgba(strokes(seed))))
            assert np.array_equal(load_canvas(connection, drawing.id, ""), as_rgba(strokes(seed)))
        assert set_deleted(connection, 1, "") and [d.id for d in list_drawings(connection, None)] == [3]
        new = save(connection, 5, 5)
        assert new > 3, "new drawings get new ids"

    with opened() as connection:
        assert [d.id for d in list_drawings(connection, None)] == [new, 3], "opening again migrates nothing"


# --- crashes and concurrent writers -----------------------------------------------------------------------


def test_an_error_inside_a_save_rolls_it_back(drawings_db_path):
    with opened() as connection:
        committed = [save(connection, seed, seed) for seed in range(2)]
    before = rows(drawings_db_path)

    with pytest.raises(CollectionError, match="interrupted"), opened() as connection:

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
        saved = list_drawings(connection, VISITOR)[::-1]
        assert [d.label for d in saved] == [0, 1, 2], "exactly the committed rows"
        for seed, drawing in enumerate(saved):
            assert np.array_equal(load_canvas(connection, drawing.id, VISITOR), as_rgba(strokes(seed)))
            assert np.array_equal(drawing.input, to_mnist(as_rgba(strokes(seed))))


def test_a_new_database_opened_by_several_visitors_at_once_opens_for_each(tmp_path):
    # SQLite does not wait for a lock when connections race to switch a new database to WAL.
    failures = []

    def visitor(file, start: threading.Barrier) -> None:
        start.wait()
        try:
            with opened(file) as connection:
                connection.execute("SELECT count(*) FROM drawings").fetchone()
        except CollectionError as error:
            failures.append(error)

    for trial in range(40):
        start = threading.Barrier(4, timeout=60)
        file = tmp_path / f"{trial}.sqlite3"
        threads = [threading.Thread(target=visitor, args=(file, start)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, f"{len(failures)} failed to open, first: {failures[0]}"


def test_concurrent_saves_from_two_connections_keep_every_row(drawings_db_path):
    per_writer = 25
    start = threading.Barrier(2, timeout=60)
    failures = []

    def writer(owner: str) -> None:
        try:
            with opened() as connection:
                start.wait()
                for i in range(per_writer):
                    model_input = np.full((28, 28), i / per_writer, np.float32)
                    save_drawing(connection, owner, as_rgba(strokes(i)), model_input, i % 10, 0, 0.5, "cnn")
        except Exception as error:  # reported below: an exception in a thread would otherwise vanish
            failures.append(error)

    # Two visitors save the same drawings: each keeps their own.
    owners = ("alice", "bob")
    threads = [threading.Thread(target=writer, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures

    on_disk = rows(drawings_db_path)
    saved = {(owner, label, np.frombuffer(x, np.float32)[0]) for _, owner, label, *_, x in on_disk}
    expected = {(owner, i % 10, np.float32(i / per_writer)) for owner in owners for i in range(per_writer)}
    assert saved == expected and len(on_disk) == 2 * per_writer
