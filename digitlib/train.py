"""Train a declared model reproducibly and write it with its history, settings, time, hardware and export."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, replace
from functools import partial

import keras
import numpy as np

from digitlib.artifacts import ModelFiles, machine_description, model_files, write_json
from digitlib.augment import STYLE_MIXES, augment_batch, jitter_placement
from digitlib.classes import NUM_CLASSES, with_companions
from digitlib.data import Split, load_mnist
from digitlib.export import export_onnx
from digitlib.finetune import learn_drawings
from digitlib.letters import not_digit_batch
from digitlib.models import (
    architecture_rows,
    build,
    build_companion,
    compile_model,
    eleven_class_model,
    with_not_a_digit,
)
from digitlib.preprocess import to_model_input
from digitlib.registry import Companion, ModelSpec, Recipe, spec


class DigitBatches(keras.utils.PyDataset):
    """Shuffled training batches, freshly augmented every epoch when the recipe says so."""

    def __init__(self, x: np.ndarray, y: np.ndarray, recipe: Recipe, input_shape: tuple):
        # Two threads: OpenCV releases the GIL, so augmenting the next batch overlaps with training.
        super().__init__(workers=2 if recipe.augment else 1)
        self.x, self.y, self.recipe, self.input_shape = x, y, recipe, input_shape
        self.epoch = 0
        self.order = self._shuffled()

    def _shuffled(self) -> np.ndarray:
        return np.random.default_rng([self.recipe.seed, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.recipe.batch_size)

    def __getitem__(self, index: int):
        size = self.recipe.batch_size
        rows = self.order[index * size : (index + 1) * size]
        images, labels = self.x[rows], self.y[rows]
        if not self.recipe.augment:
            return to_model_input(images.astype(np.float32) / 255.0, self.input_shape), labels
        recipe = self.recipe
        rng = np.random.default_rng([recipe.seed, self.epoch, index])
        mix = STYLE_MIXES[recipe.styles]
        batch = augment_batch(images, labels, rng, recipe.augment_rate, mix)
        if recipe.shift or recipe.zoom:
            batch = jitter_placement(batch, rng, recipe.shift, recipe.zoom)
        extra = round(len(rows) * recipe.not_digits)
        if extra:
            letters = not_digit_batch(extra, rng, mix.pen_jitter, recipe.handwritten_letters)
            batch = np.concatenate([batch, letters])
            labels = np.concatenate([labels, np.full(extra, NUM_CLASSES, labels.dtype)])
        return to_model_input(batch, self.input_shape), labels

    def on_epoch_end(self) -> None:
        """Next epoch: other distortions, another order."""
        self.epoch += 1
        self.order = self._shuffled()


def split_train_validation(
    x: np.ndarray, y: np.ndarray, recipe: Recipe, limit: int | None = None
) -> tuple[Split, Split]:
    """Hold out a seeded random validation set from the MNIST training images (both cut for a quick run)."""
    order = np.random.default_rng(recipe.seed).permutation(len(x))
    val, train = order[: recipe.validation_size], order[recipe.validation_size :]
    if limit is not None:
        train, val = train[:limit], val[: max(1, limit // 5)]
    return (x[train], y[train]), (x[val], y[val])


def fit_on_mnist(
    model: keras.Model, recipe: Recipe, mnist: tuple[Split, Split], limit: int | None, verbose: int | str
) -> dict:
    """Train a new network on MNIST's training images, minus the validation ones; the record of the run."""
    (x_train, y_train), _ = mnist
    (x_fit, y_fit), (x_val, y_val) = split_train_validation(x_train, y_train, recipe, limit)
    # A model with a "not a digit" class is fitted on all 11 classes and keeps its 10 digit outputs.
    fitted = eleven_class_model(model) if recipe.not_digits else model
    batches = DigitBatches(x_fit, y_fit, recipe, model.input_shape)
    compile_model(fitted, recipe.learning_rate, recipe.epochs, len(batches))
    validation = (to_model_input(x_val.astype(np.float32) / 255.0, model.input_shape), y_val)
    started = time.perf_counter()
    history = fitted.fit(batches, validation_data=validation, epochs=recipe.epochs, verbose=verbose)
    return {
        "train_images": len(x_fit),
        "validation_images": len(x_val),
        "mnist_time_s": round(time.perf_counter() - started, 1),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }


