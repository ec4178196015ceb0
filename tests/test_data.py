"""Loading MNIST from a local file, through the setting, and failing clearly without it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from digitlib import data
from digitlib.data import DataError, load_drawings, load_mnist


def _tiny_mnist(path, n=12):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n // 2, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n // 2, dtype=np.uint8),
    }
    np.savez(path, **arrays)
    return arrays


def test_reads_a_local_npz_given_as_argument(tmp_path):
    arrays = _tiny_mnist(tmp_path / "m.npz")
    (x_train, _y_train), (x_test, y_test) = load_mnist(tmp_path / "m.npz")
    assert x_train.dtype == np.uint8 and np.array_equal(x_train, arrays["x_train"])
    assert np.array_equal(y_test, arrays["y_test"]) and x_test.shape == (6, 28, 28)


def test_reads_the_file_named_by_the_environment(tmp_path, monkeypatch):
    arrays = _tiny_mnist(tmp_path / "env.npz", n=8)
    monkeypatch.setenv("DIGITLIB_MNIST", str(tmp_path / "env.npz"))
    (x_train, _), _ = load_mnist()
    assert np.array_equal(x_train, arrays["x_train"])


def test_real_mnist_has_the_published_sizes(mnist):
    (x_train, _y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_missing_file_says_what_to_set(tmp_path):
    with pytest.raises(DataError, match="DIGITLIB_MNIST"):
        load_mnist(tmp_path / "nowhere.npz")


def test_wrong_npz_names_the_missing_keys(tmp_path):
    np.savez(tmp_path / "other.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="x_train"):
        load_mnist(tmp_path / "other.npz")


@pytest.fixture
def download_from(tmp_path, monkeypatch):
    """Point the MNIST download at a local file (its checksum made to match) and its cache at tmp_path."""
    monkeypatch.delenv("DIGITLIB_MNIST", raising=False)
    monkeypatch.setattr(data, "MNIST_CACHE", tmp_path / "cache" / "mnist.npz")
    data._load_mnist_cached.cache_clear()

    def point_at(source):
        monkeypatch.setattr(data, "MNIST_URL", source.as_uri())
        if source.is_file():
            monkeypatch.setattr(data, "MNIST_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
        data._load_mnist_cached.cache_clear()

    yield point_at
    data._load_mnist_cached.cache_clear()


def test_no_setting_and_no_download_says_what_to_set(tmp_path, download_from):
    download_from(tmp_path / "offline.npz")
    with pytest.raises(DataError, match="set DIGITLIB_MNIST"):
        load_mnist()


def test_without_a_setting_downloads_once_into_the_cache(tmp_path, download_from):
    arrays = _tiny_mnist(tmp_path / "published.npz")
    download_from(tmp_path / "published.npz")
    (x_train, _), _ = load_mnist()
    assert np.array_equal(x_train, arrays["x_train"])
    download_from(tmp_path / "offline.npz")  # the cached copy is read: no second download
    (x_train, _), _ = load_mnist()
    assert np.array_equal(x_train, arrays["x_train"])


def test_a_download_that_is_not_mnist_is_refused_and_not_kept(tmp_path, download_from, monkeypatch):
    _tiny_mnist(tmp_path / "published.npz")
    download_from(tmp_path / "published.npz")
    monkeypatch.setattr(data, "MNIST_SHA256", "0" * 64)
    with pytest.raises(DataError, match="not MNIST's"):
        load_mnist()
    assert not data.MNIST_CACHE.parent.exists() or not any(data.MNIST_CACHE.parent.iterdir())


def test_the_downloaded_mnist_is_read_without_keras(tmp_path):
    _tiny_mnist(tmp_path / "mnist.npz")
    script = (
        "import sys; from pathlib import Path; import digitlib.data as d; "
        "d.MNIST_CACHE = Path(sys.argv[1]); d.load_mnist(); "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    environment = {k: v for k, v in os.environ.items() if k != "DIGITLIB_MNIST"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "mnist.npz")],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_loaded_once_per_process(tmp_path):
    _tiny_mnist(tmp_path / "once.npz")
    assert load_mnist(tmp_path / "once.npz")[0][0] is load_mnist(tmp_path / "once.npz")[0][0]


def test_load_drawings_checks_its_keys(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 2]))
    assert load_drawings(tmp_path / "d.npz")["labels"].tolist() == [1, 2]
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="labels"):
        load_drawings(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="not found"):
        load_drawings(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((0, 28, 28), np.uint8), "labels": np.zeros(0, int)}, "with N > 0"),
        ({"images": np.zeros((3, 28, 28), np.uint8), "labels": np.array([1, 2, 12])}, "digits from 0 to 9"),
        ({"images": np.zeros((3, 28, 28), np.uint8), "labels": np.array([1, -1, 2])}, "digits from 0 to 9"),
        ({"images": np.zeros((3, 28, 28), np.uint8), "labels": np.array([1, 2])}, "one value per image"),
        ({"images": np.zeros((2, 28, 28), np.uint8), "labels": np.array([1.0, 2.0])}, "digits from 0 to 9"),
    ],
    ids=["no drawings", "label 12", "label -1", "fewer labels", "float labels"],
)
def test_load_drawings_refuses_labels_that_would_give_wrong_scores(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_drawings(tmp_path / "d.npz")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"images,labels\n", "not a NumPy .npz"), (None, "one array, not an .npz")],
    ids=["text", "one npy array"],
)
def test_load_drawings_says_plainly_what_a_file_is_not(tmp_path, content, message):
    path = tmp_path / "d.npz"
    if content is None:
        with path.open("wb") as file:
            np.save(file, np.zeros((2, 28, 28), np.uint8))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_drawings(path)
