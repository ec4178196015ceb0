"""Training: tiny runs that learn and write every artifact, reproducible batches, one registry of models."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from conftest import ROOT

from digitlib.artifacts import model_files, read_json, read_predictions
from digitlib.classes import NOT_A_DIGIT, decide
from digitlib.evaluate import evaluate_mnist
from digitlib.export import load_keras_model
from digitlib.models import (
    build,
    build_cnn,
    build_companion,
    build_drawnet,
    build_mlp,
    eleven_class_model,
    with_not_a_digit,
)
from digitlib.preprocess import center_of_mass
from digitlib.registry import BEST_ON_MNIST, DEFAULT, MODEL_NAMES, MODELS, REFERENCE, spec
from digitlib.serving import Predictor
from digitlib.train import DigitBatches, fit_companion, served_answers, train


def test_reference_architectures_are_the_classic_ones():
    cnn = build_cnn()
    assert cnn.count_params() == 225_034
    assert cnn.input_shape == (None, 28, 28, 1) and cnn.output_shape == (None, 10)
    mlp = build_mlp()
    assert [layer.units for layer in mlp.layers[1:]] == [120, 90, 80, 50, 30, 10]
    assert all(layer.kernel_regularizer is not None for layer in mlp.layers[1:-1])


def test_the_drawing_network_gives_digit_probabilities_that_leave_room_for_not_a_digit():
    network = build_drawnet()
    eleven = eleven_class_model(network)
    assert network.output_shape == (None, 10) and eleven.output_shape == (None, 11)
    assert eleven_class_model(build_cnn()) is None
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    digits, everything = np.asarray(network(x)), np.asarray(eleven(x))
    # The digit outputs are the first ten of the 11-class softmax; the rest is "not a digit".
    assert np.allclose(digits, everything[:, :10]) and np.all(digits.sum(axis=1) < 1.0)


def test_the_registry_declares_each_model_once_with_its_role():
    assert len(set(MODEL_NAMES)) == len(MODELS) <= 5
    roles = [model.role for model in MODELS]
    assert roles.count(DEFAULT) == 1 and roles.count(BEST_ON_MNIST) == 1
    assert {model.name for model in MODELS if model.role == REFERENCE} == {"mlp", "cnn"}
    for model in MODELS:
        network = build(model)
        assert network.name == model.name, "every model has its builder"
        if model.companion is not None:
            assert build_companion(model).output_shape == (None, 10), "a companion reads MNIST's ten digits"
        if model.has_drawn_companion:
            assert model.drawings is not None, "a drawn companion learns drawings with its model"
        # Training a "not a digit" class, or fine-tuning on letters, needs a network that has one.
        learns_letters = model.knows_letters or model.drawings is not None
        assert learns_letters == (eleven_class_model(network) is not None), model.name
    assert spec("shiftnet").recipe.shift == 2.0
    with pytest.raises(ValueError, match="choose one of"):
        spec("quicknet2")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_committed_model_was_trained_with_its_declared_recipe(name):
    """What `python -m digitlib train` would train today is what the committed model's record says."""
    from dataclasses import asdict

    record = read_json(model_files(name, ROOT / "models").training)
    assert record["settings"] == asdict(spec(name).recipe)
    assert ("drawings" in record) == (spec(name).drawings is not None)
    companion = spec(name).companion
    assert ("companion" in record) == (companion is not None)
    if companion is not None:
        assert record["companion"]["settings"] == asdict(companion.recipe)
        assert (record["companion"]["weight"], record["companion"]["asked_below"]) == (
            companion.weight,
            companion.asked_below,
        )
        assert record["companion"]["drawn_weight"] == companion.drawn_weight
        assert ("drawn_parameters" in record["companion"]) == spec(name).has_drawn_companion


def test_everything_that_lists_models_reads_the_registry():
    from digitlib.cli import build_parser

    choices = next(
        a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions if a.dest == "model"
    )
    assert tuple(choices.choices) == MODEL_NAMES
    makefile = (ROOT / "Makefile").read_text()
    assert "--all" in makefile and not re.search(r"\b(mlp|cnn|shiftnet)\b", makefile), (
        "no list of models of its own"
    )


