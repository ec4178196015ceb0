"""Inference: load a model once and turn drawings or MNIST images into class probabilities fast."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib import onnx_graph
from digitlib.artifacts import ArtifactError, ModelFiles, model_files, read_json
from digitlib.classes import NOT_SURE, confident_digits
from digitlib.preprocess import Stages, mnist_stages, to_model_input

# Below this top-class probability the app says "not sure" and shows the two best guesses
# (used until `python -m digitlib calibrate` has chosen one on data).
CONFIDENCE_THRESHOLD = 0.6
BATCH_SIZE = 1024
SOURCE_HASH_KEY = "digitlib.source_sha256"
EMBEDDING_OUTPUT = "embedding"


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
    """A trained model loaded once, served through ONNX Runtime when an up-to-date export exists."""

    def __init__(self, name: str, directory: str | os.PathLike | None = None, threshold: float | None = None):
        self.name = name
        self.files = model_files(name, directory)
        if not self.files.model.is_file():
            raise ArtifactError(f"model not found: {self.files.model} (train it with `python -m digitlib train`)")
        self.threshold = threshold if threshold is not None else calibrated_threshold(self.files)
        session = current_onnx_session(self.files)
        if session is not None:
            self.backend = "onnxruntime"
            self.input_shape, self._forward, self._embed = _onnx_functions(session)
        else:
            self.backend = "keras"
            model = load_keras_model(self.files.model)
            self.input_shape, self._forward = tuple(model.input_shape), _keras_forward(model)
            self._embed = _keras_forward(penultimate_model(model))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) for float images (N, 28, 28) or one (28, 28) image in [0, 1]."""
        return _in_batches(self._forward, to_model_input(images, self.input_shape))

    def embed(self, images: np.ndarray) -> np.ndarray:
        """The model's penultimate-layer features (N, D) for float images (N, 28, 28) in [0, 1]."""
        return _in_batches(self._embed, to_model_input(images, self.input_shape))

    def answer(self, image: np.ndarray) -> Answer:
        """The answer for one preprocessed (28, 28) image."""
        return Answer(self.predict(image)[0], self.threshold)

    def read_drawing(self, drawing: np.ndarray) -> tuple[Stages, Answer] | None:
        """Preprocess a canvas and answer it; None for a blank canvas."""
        stages = mnist_stages(drawing)
        if stages is None:
            return None
        return stages, self.answer(stages.centered)


def _in_batches(function, batch: np.ndarray) -> np.ndarray:
    """`function` applied to a model-input batch in slices of at most BATCH_SIZE images, results joined."""
    if len(batch) <= BATCH_SIZE:
        return function(batch)
    return np.concatenate([function(batch[i : i + BATCH_SIZE]) for i in range(0, len(batch), BATCH_SIZE)])


def calibrated_threshold(files: ModelFiles) -> float:
    """The threshold saved by `python -m digitlib calibrate`, else the default."""
    if not files.threshold.is_file():
        return CONFIDENCE_THRESHOLD
    return float(read_json(files.threshold)["threshold"])


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def current_onnx_session(files: ModelFiles):
    """An ONNX Runtime session for `<name>.onnx` if it was exported from the `.keras` file as it is now."""
    if not files.onnx.is_file():
        return None
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    except Exception:  # a broken export is as good as none: serve the Keras model instead
        return None
    source = session.get_modelmeta().custom_metadata_map.get(SOURCE_HASH_KEY)
    return session if source == file_sha256(files.model) else None


def export_onnx(files: ModelFiles) -> Path:
    """Write `<name>.onnx` from `<name>.keras`, tagged with the source's hash."""
    import onnx

    model = load_keras_model(files.model)
    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # Keras exports only a model that has been called
    tmp = files.onnx.with_name(files.onnx.name + ".tmp")
    model.export(str(tmp), format="onnx", verbose=False)
    exported = onnx.load(str(tmp))
    embedding = onnx_graph.expose_embedding(exported)
    onnx_graph.simplify(exported)
    onnx.helper.set_model_props(exported, {SOURCE_HASH_KEY: file_sha256(files.model), EMBEDDING_OUTPUT: embedding})
    onnx.save(exported, str(tmp))
    os.replace(tmp, files.onnx)
    return files.onnx


def penultimate_model(model):
    """The Keras model cut before its last dense layer: it outputs the features the classifier reads.

    For an ensemble that is the last member's dense layer, as in the ONNX export.
    """
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if dense:
        return keras.Model(model.input, dense[-1].input)
    member = [layer for layer in model.layers if isinstance(layer, keras.Model)][-1]
    return keras.Model(model.input, penultimate_model(member)(model.input))


def load_keras_model(path: Path):
    """Load a `.keras` file for inference, with a readable error if it is broken."""
    import keras

    import digitlib.models  # noqa: F401  registers the custom layers saved in the files

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a corrupt or foreign file
        raise ArtifactError(f"cannot load model {path}: {error}") from error


def _onnx_functions(session):
    """Input shape, and functions from a float32 batch to probabilities and to penultimate features."""
    graph_input = session.get_inputs()[0].name
    probabilities = session.get_outputs()[0].name
    embedding = session.get_modelmeta().custom_metadata_map.get(EMBEDDING_OUTPUT)

    def forward(batch: np.ndarray) -> np.ndarray:
        return session.run([probabilities], {graph_input: batch})[0]

    def embed(batch: np.ndarray) -> np.ndarray:
        if embedding is None:
            raise ArtifactError("this ONNX export has no embedding output: run `python -m digitlib export` again")
        return session.run([embedding], {graph_input: batch})[0]

    return (None, *session.get_inputs()[0].shape[1:]), forward, embed


def _keras_forward(model):
    """A traced Keras inference function (no per-call overhead of `model.predict`)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        traced = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        return lambda batch: traced(batch).numpy()
    return lambda batch: np.asarray(model(batch, training=False))
