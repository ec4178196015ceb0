"""The artifacts and data the pages read, each loaded once per file version and shared by every session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from digitlib.artifacts import model_files, read_json, read_predictions
from digitlib.data import Split, label_counts, load_mnist, mean_images, mnist_path


def modified(path: Path) -> float:
    """A file's modification time, so caches reload a retrained model or re-evaluated artifact."""
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(max_entries=32, show_spinner=False)
def _json(path: str, version: float) -> dict:
    return read_json(Path(path))


def _artifact(path: Path) -> dict:
    return _json(str(path), modified(path))


def training_record(name: str) -> dict:
    """Model `name`'s settings, time, history and architecture; raises ArtifactError when missing."""
    return _artifact(model_files(name).training)


def test_metrics(name: str) -> dict:
    """Model `name`'s MNIST test metrics; raises ArtifactError when missing."""
    return _artifact(model_files(name).metrics)


def drawn_results(name: str) -> dict:
    """Model `name`'s results on drawn sets by set name ({} if none); ArtifactError when unreadable."""
    path = model_files(name).drawn
    return _artifact(path) if path.is_file() else {}


@st.cache_data(max_entries=4, show_spinner=False)
def _predictions(path: str, version: float) -> tuple[np.ndarray, np.ndarray]:
    return read_predictions(Path(path))


def test_predictions(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Model `name`'s saved probabilities (10000, 10) and labels; raises ArtifactError when missing."""
    path = model_files(name).predictions
    return _predictions(str(path), modified(path))


def mnist() -> tuple[Split, Split]:
    """MNIST `(x_train, y_train), (x_test, y_test)`; raises DataError when it is not available.

    `load_mnist` keeps the arrays once per process; `st.cache_data` would copy 55 MB on every rerun.
    """
    return load_mnist()


@st.cache_data(max_entries=2, show_spinner="Summarising MNIST…")
def _summary(path: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (x_train, y_train), (_, y_test) = load_mnist(path)
    return label_counts(y_train), label_counts(y_test), mean_images(x_train, y_train)


def dataset_summary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train and test label counts and per-digit mean training images; raises DataError without MNIST."""
    return _summary(mnist_path())