# The MLP's strong L2 penalty needs more images before it beats chance clearly; it is also the cheapest.
@pytest.mark.parametrize("name,images", [("mlp", 3000), ("cnn", 600)])
def test_a_tiny_training_run_learns_and_writes_every_artifact(name, images, tmp_path, mnist):
    files = train(name, epochs=2, directory=tmp_path, limit=images, verbose=0)
    assert files.model.is_file() and files.onnx.is_file()
    record = read_json(files.training)
    assert record["model"] == name and record["train_images"] == images and record["settings"]["epochs"] == 2
    assert record["wall_time_s"] > 0 and record["machine"]["cores"] >= 1
    assert [row["type"] for row in record["architecture"]][-1] == "Dense"
    assert sum(row["parameters"] for row in record["architecture"]) == record["parameters"]
    history = record["history"]
    assert history["loss"][1] < history["loss"][0], "the training loss falls"

    metrics = evaluate_mnist(Predictor(name, tmp_path).predict, files)
    probabilities, labels = read_predictions(files.predictions)
    _, (_, y_test) = mnist
    assert np.array_equal(labels, y_test)
    assert metrics["accuracy"] == pytest.approx((probabilities.argmax(1) == y_test).mean(), abs=2e-3)
    assert metrics["accuracy"] > 0.3, "far above chance (10%) on the 10,000 test images it never saw"
    assert json.loads(files.metrics.read_text())["n"] == 10000


