"""Learn from real drawings: fine-tune a network trained on MNIST on drawn digits and letters.

Every figure on the drawn sets must come from a model that never saw the drawing's institution, so the
fine-tuning runs once per fold (an institution, or the small ones together) on every other fold, and
reads the drawings of the fold left out: those probabilities are saved as `<name>.folds.npz`. The
shipped model is then fine-tuned the same way on every fold. Drawings that the review of drawn_dev
marks unreadable are never trained on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import keras
import numpy as np

from digitlib.artifacts import ModelFiles
from digitlib.augment import STYLE_MIXES, augment_batch
from digitlib.classes import NUM_CLASSES
from digitlib.data import (
    DIGITS_SET,
    LETTERS_SET,
    drawn_set,
    drawn_sets_dir,
    fold_names,
    load_mnist,
    load_strokes,
    unreadable,
)
from digitlib.letters import not_digit_batch
from digitlib.models import compile_model, eleven_class_model
from digitlib.preprocess import to_mnist, to_model_input
from digitlib.registry import Drawings
from digitlib.strokes import restyled

# The share of real drawings drawn again with another slant, aspect and pen; the others are read as drawn.
RESTYLED = 0.8


class DrawnSet:
    """A drawn set ready to train on: each drawing's 28x28 input, strokes, fold and whether to train on it."""

    def __init__(self, name: str, folder: str | os.PathLike | None):
        arrays = drawn_set(name, folder)
        self.name = name
        self.sample_ids = arrays["sample_id"].astype(str)
        self.labels = (
            arrays["labels"].astype(np.int64)
            if "labels" in arrays
            else np.full(len(self.sample_ids), NUM_CLASSES)
        )
        self.folds = fold_names(arrays["institution"])
        self.trainable = ~unreadable(self.sample_ids)
        self.inputs = np.stack([to_mnist(image) for image in arrays["images"]])
        self.strokes = load_strokes(drawn_sets_dir(folder) / f"{name}.npz")

    def rows_without(self, fold: str | None) -> np.ndarray:
        """The trainable drawings of every fold but `fold` (of every fold when None)."""
        return np.flatnonzero(self.trainable & (self.folds != fold))

    def drawing(self, row: int, rng: np.random.Generator) -> np.ndarray:
        """One drawing's 28x28 input, most often drawn again in a random style."""
        if rng.random() >= RESTYLED:
            return self.inputs[row]
        image = to_mnist(restyled(self.strokes[row], rng))
        return self.inputs[row] if image is None else image


class MixedBatches(keras.utils.PyDataset):
    """Batches of MNIST digits, real drawn digits, real and synthetic letters, freshly drawn every epoch.

    Each batch is drawn once and kept: after `rewind`, another network learns from the same batches.
    """

    def __init__(
        self,
        settings: Drawings,
        mnist: tuple[np.ndarray, np.ndarray],
        digits: DrawnSet,
        letters: DrawnSet,
        fold: str | None,
    ):
        super().__init__(workers=2)  # OpenCV releases the GIL: the next batch is drawn while the model trains
        self.settings, self.mnist, self.digits, self.letters = settings, mnist, digits, letters
        self.digit_rows, self.letter_rows = digits.rows_without(fold), letters.rows_without(fold)
        self.epoch = 0
        self._drawn: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.settings.steps_per_epoch

    def __getitem__(self, index: int):
        key = (self.epoch, index)
        if key not in self._drawn:
            self._drawn[key] = self._draw(index)
        return self._drawn[key]

    def _draw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        settings = self.settings
        rng = np.random.default_rng([settings.seed, self.epoch, index])
        x, y = self.mnist
        rows = rng.integers(len(x), size=settings.mnist)
        mnist = augment_batch(
            x[rows], y[rows], rng, settings.mnist_augment_rate, STYLE_MIXES[settings.mnist_styles]
        )
        digits = rng.choice(self.digit_rows, settings.drawn)
        letters = rng.choice(self.letter_rows, settings.letters)
        images = [
            mnist,
            np.stack([self.digits.drawing(row, rng) for row in digits]),
            np.stack([self.letters.drawing(row, rng) for row in letters]),
            not_digit_batch(settings.synthetic_letters, rng, 0.5, 0.5),
        ]
        labels = [
            y[rows],
            self.digits.labels[digits],
            self.letters.labels[letters],
            np.full(settings.synthetic_letters, NUM_CLASSES),
        ]
        return to_model_input(np.concatenate(images), (None, 28, 28, 1)), np.concatenate(labels).astype(
            np.int64
        )

    def on_epoch_end(self) -> None:
        """Next epoch: other digits, letters and styles."""
        self.epoch += 1

    def rewind(self) -> None:
        """Back to the first epoch's batches, for another network to learn from."""
        self.epoch = 0


