"""A tiny training run writes every artifact, and the result loads and evaluates like a real model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from digitlib.artifacts import model_files, read_json, read_predictions
from digitlib.evaluate import evaluate_mnist
from digitlib.models import build_cnn, build_digitnet, build_drawnet, build_mlp, eleven_class_model
from digitlib.preprocess import center_of_mass
from digitlib.serving import Predictor, export_onnx
from digitlib.train import ENSEMBLES, RECIPES, DigitBatches, train


def test_architectures_match_the_reference_notebooks():
    cnn = build_cnn()
    assert cnn.count_params() == 225_034
    assert cnn.input_shape == (None, 28, 28, 1) and cnn.output_shape == (None, 10)
    mlp = build_mlp()
    assert [layer.units for layer in mlp.layers[1:]] == [120, 90, 80, 50, 30, 10]
    assert all(layer.kernel_regularizer is not None for layer in mlp.layers[1:-1])
    assert mlp.input_shape == (None, 784)
    assert build_digitnet().output_shape == (None, 10)


def test_drawnet_gives_digit_probabilities_that_leave_room_for_not_a_digit():
    drawnet = build_drawnet()
    eleven = eleven_class_model(drawnet)
    assert drawnet.output_shape == (None, 10) and eleven.output_shape == (None, 11)
    assert eleven_class_model(build_digitnet()) is None
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    digits, everything = np.asarray(drawnet(x)), np.asarray(eleven(x))
    # The digit outputs are the first ten of the 11-class softmax; the rest is "not a digit".
    assert np.allclose(digits, everything[:, :10]) and np.all(digits.sum(axis=1) < 1.0)


# The MLP's strong L2 penalty needs more images before it beats chance clearly; it is also the cheapest.
# digitnet's batch-norm statistics need far more steps than a tiny run has, so no accuracy bar for it here.
@pytest.mark.parametrize(
    "name,images,minimum", [("mlp", 3000, 0.3), ("cnn", 600, 0.3), ("digitnet", 600, 0.0), ("drawnet", 600, 0.0)]
)
def test_tiny_training_run_writes_artifacts_that_load_and_evaluate(name, images, minimum, tmp_path, mnist):
    files = train(name, epochs=2, out=tmp_path, limit=images, verbose=0)
    assert files.model.is_file()
    training = read_json(files.training)
    assert training["model"] == name and training["train_images"] == images
    assert training["settings"]["epochs"] == 2 and training["settings"]["augment"] == RECIPES[name].augment
    assert training["wall_time_s"] > 0 and training["machine"]["cores"] >= 1
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(training["history"][key]) == 2

    predictor = Predictor(name, tmp_path)
    metrics = evaluate_mnist(predictor.predict, files)
    probabilities, labels = read_predictions(files.predictions)
    _, (_, y_test) = mnist
    assert probabilities.shape == (10000, 10) and np.array_equal(labels, y_test)
    # drawnet keeps some probability for "not a digit"; the others spread all of it over the digits.
    totals = probabilities.astype(np.float32).sum(axis=1)
    assert np.all(totals <= 1.0 + 1e-2) and (name == "drawnet" or np.allclose(totals, 1.0, atol=1e-2))
    # The saved probabilities are float16, so a near-tie may round to another argmax.
    assert metrics["accuracy"] == pytest.approx((probabilities.argmax(1) == y_test).mean(), abs=2e-3)
    assert metrics["accuracy"] >= minimum
    assert json.loads(files.metrics.read_text())["n"] == 10000


def test_augmented_batches_are_reproducible_and_change_every_epoch(mnist):
    (x_train, y_train), _ = mnist
    settings = RECIPES["digitnet"]
    first = DigitBatches(x_train[:256], y_train[:256], settings, (None, 28, 28, 1))
    second = DigitBatches(x_train[:256], y_train[:256], settings, (None, 28, 28, 1))
    batch, labels = first[0]
    assert batch.shape == (128, 28, 28, 1) and batch.dtype == np.float32
    assert np.array_equal(batch, second[0][0]) and np.array_equal(labels, second[0][1])
    first.on_epoch_end()
    assert not np.array_equal(first[0][0], batch)


def test_batches_distort_the_share_of_digits_their_recipe_names(mnist):
    (x_train, y_train), _ = mnist
    for name in ("digitnet", "mildnet"):
        settings = RECIPES[name]
        batches = DigitBatches(x_train[:512], y_train[:512], settings, (None, 28, 28))
        changed = []
        for index in range(len(batches)):
            batch, _ = batches[index]
            plain = x_train[batches.order[index * 128 : (index + 1) * 128]].astype(np.float32) / 255.0
            changed.extend(np.abs(batch - plain).reshape(len(batch), -1).max(axis=1) > 1e-6)
        assert abs(np.mean(changed) - settings.augment_rate) < 0.06, (name, np.mean(changed))
    assert RECIPES["mildnet"].augment_rate == 0.5 and RECIPES["digitnet"].augment_rate == 0.85


def test_batches_move_digits_off_centre_only_when_their_recipe_shifts_them(mnist):
    (x_train, y_train), _ = mnist
    spread = {}
    for name in ("mildnet", "shiftnet"):
        batch, _ = DigitBatches(x_train[:256], y_train[:256], RECIPES[name], (None, 28, 28))[0]
        spread[name] = np.std([center_of_mass(digit)[1] for digit in batch])
    # The recipe centres every distorted digit; shiftnet's then moves it by up to 2 px (std 1.15 px).
    assert spread["mildnet"] < 0.5 and spread["shiftnet"] > 0.9, spread
    assert RECIPES["shiftnet"] == dataclasses.replace(RECIPES["mildnet"], shift=2.0, zoom=0.1)


def test_batches_with_not_a_digit_class_add_letters_labelled_ten(mnist):
    (x_train, y_train), _ = mnist
    settings = RECIPES["drawnet"]
    batch, labels = DigitBatches(x_train[:128], y_train[:128], settings, (None, 28, 28, 1))[0]
    extra = round(128 * settings.not_digits)
    assert len(batch) == len(labels) == 128 + extra
    assert np.array_equal(np.sort(labels[:128]), np.sort(y_train[:128])) and np.all(labels[128:] == 10)
    # Every letter has ink, centred like an MNIST digit.
    assert np.all(batch[128:].reshape(extra, -1).max(axis=1) == pytest.approx(1.0))


def test_every_named_model_has_a_builder_and_a_recipe():
    from digitlib.artifacts import DEFAULT_MODEL, MODEL_NAMES
    from digitlib.models import BUILDERS

    assert set(BUILDERS) == set(RECIPES) and set(MODEL_NAMES) == set(BUILDERS) | set(ENSEMBLES)
    assert DEFAULT_MODEL in MODEL_NAMES and all(set(members) <= set(BUILDERS) for members in ENSEMBLES.values())


def test_ensemble_trains_its_missing_members_and_serves_their_mean(tmp_path, mnist):
    train("drawnet", epochs=1, out=tmp_path, limit=200, verbose=0)
    before = model_files("drawnet", tmp_path).model.stat().st_mtime_ns
    files = train("studionet", epochs=1, out=tmp_path, limit=200, verbose=0)
    # The member already there is reused, the others are trained.
    assert model_files("drawnet", tmp_path).model.stat().st_mtime_ns == before
    record = read_json(files.training)
    members = record["members"]
    assert members == list(ENSEMBLES["studionet"])
    assert record["wall_time_s"] == pytest.approx(sum(read_json(model_files(m, tmp_path).training)["wall_time_s"] for m in members), abs=0.2)

    _, (x_test, _) = mnist
    images = x_test[:300].astype(np.float32) / 255.0
    mean = np.mean([Predictor(member, tmp_path).predict(images) for member in members], axis=0)
    assert np.allclose(Predictor("studionet", tmp_path).predict(images), mean, atol=1e-6)
    export_onnx(files)
    served = Predictor("studionet", tmp_path)
    assert served.backend == "onnxruntime" and np.allclose(served.predict(images), mean, atol=1e-5)
    assert served.embed(images[:2]).shape == (2, 128)