def test_a_tiny_inknet_run_writes_its_companions_and_serves_them_as_trained(
    tmp_path, monkeypatch, mnist, shared_data_dir
):
    """The whole default recipe, cut to a few steps: every network saved, exported and served together."""
    import digitlib.train

    model_spec = spec("inknet")
    quick = dataclasses.replace(model_spec.drawings, epochs=1, steps_per_epoch=2)
    monkeypatch.setattr(digitlib.train, "spec", lambda name: dataclasses.replace(model_spec, drawings=quick))
    files = train("inknet", epochs=1, directory=tmp_path, limit=1000, drawings=shared_data_dir, verbose=0)
    record = read_json(files.training)
    drawn = load_keras_model(files.drawn_companion)
    assert record["companion"]["drawn_parameters"] == drawn.count_params() == 90_203
    assert record["companion"]["drawn_weight"] == model_spec.companion.drawn_weight
    assert set(record["drawings"]["fine_tuning_time_s"]) == {"ced", "gmd", "ibm", "others", "val", "all"}

    # The app's answers are the Keras networks' as trained, each companion asked where still unsure.
    (_, _), (x_test, _) = mnist
    images = x_test[:300].astype(np.float32) / 255.0
    inputs = images[..., None]
    expected = served_answers(
        load_keras_model(files.companion),
        model_spec.companion,
        [load_keras_model(files.model).predict(inputs, verbose=0), drawn.predict(inputs, verbose=0)],
        inputs,
    )
    served = Predictor("inknet", tmp_path).predict(images)
    assert (served.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.99
    np.testing.assert_allclose(served, expected, atol=0.03)


def test_a_tiny_companion_learns_mnist_and_is_asked_where_its_model_is_unsure(mnist):
    (_, _), (x_test, y_test) = mnist
    model_spec = spec("inknet")
    companion, record = fit_companion(model_spec, mnist, 2, 2000, 0)
    assert record["train_images"] == 2000 and record["history"]["loss"][1] < record["history"]["loss"][0]
    assert record["settings"]["epochs"] == 2 and record["weight"] == model_spec.companion.weight
    images = x_test[:500, ..., None].astype(np.float32) / 255.0
    opinion = companion.predict(images, verbose=0)
    # A model that is sure of a wrong digit everywhere but unsure of the first 100 images.
    wrong = np.full((500, 10), 0.001, np.float32)
    wrong[np.arange(500), (y_test[:500] + 1) % 10] = 0.991
    wrong[:100] = 0.1
    answers = served_answers(companion, model_spec.companion, [wrong], images)
    assert np.array_equal(answers[100:], wrong[100:])
    assert np.array_equal(answers[:100].argmax(axis=1), opinion[:100].argmax(axis=1))


def test_a_companion_given_a_not_a_digit_class_keeps_its_digits_and_the_app_asks_it_last(mnist):
    (_, _), (x_test, y_test) = mnist
    model_spec = spec("inknet")
    companion, _ = fit_companion(model_spec, mnist, 1, 2000, 0)
    drawn = with_not_a_digit(companion, "drawn")
    images = x_test[:500, ..., None].astype(np.float32) / 255.0
    digits, eleven = companion.predict(images, verbose=0), drawn.predict(images, verbose=0)
    assert drawn.output_shape == (None, 11) and eleven_class_model(drawn) is not None
    # The new class starts at a logit of 0: the digits keep their ratios and their order.
    np.testing.assert_allclose(eleven[:, :10] / eleven[:, :10].sum(axis=1, keepdims=True), digits, atol=1e-5)
    assert np.array_equal(eleven[:, :10].argmax(axis=1), digits.argmax(axis=1))
    # A model sure of the right digit on the first 400 images, unsure of the last 100; an opinion that
    # says "not a digit" everywhere turns only those, and only through the drawn companion.
    sure = np.full((500, 10), 0.0005, np.float32)
    sure[np.arange(500), y_test[:500]] = 0.995
    sure[400:] = 0.09
    no_digit = np.zeros((500, 11), np.float32)
    no_digit[:, 10] = 1.0
    answers = served_answers(companion, model_spec.companion, [sure, no_digit], images)
    assert np.array_equal(answers[:400], sure[:400])
    assert (decide(answers[400:], 0.5) == NOT_A_DIGIT).all()
    assert np.array_equal(served_answers(companion, model_spec.companion, [sure], images)[:400], sure[:400])


def test_augmented_batches_are_reproducible_and_change_every_epoch(mnist):
    (x_train, y_train), _ = mnist
    recipe = spec("shiftnet").recipe
    first = DigitBatches(x_train[:256], y_train[:256], recipe, (None, 28, 28, 1))
    second = DigitBatches(x_train[:256], y_train[:256], recipe, (None, 28, 28, 1))
    batch, labels = first[0]
    assert np.array_equal(batch, second[0][0]) and np.array_equal(labels, second[0][1])
    first.on_epoch_end()
    assert not np.array_equal(first[0][0], batch)


@pytest.mark.parametrize("name", ["shiftnet", "inknet"])
def test_batches_distort_the_share_of_digits_their_recipe_names(name, mnist):
    (x_train, y_train), _ = mnist
    recipe = spec(name).recipe
    batches = DigitBatches(x_train[:512], y_train[:512], recipe, (None, 28, 28))
    changed = []
    for index in range(len(batches)):
        batch, _ = batches[index]
        plain = x_train[batches.order[index * 128 : (index + 1) * 128]].astype(np.float32) / 255.0
        changed.extend(np.abs(batch[:128] - plain).reshape(len(plain), -1).max(axis=1) > 1e-6)
    share = recipe.augment_rate if not recipe.shift else 1.0  # shifted digits all move
    assert abs(np.mean(changed) - share) < 0.06, (name, np.mean(changed))


def test_batches_move_digits_off_centre_only_when_their_recipe_shifts_them(mnist):
    import dataclasses

    (x_train, y_train), _ = mnist
    shifted = spec("shiftnet").recipe
    spread = {}
    for name, recipe in (
        ("centred", dataclasses.replace(shifted, shift=0.0, zoom=0.0)),
        ("shifted", shifted),
    ):
        batch, _ = DigitBatches(x_train[:256], y_train[:256], recipe, (None, 28, 28))[0]
        spread[name] = np.std([center_of_mass(digit)[1] for digit in batch])
    # The recipe centres every distorted digit; shiftnet's then moves it by up to 2 px (std 1.15 px).
    assert spread["centred"] < 0.5 and spread["shifted"] > 0.9, spread


def test_batches_with_a_not_a_digit_class_add_letters_labelled_ten(mnist):
    (x_train, y_train), _ = mnist
    recipe = spec("inknet").recipe
    batch, labels = DigitBatches(x_train[:128], y_train[:128], recipe, (None, 28, 28, 1))[0]
    extra = round(128 * recipe.not_digits)
    assert len(batch) == len(labels) == 128 + extra
    assert np.array_equal(np.sort(labels[:128]), np.sort(y_train[:128])) and np.all(labels[128:] == 10)
    assert np.all(batch[128:].reshape(extra, -1).max(axis=1) == pytest.approx(1.0)), "every letter has ink"