def finetuned(
    model: keras.Model, settings: Drawings, batches: MixedBatches, verbose: int | str
) -> keras.Model:
    """A copy of `model` fine-tuned on `batches` (the original is left as it is)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    keras.utils.set_random_seed(settings.seed)
    fitted = eleven_class_model(copy)
    compile_model(fitted, settings.learning_rate, settings.epochs, len(batches))
    fitted.fit(batches, epochs=settings.epochs, verbose=verbose)
    return copy


def learn_drawings(
    networks: list[keras.Model],
    settings: Drawings,
    files: ModelFiles,
    mnist: str | os.PathLike | None,
    folder: str | os.PathLike | None,
    limit: int | None,
    verbose: int | str,
    served: Callable[[list[np.ndarray], np.ndarray], np.ndarray] | None = None,
) -> tuple[list[keras.Model], dict]:
    """The networks fine-tuned on every drawing, after one fine-tuning per fold whose answers on it are saved.

    Every network learns from the same batches. `served` turns the fold networks' probabilities (one array
    per network) and their inputs into the answers the app would give (its companions' opinions added,
    say); the saved answers are those, else the first network's.
    """
    (x_train, y_train), _ = load_mnist(mnist)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    digits, letters = DrawnSet(DIGITS_SET, folder), DrawnSet(LETTERS_SET, folder)
    probabilities = {DIGITS_SET: np.zeros((len(digits.labels), NUM_CLASSES), np.float32)}
    probabilities[LETTERS_SET] = np.zeros((len(letters.labels), NUM_CLASSES), np.float32)
    times = {}

    def fine_tuned(fold: str | None) -> list[keras.Model]:
        batches = MixedBatches(settings, (x_train, y_train), digits, letters, fold)
        networks_of_fold = []
        for network in networks:
            batches.rewind()
            networks_of_fold.append(finetuned(network, settings, batches, verbose))
        return networks_of_fold

    for fold in np.unique(digits.folds):
        started = time.perf_counter()
        fold_networks = fine_tuned(fold)
        for drawn in (digits, letters):
            left_out = drawn.folds == fold
            if left_out.any():
                inputs = drawn.inputs[left_out][..., None]
                answers = [network.predict(inputs, verbose=0) for network in fold_networks]
                probabilities[drawn.name][left_out] = (
                    answers[0] if served is None else served(answers, inputs)
                )
        times[str(fold)] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    final = fine_tuned(None)
    times["all"] = round(time.perf_counter() - started, 1)
    np.savez_compressed(
        files.folds,
        **{
            f"{drawn.name}_probabilities": probabilities[drawn.name].astype(np.float16)
            for drawn in (digits, letters)
        },
        **{f"{drawn.name}_sample_id": drawn.sample_ids for drawn in (digits, letters)},
        **{f"{drawn.name}_fold": drawn.folds for drawn in (digits, letters)},
    )
    record = {
        "trained_on": [DIGITS_SET, LETTERS_SET],
        "digits_trained": int(digits.trainable.sum()),
        "letters_trained": int(letters.trainable.sum()),
        "unreadable_left_out": int((~digits.trainable).sum()),
        "fine_tuning_time_s": times,
    }
    return final, record
