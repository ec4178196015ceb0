"""Inference: load a model once and turn drawings or MNIST images into class probabilities fast."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.artifacts import ArtifactError, model_files
from digitlib.classes import NOT_SURE, confident_digits
from digitlib.preprocess import Stages, mnist_stages, to_model_input

# Below this top-class probability the app says "not sure" and shows the two best guesses.
CONFIDENCE_THRESHOLD = 0.6
BATCH_SIZE = 1024


@dataclass(frozen=True)
class Answer:
    """What the app says about one drawing."""

    probabilities: np.ndarray  # (10,) float32
    threshold: float

    @property
    def digit(self) -> int:
        """The most likely digit, whatever its confidence."""
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    @property
    def sure(self) -> bool:
        return int(confident_digits(self.probabilities, self.threshold)[0]) != NOT_SURE

    @property
    def top_two(self) -> list[tuple[int, float]]:
        """The two most likely digits with their probabilities."""
        order = np.argsort(self.probabilities)[::-1][:2]
        return [(int(d), float(self.probabilities[d])) for d in order]


class Predictor:
    """A trained model loaded once, with a compiled single-image and batch path."""

    def __init__(self, name: str, directory: str | os.PathLike | None = None, threshold: float = CONFIDENCE_THRESHOLD):
        self.name = name
        self.threshold = threshold
        self.path = model_files(name, directory).model
        self.model = _load_keras_model(self.path)
        self.input_shape = tuple(self.model.input_shape)
        self._forward = _compiled_forward(self.model)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) for float images (N, 28, 28) or one (28, 28) image in [0, 1]."""
        batch = to_model_input(images, self.input_shape)
        if len(batch) <= BATCH_SIZE:
            return self._forward(batch)
        return np.concatenate([self._forward(batch[i : i + BATCH_SIZE]) for i in range(0, len(batch), BATCH_SIZE)])

    def answer(self, image: np.ndarray) -> Answer:
        """The answer for one preprocessed (28, 28) image."""
        return Answer(self.predict(image)[0], self.threshold)

    def read_drawing(self, drawing: np.ndarray) -> tuple[Stages, Answer] | None:
        """Preprocess a canvas and answer it; None for a blank canvas."""
        stages = mnist_stages(drawing)
        if stages is None:
            return None
        return stages, self.answer(stages.centered)


def _load_keras_model(path: Path):
    """Load a `.keras` file for inference, with a readable error if it is missing or broken."""
    if not path.is_file():
        raise ArtifactError(f"model not found: {path} (train it with `python -m digitlib train`)")
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a corrupt or foreign file
        raise ArtifactError(f"cannot load model {path}: {error}") from error


def _compiled_forward(model):
    """A traced inference function (no per-call Python overhead of `model.predict`)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        traced = tf.function(lambda x: model(x, training=False), input_signature=[spec], jit_compile=False)
        return lambda batch: traced(batch).numpy()
    return lambda batch: np.asarray(model(batch, training=False))
