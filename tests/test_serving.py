"""The serving path: the committed models score above their bars, and the ONNX export matches Keras."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import ROOT, digit_on_canvas
from digitlib.artifacts import model_files
from digitlib.serving import Predictor, export_onnx, load_keras_model

MODELS = ROOT / "models"
# MNIST test accuracy each committed model must keep: what it reaches today, rounded down, so that a worse
# model cannot be committed unnoticed (digitnet 99.61%, digitnet2 99.52%, digitnet3 99.60%, digitnet4 99.58%,
# drawnet 99.51%, drawnet2 99.49%, drawnet3 99.49%, drawnet4 99.49%, studionet 99.59%, mnistnet 99.64%,
# mildnet 99.60%, pairnet 99.49%, shiftnet 99.68%, quicknet 99.42%, quicknet2 99.33%).
BARS = {
    "mlp": 0.95,
    "cnn": 0.99,
    "digitnet": 0.996,
    "digitnet2": 0.995,
    "digitnet3": 0.996,
    "digitnet4": 0.995,
    "drawnet": 0.995,
    "drawnet2": 0.994,
    "drawnet3": 0.994,
    "drawnet4": 0.994,
    "studionet": 0.995,
    "mnistnet": 0.996,
    "mildnet": 0.996,
    "pairnet": 0.994,
    "shiftnet": 0.996,
    "quicknet": 0.994,
    "quicknet2": 0.993,
}


@pytest.fixture(scope="module")
def test_images(mnist):
    _, (x_test, y_test) = mnist
    return x_test.astype(np.float32) / 255.0, y_test


@pytest.mark.parametrize("name", list(BARS))
def test_committed_model_scores_above_its_bar(name, test_images):
    images, labels = test_images
    predictor = Predictor(name, MODELS)
    assert predictor.backend == "onnxruntime", "export the model: python -m digitlib export"
    accuracy = (predictor.predict(images).argmax(axis=1) == labels).mean()
    assert accuracy >= BARS[name]


@pytest.mark.parametrize("name", list(BARS))
def test_onnx_export_matches_keras_on_every_test_image(name, test_images):
    images, _ = test_images
    keras_model = load_keras_model(model_files(name, MODELS).model)
    expected = keras_model.predict(images.reshape((-1, *keras_model.input_shape[1:])), batch_size=1000, verbose=0)
    served = Predictor(name, MODELS).predict(images)
    assert np.array_equal(served.argmax(axis=1), expected.argmax(axis=1))
    assert np.abs(served - expected).max() < 1e-4


def test_canvas_digits_keep_their_class_through_the_recipe(mnist):
    _, (x_test, _) = mnist
    predictor = Predictor("cnn", MODELS)
    originals = predictor.predict(x_test[:300] / 255.0).argmax(axis=1)
    placements = [(200, 40, 40), (120, 150, 10), (260, 10, 5)]
    for size, top, left in placements:
        redrawn = [predictor.read_drawing(digit_on_canvas(d, size, top, left))[1].digit for d in x_test[:300]]
        assert (np.array(redrawn) == originals).mean() >= 0.98


def test_stale_export_is_not_served(tmp_path):
    shutil.copy(MODELS / "cnn.keras", tmp_path / "cnn.keras")
    files = export_onnx(model_files("cnn", tmp_path))
    assert Predictor("cnn", tmp_path).backend == "onnxruntime"
    shutil.copy(MODELS / "mlp.keras", tmp_path / "cnn.keras")  # the .keras changed after the export
    assert Predictor("cnn", tmp_path).backend == "keras"
    files.write_bytes(b"broken")
    assert Predictor("cnn", tmp_path).backend == "keras"


def test_answers_and_blank_canvas():
    predictor = Predictor("cnn", MODELS, threshold=0.6)
    assert predictor.read_drawing(np.zeros((280, 280, 4), np.uint8)) is None
    stages, answer = predictor.read_drawing(digit_on_canvas(np.eye(28, dtype=np.uint8)[::-1] * 255))
    assert stages.centered.shape == (28, 28)
    assert 0.0 <= answer.confidence <= 1.0 and answer.sure == (answer.confidence >= 0.6)
    (first, p1), (second, p2) = answer.top_two
    assert first == answer.digit and p1 >= p2 and first != second


@pytest.mark.parametrize("builder", ["build_drawnet", "build_digitnet", "build_cnn"])
def test_export_folds_runtime_shapes_and_scales_without_changing_results(builder, tmp_path, test_images):
    import onnx

    from digitlib import models
    from digitlib.serving import penultimate_model

    model = getattr(models, builder)()
    # Batch norm with statistics and scales far from their initial 0 and 1, so that folding them is tested.
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.3, beta.shape), rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2, variance.shape)])
    files = model_files("cnn", tmp_path)
    model.save(files.model)
    export_onnx(files)
    nodes = {node.op_type for node in onnx.load(str(files.onnx)).graph.node}
    assert not nodes & {"Shape", "Gather", "Concat", "Cast", "Transpose", "Mul"}, nodes
    images = test_images[0][:500].reshape(-1, 28, 28, 1)
    served = Predictor("cnn", tmp_path)
    assert served.backend == "onnxruntime"
    assert np.abs(served.predict(images) - model.predict(images, verbose=0)).max() < 1e-5
    assert np.abs(served.embed(images) - penultimate_model(model).predict(images, verbose=0)).max() < 1e-4
