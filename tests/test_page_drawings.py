"""Your drawings page in AppTest: each visitor's drawings, counted, filtered, reread, deleted and restored."""

from __future__ import annotations

import io

import numpy as np
import pytest
from apptest import app, captions, metric_values, run, texts
from conftest import committed

from digitlib.classes import NOT_SURE, answer_text, decide
from digitlib.collection import opened, save_drawing
from digitlib.preprocess import to_mnist
from ui.drawings import TOKEN_STATE


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    return committed("cnn", folder=tmp_path_factory.mktemp("cnn"))


@pytest.fixture(scope="module")
def drawings(shared_data_dir) -> dict[str, np.ndarray]:
    with np.load(shared_data_dir / "drawn_dev.npz") as data:
        return {"images": data["images"][:8], "labels": data["labels"][:8]}


def visitor(at, token: str = "me") -> str:
    """Make this session the visitor `token`, as a browser that keeps that token would be; the token."""
    at.session_state[TOKEN_STATE] = token
    return token


def keep(path, owner: str, drawings, saves: list[tuple[int, int, int, str]]) -> list[int]:
    """Save drawings for `owner`: (drawing, right digit, model's answer, model); their ids."""
    with opened(path) as connection:
        return [
            save_drawing(
                connection,
                owner,
                drawings["images"][i],
                to_mnist(drawings["images"][i]),
                label,
                said,
                0.5,
                model,
            )
            for i, label, said, model in saves
        ]


def record_downloads(monkeypatch) -> list[dict]:
    """What every st.download_button is given from now on (the button is still shown)."""
    import streamlit as st

    recorded, original = [], st.download_button

    def recording(label, data, *args, **kwargs):
        recorded.append({"label": label, "data": data() if callable(data) else data, **kwargs})
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return recorded


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as arrays:
        return {k: arrays[k] for k in arrays.files}


def test_your_drawings_counts_filters_exports_deletes_and_restores(
    monkeypatch, tmp_path, drawings, drawings_db_path
):
    downloads = record_downloads(monkeypatch)
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    ids = keep(
        drawings_db_path,
        visitor(at),
        drawings,
        [(0, 4, 9, "cnn"), (1, 4, 4, "mlp"), (2, 7, NOT_SURE, "inknet")],
    )
    run(at)
    assert metric_values(at)["Drawings kept"] == "3"
    assert at.table[0].value.loc["drawings"].tolist() == np.bincount([4, 4, 7], minlength=10).tolist()
    assert captions(at) == [
        "7 · InkNet (for drawings) said not sure (50%)",
        "4 · MLP (reference) said 4 (50%)",
        "4 · CNN (reference) said 9 (50%)",
    ]
    exported = read_npz(downloads[-1]["data"])
    assert exported["labels"].tolist() == [4, 4, 7] and exported["sample_id"].tolist() == [
        f"you#{i}" for i in ids
    ]
    assert np.array_equal(exported["images"], drawings["images"][:3])

    at.selectbox(key="drawings_digit").select("7")
    run(at)
    assert captions(at) == ["7 · InkNet (for drawings) said not sure (50%)"]
    at.selectbox(key="drawings_digit").select("any")
    run(at)
    at.button(key=f"delete_{ids[0]}").click()
    run(at)
    assert metric_values(at)["Drawings kept"] == "2" and f"Deleted drawing #{ids[0]}" in texts(at.info)
    assert read_npz(downloads[-1]["data"])["sample_id"].tolist() == [f"you#{i}" for i in ids[1:]], (
        "the export follows"
    )
    at.button[0].click()  # Undo delete
    run(at)
    assert metric_values(at)["Drawings kept"] == "3"


def test_a_visitor_sees_and_deletes_only_their_own_drawings(
    monkeypatch, tmp_path, drawings, drawings_db_path
):
    alice = app(monkeypatch, tmp_path, "pages/drawings.py")
    bob = app(monkeypatch, tmp_path, "pages/drawings.py")
    (alices,) = keep(drawings_db_path, visitor(alice, "alice"), drawings, [(0, 3, 3, "cnn")])
    keep(drawings_db_path, visitor(bob, "bob"), drawings, [(1, 5, 5, "cnn"), (2, 6, 6, "cnn")])
    assert (
        metric_values(run(alice))["Drawings kept"] == "1" and metric_values(run(bob))["Drawings kept"] == "2"
    )
    from digitlib.collection import set_deleted

    with opened(drawings_db_path) as connection:
        assert not set_deleted(connection, alices, "bob"), "bob cannot delete alice's drawing"
    assert metric_values(run(alice))["Drawings kept"] == "1"


def test_a_shared_collection_shows_everyones_drawings(monkeypatch, tmp_path, drawings, drawings_db_path):
    monkeypatch.setenv("DIGITLIB_SHARED_DRAWINGS", "1")
    keep(drawings_db_path, "someone", drawings, [(0, 3, 3, "cnn")])
    keep(drawings_db_path, "someone else", drawings, [(1, 5, 5, "cnn")])
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert metric_values(at)["Drawings kept"] == "2" and "one shared collection" in texts(at.caption)


def test_your_drawings_are_read_again_with_the_chosen_model(
    monkeypatch, trained_cnn, drawings, drawings_db_path
):
    from digitlib.serving import Predictor

    inputs = [to_mnist(drawings["images"][i]) for i in range(4)]
    # The last label is wrong.
    labels = [int(drawings["labels"][i]) for i in range(3)] + [(int(drawings["labels"][3]) + 1) % 10]
    at = app(monkeypatch, trained_cnn, "pages/drawings.py")
    keep(drawings_db_path, visitor(at), drawings, [(i, labels[i], 0, "mlp") for i in range(4)])
    predictor = Predictor("cnn", trained_cnn)
    expected = decide(predictor.predict(np.stack(inputs)), predictor.threshold).tolist()  # oracle
    run(at)
    assert "CNN (reference) reads right now" not in metric_values(at), "no model runs until asked"
    at.button(key="read_again").click()
    run(at)
    assert (
        metric_values(at)["CNN (reference) reads right now"]
        == f"{sum(a == b for a, b in zip(expected, labels))} of 4"
    )
    assert captions(at) == [
        f"{labels[i]} · MLP (reference) said 0 (50%) · now {answer_text(expected[i])}" for i in (3, 2, 1, 0)
    ]


def test_your_drawings_without_any_says_how_to_add_some_and_never_shows_a_server_path(
    monkeypatch, tmp_path, drawings_db_path
):
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert "No drawings kept yet" in texts(at.info) and not at.download_button
    assert not drawings_db_path.exists(), "looking does not create the database"
    with opened(drawings_db_path):
        pass
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert "No drawings kept yet" in texts(at.info)
    assert str(drawings_db_path.parent) not in texts(at.caption) + texts(at.info) + texts(at.markdown)


def test_your_drawings_in_a_broken_database_give_a_clear_message(monkeypatch, tmp_path, drawings_db_path):
    drawings_db_path.write_bytes(b"not a database " * 100)
    at = app(monkeypatch, tmp_path, "pages/drawings.py")
    assert "could not be read" in texts(at.error)
