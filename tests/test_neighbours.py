"""Nearest training images in the model's penultimate layer: right labels, the same through ONNX and Keras."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, penultimate_model

from digitlib.artifacts import ArtifactError, model_files
from digitlib.export import load_keras_model
from digitlib.neighbours import NeighbourIndex, build_index, load_index, save_index
from digitlib.serving import Predictor

# The index the tests build covers the first training images only: a few seconds instead of a minute.
INDEXED = 5000


@pytest.fixture(scope="module", params=["shiftnet", "cnn"])
def served(request) -> Predictor:
    """A committed model: the best on MNIST, and the small convolutional reference."""
    return Predictor(request.param, ROOT / "models")


@pytest.fixture(scope="module")
def index(served, mnist) -> NeighbourIndex:
    """The served model's index of the first INDEXED training images, built as `digitlib index` builds one."""
    (x_train, y_train), _ = mnist
    return build_index(served.embed(x_train[:INDEXED].astype(np.float32) / 255), y_train[:INDEXED])


def test_nearest_training_images_of_test_digits_share_their_label(served, index, mnist):
    _, (x_test, y_test) = mnist
    features = served.embed(x_test[:500].astype(np.float32) / 255)
    nearest = np.array([index.labels[index.nearest(f, 5)[0]] for f in features])
    assert (nearest[:, 0] == y_test[:500]).mean() >= 0.98
    assert (nearest == y_test[:500, None]).mean() >= 0.97


def test_a_training_image_finds_itself_first(served, index, mnist):
    (x_train, _), _ = mnist
    rows, similarity = index.nearest(served.embed(x_train[123].astype(np.float32) / 255), 8)
    assert rows[0] == 123 and similarity[0] == pytest.approx(1.0, abs=2e-3)
    assert np.all(np.diff(similarity) <= 0) and len(set(rows)) == 8


def test_the_committed_cnn_index_is_of_every_training_image_as_the_cnn_sees_it(mnist):
    (x_train, y_train), _ = mnist
    cnn = Predictor("cnn", ROOT / "models")
    index = load_index(cnn.files)
    assert np.array_equal(index.labels, y_train)
    for row in (0, 123, len(x_train) - 1):
        rows, similarity = index.nearest(cnn.embed(x_train[row].astype(np.float32) / 255), 2)
        assert rows[0] == row and similarity[0] == pytest.approx(1.0, abs=2e-3)


def test_onnx_embedding_matches_the_keras_penultimate_layer(served, mnist):
    _, (x_test, _) = mnist
    images = x_test[:64].astype(np.float32) / 255
    keras_features = np.asarray(penultimate_model(load_keras_model(served.files.model))(images[..., None]))
    # Within the rounding of the 8-bit integers that compute them.
    relative = np.linalg.norm(served.embed(images) - keras_features, axis=1) / np.linalg.norm(
        keras_features, axis=1
    )
    assert relative.max() < 0.05


def test_index_round_trip_and_missing_index(tmp_path):
    rng = np.random.default_rng(0)
    features, labels = (
        rng.normal(size=(300, 40)).astype(np.float32),
        rng.integers(0, 10, 300).astype(np.uint8),
    )
    files = model_files("toy", tmp_path)
    with pytest.raises(ArtifactError, match="python -m digitlib index"):
        load_index(files)
    save_index(build_index(features, labels, dimensions=8), files.neighbours)
    index = load_index(files)
    assert index.points.shape == (300, 8) and np.array_equal(index.labels, labels)
    assert index.nearest(features[17], 3)[0][0] == 17


def test_corrupt_index_is_a_readable_error(tmp_path):
    files = model_files("toy", tmp_path)
    files.neighbours.write_bytes(b"not an npz")
    with pytest.raises(ArtifactError, match="cannot read"):
        load_index(files)
