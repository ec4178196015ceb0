"""Learning from real drawings: no fold model sees its own institution, and no model an unreadable drawing."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from digitlib import finetune
from digitlib.artifacts import model_files
from digitlib.data import DIGITS_SET, LETTERS_SET, fold_names, unreadable
from digitlib.models import build, build_drawnet
from digitlib.registry import spec
from digitlib.train import fit_on_mnist


@pytest.fixture(scope="module")
def drawn_sets(shared_data_dir):
    return finetune.DrawnSet(DIGITS_SET, shared_data_dir), finetune.DrawnSet(LETTERS_SET, shared_data_dir)


def test_a_fold_trains_on_every_other_institution_and_never_on_unreadable_drawings(drawn_sets):
    digits, letters = drawn_sets
    assert (~digits.trainable).sum() == 69 and letters.trainable.all()
    for fold in np.unique(digits.folds):
        rows = digits.rows_without(fold)
        assert not (digits.folds[rows] == fold).any() and digits.trainable[rows].all()
        assert len(rows) == (digits.trainable & (digits.folds != fold)).sum()
        assert not (letters.folds[letters.rows_without(fold)] == fold).any()
    assert len(digits.rows_without(None)) == 6114 - 69


def test_mixed_batches_draw_only_from_their_rows_and_label_letters_as_not_a_digit(drawn_sets, mnist):
    digits, letters = drawn_sets
    settings = dataclasses.replace(spec("inknet").drawings, steps_per_epoch=2)
    (x_train, y_train), _ = mnist
    batches = finetune.MixedBatches(settings, (x_train[:500], y_train[:500]), digits, letters, "ibm")
    images, labels = batches[0]
    per_batch = settings.mnist + settings.drawn + settings.letters + settings.synthetic_letters
    assert images.shape == (per_batch, 28, 28, 1) and len(labels) == per_batch
    assert np.all(labels[settings.mnist + settings.drawn :] == 10), (
        "real and synthetic letters are 'not a digit'"
    )
    assert np.all(labels[: settings.mnist + settings.drawn] < 10)
    assert not (digits.folds[batches.digit_rows] == "ibm").any()
    again, _ = finetune.MixedBatches(settings, (x_train[:500], y_train[:500]), digits, letters, "ibm")[0]
    assert np.array_equal(images, again), "reproducible"


def test_after_a_rewind_another_network_learns_from_the_same_batches_drawn_once(drawn_sets, mnist):
    digits, letters = drawn_sets
    settings = dataclasses.replace(spec("inknet").drawings, steps_per_epoch=2)
    (x_train, y_train), _ = mnist
    batches = finetune.MixedBatches(settings, (x_train[:500], y_train[:500]), digits, letters, "ibm")
    first = [batches[0][0], batches[1][0]]
    batches.on_epoch_end()
    second = batches[0][0]
    assert not np.array_equal(first[0], second), "each epoch draws other batches"
    batches.rewind()
    assert batches[0][0] is first[0] and batches[1][0] is first[1], "the first epoch's, not drawn again"
    batches.on_epoch_end()
    assert batches[0][0] is second


def test_the_recipe_trains_the_same_network_to_the_last_bit_from_the_same_seed(drawn_sets, mnist):
    """Both stages, cut to a few steps: the shipped model is what its command gives, not one draw of many."""
    digits, letters = drawn_sets
    model_spec = spec("inknet")
    settings = dataclasses.replace(model_spec.drawings, epochs=1, steps_per_epoch=2)
    (x_train, y_train), _ = mnist
    recipe = dataclasses.replace(model_spec.recipe, epochs=1)
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(recipe.seed)
        network = build(model_spec)
        initial = network.get_weights()
        fit_on_mnist(network, recipe, mnist, 256, 0)
        batches = finetune.MixedBatches(settings, (x_train[:500], y_train[:500]), digits, letters, "ibm")
        weights.append(finetune.finetuned(network, settings, batches, 0).get_weights())
        assert not np.array_equal(weights[-1][0], initial[0]), "it learnt"
    assert all(np.array_equal(a, b) for a, b in zip(*weights)), "the same seed, the same network"


def test_every_drawing_is_read_by_a_model_that_never_trained_on_its_institution(
    tmp_path, monkeypatch, shared_data_dir
):
    """learn_drawings with a spy for fine-tuning: no fold's model has seen the drawings it reads."""
    trained_on, first_batches = [], []

    def spy(model, settings, batches, verbose):
        trained_on.append(
            (batches.digits.folds[batches.digit_rows], batches.letters.folds[batches.letter_rows])
        )
        first_batches.append((id(batches), batches.epoch))
        for _ in range(settings.epochs):  # as a fit would
            batches.on_epoch_end()
        return build_drawnet()  # an untrained network stands in for the fine-tuned one

    monkeypatch.setattr(finetune, "finetuned", spy)
    files = model_files("inknet", tmp_path)
    settings = spec("inknet").drawings
    served = []

    def with_opinion(answers, images):
        served.append(len(images))
        assert len(answers) == 2 and all(len(probabilities) == len(images) for probabilities in answers)
        return np.full_like(answers[0], 0.09)  # what the app would answer, its companions asked

    _, record = finetune.learn_drawings(
        [build_drawnet(), build_drawnet()], settings, files, None, shared_data_dir, 500, 0, with_opinion
    )
    folds = sorted(np.unique(fold_names(np.load(shared_data_dir / "drawn_dev.npz")["institution"])))
    assert len(trained_on) == 2 * (len(folds) + 1), "both networks: once per fold, then once on everything"
    for fold, (digit_folds, letter_folds) in zip(folds, trained_on[::2]):
        assert fold not in set(digit_folds) | set(letter_folds)
    assert first_batches[::2] == first_batches[1::2] and {epoch for _, epoch in first_batches} == {0}, (
        "both networks of a fold learn from the same batches, from their first epoch"
    )
    assert set(trained_on[-1][0]) == set(folds), "the shipped model learns from every institution"
    with np.load(files.folds) as saved:
        assert sorted(np.unique(saved[f"{DIGITS_SET}_fold"])) == folds
        assert saved[f"{DIGITS_SET}_probabilities"].shape == (6114, 10)
        assert np.allclose(saved[f"{DIGITS_SET}_probabilities"], 0.09, atol=1e-3), (
            "every drawing answered as the app would, by its fold's model"
        )
    assert sum(served) == 6114 + 1998
    assert record["unreadable_left_out"] == int(
        unreadable(np.load(shared_data_dir / "drawn_dev.npz")["sample_id"]).sum()
    )