def fit_companion(
    model_spec: ModelSpec,
    mnist: tuple[Split, Split],
    epochs: int | None,
    limit: int | None,
    verbose: int | str,
) -> tuple[keras.Model, dict]:
    """A model's companion network, trained on MNIST alone, and the record of its run."""
    settings = model_spec.companion
    recipe = replace(settings.recipe, epochs=epochs if epochs is not None else settings.recipe.epochs)
    keras.utils.set_random_seed(recipe.seed)
    network = build_companion(model_spec)
    record = fit_on_mnist(network, recipe, mnist, limit, verbose)
    return network, {
        "architecture_name": settings.architecture,
        "weight": settings.weight,
        "asked_below": settings.asked_below,
        "drawn_weight": settings.drawn_weight,
        "parameters": network.count_params(),
        "settings": asdict(recipe),
        **record,
        "architecture": architecture_rows(network),
    }


def served_answers(
    companion: keras.Model, settings: Companion, answers: list[np.ndarray], images: np.ndarray
) -> np.ndarray:
    """A network's probabilities as the app answers: its companion's opinion, then its drawn companion's.

    `answers` holds the network's probabilities, then its drawn companion's if it has one.
    """
    drawn = answers[1] if len(answers) > 1 else None
    return with_companions(
        answers[0],
        settings,
        lambda rows: companion.predict(images[rows], verbose=0),
        None if drawn is None else lambda rows: drawn[rows],
    )


def train(
    name: str,
    epochs: int | None = None,
    directory: str | os.PathLike | None = None,
    mnist: str | os.PathLike | None = None,
    limit: int | None = None,
    seed: int | None = None,
    drawings: str | os.PathLike | None = None,
    verbose: int | str = "auto",
) -> ModelFiles:
    """Train model `name` and write `<name>.keras`, its ONNX export and `<name>.training.json`.

    A model that learns from real drawings is then fine-tuned on the drawn sets in `drawings` (see
    digitlib.finetune), which also writes `<name>.folds.npz`.
    """
    model_spec = spec(name)
    recipe = replace(
        model_spec.recipe,
        epochs=epochs if epochs is not None else model_spec.recipe.epochs,
        seed=seed if seed is not None else model_spec.recipe.seed,
    )
    files = model_files(name, directory)
    files.directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    keras.utils.set_random_seed(recipe.seed)
    model = build(model_spec)
    mnist_data = load_mnist(mnist)
    record = fit_on_mnist(model, recipe, mnist_data, limit, verbose)
    companion, served, networks = None, None, [model]
    if model_spec.companion is not None:
        companion, record["companion"] = fit_companion(model_spec, mnist_data, epochs, limit, verbose)
        served = partial(served_answers, companion, model_spec.companion)
        if model_spec.has_drawn_companion:
            networks.append(with_not_a_digit(companion, f"{name}_drawn_companion"))
    if model_spec.drawings is not None:
        networks, record["drawings"] = learn_drawings(
            networks, model_spec.drawings, files, mnist, drawings, limit, verbose, served
        )
    model = networks[0]
    model.save(files.model)
    if companion is not None:
        companion.save(files.companion)
    if len(networks) > 1:
        networks[1].save(files.drawn_companion)
        record["companion"]["drawn_parameters"] = networks[1].count_params()
    export_onnx(files, mnist)
    write_json(
        files.training,
        {
            "model": name,
            "parameters": model.count_params(),
            "settings": asdict(recipe),
            **record,
            "wall_time_s": round(time.perf_counter() - started, 1),
            "machine": machine_description(),
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "architecture": architecture_rows(model),
        },
    )
    return files
