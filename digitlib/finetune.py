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

import keras
import numpy as np
from keras import ops

from digitlib.artifacts import ModelFiles
from digitlib.augment import STYLE_MIXES, augment_batch, jitter_placement, not_digit_batch
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
from digitlib.models import eleven_class_model, log_probabilities, softened_pair
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
    """Batches of MNIST digits, real drawn digits, real and synthetic letters, freshly drawn every epoch."""

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

    def __len__(self) -> int:
        return self.settings.steps_per_epoch

    def __getitem__(self, index: int):
        settings = self.settings
        rng = np.random.default_rng([settings.seed, self.epoch, index])
        x, y = self.mnist
        rows = rng.integers(len(x), size=settings.mnist)
        mnist = augment_batch(
            x[rows], y[rows], rng, settings.mnist_augment_rate, STYLE_MIXES[settings.mnist_styles]
        )
        if settings.mnist_shift or settings.mnist_zoom:
            mnist = jitter_placement(mnist, rng, settings.mnist_shift, settings.mnist_zoom)
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
        self.epoch += 1


def copy_of(model: keras.Model) -> keras.Model:
    """A new network with the same layers and weights as `model`."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


class TaughtOnMnist(keras.Model):
    """A network that learns mixed batches' labels and, on their MNIST digits, a teacher's softened answers.

    The digits' probabilities are softened by the same temperature and scaled by its square, as in Hinton
    et al. (2015); "not a digit" is left to the labels, since the teacher knows only digits.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, mnist_rows: int, temperature: float):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.mnist_rows, self.temperature = mnist_rows, temperature
        teacher.trainable = False  # it teaches, it does not learn

    def call(self, images, training=False):
        return self.student(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        rows = self.mnist_rows  # each batch starts with its MNIST digits (MixedBatches)
        taught = self.teacher(x[:rows], training=False)
        learnt = ops.log_softmax(log_probabilities(y_pred[:rows, :NUM_CLASSES]) / self.temperature, axis=1)
        distilled = -ops.sum(taught * learnt) * self.temperature**2 / ops.cast(ops.shape(x)[0], "float32")
        return loss + distilled


def finetuned(
    model: keras.Model, settings: Drawings, batches: MixedBatches, verbose, teacher: keras.Model | None = None
) -> keras.Model:
    """A copy of `model` fine-tuned on `batches`, taught by `teacher` if any (the original is left as is)."""
    from digitlib.train import compile_model

    copy = copy_of(model)
    keras.utils.set_random_seed(settings.seed)
    fitted = eleven_class_model(copy)
    if teacher is not None:
        fitted = TaughtOnMnist(fitted, teacher, settings.mnist, settings.teacher.temperature)
    compile_model(fitted, settings.learning_rate, settings.epochs, len(batches))
    fitted.fit(batches, epochs=settings.epochs, verbose=verbose)
    return copy


def learn_drawings(
    model: keras.Model,
    settings: Drawings,
    files: ModelFiles,
    mnist: str | os.PathLike | None,
    folder: str | os.PathLike | None,
    limit: int | None,
    verbose,
    companion: keras.Model | None = None,
) -> tuple[keras.Model, dict]:
    """The model fine-tuned on every drawing, after one fine-tuning per fold whose answers on it are saved.

    With a companion trained on MNIST alone, the fine-tuning is taught on MNIST by the model as it is
    now pooled with the companion (settings.teacher).
    """
    (x_train, y_train), _ = load_mnist(mnist)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    digits, letters = DrawnSet(DIGITS_SET, folder), DrawnSet(LETTERS_SET, folder)
    probabilities = {DIGITS_SET: np.zeros((len(digits.labels), NUM_CLASSES), np.float32)}
    probabilities[LETTERS_SET] = np.zeros((len(letters.labels), NUM_CLASSES), np.float32)
    teacher = None
    if companion is not None:
        # Copies: a teacher is frozen, and the fine-tunings start from `model`'s weights.
        pair = copy_of(model), copy_of(companion)
        teacher = softened_pair(*pair, settings.teacher.weight, settings.teacher.temperature)
    times = {}
    for fold in np.unique(digits.folds):
        started = time.perf_counter()
        batches = MixedBatches(settings, (x_train, y_train), digits, letters, fold)
        fold_model = finetuned(model, settings, batches, verbose, teacher)
        for drawn in (digits, letters):
            left_out = drawn.folds == fold
            if left_out.any():
                probabilities[drawn.name][left_out] = fold_model.predict(
                    drawn.inputs[left_out][..., None], verbose=0
                )
        times[str(fold)] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    final = finetuned(
        model, settings, MixedBatches(settings, (x_train, y_train), digits, letters, None), verbose, teacher
    )
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
