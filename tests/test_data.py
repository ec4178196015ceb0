"""Loading MNIST from a local file, through the setting, and failing clearly without it."""

from __future__ import annotations

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


def test_no_setting_and_no_download_says_what_to_set(monkeypatch):
    import keras

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.delenv("DIGITLIB_MNIST", raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    data._load_mnist_cached.cache_clear()
    with pytest.raises(DataError, match="set DIGITLIB_MNIST"):
        load_mnist()
    data._load_mnist_cached.cache_clear()


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
