"""Inference through ONNX Runtime: load a model once and turn drawings or MNIST images into probabilities.

Serving never imports Keras or TensorFlow: `python -m digitlib train` (or `export`) writes the ONNX file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from digitlib.artifacts import (
    EMBEDDING_OUTPUT,
    SOURCE_HASH_KEY,
    ArtifactError,
    ModelFiles,
    file_sha256,
    model_files,
    read_json,
)
from digitlib.classes import Answer, with_companions
from digitlib.hints import MAX_PIECES, Hint, blocking_hint, drawing_hints
from digitlib.kept import KeptDrawings, KeptMatch, unit_rows
from digitlib.preprocess import FIELD, Stages, mnist_stages, to_model_input
from digitlib.registry import spec
from digitlib.strokes import PenStroke, draw_strokes

if TYPE_CHECKING:
    from pathlib import Path

    import onnxruntime

# Below this top-class probability the app does not answer (until `python -m digitlib calibrate` chooses one).
CONFIDENCE_THRESHOLD = 0.6
BATCH_SIZE = 1024


@dataclass(frozen=True)
class Reading:
    """A drawing as a model read it: every stage of its input, the answer, and advice for the person."""

    stages: Stages
    answer: Answer  # the model's
    hints: tuple[Hint, ...]
    kept: KeptMatch | None = None  # the person's kept drawing that changes the model's answer, if one does

    @property
    def verdict(self) -> int:
        """What the app says: the kept drawing's digit where one changes the answer, else the model's."""
        return self.answer.verdict if self.kept is None else self.kept.digit

    @property
    def blocked(self) -> bool:
        """Whether a hint says the drawing is no digit to read (a dot, a flat line, several marks)."""
        return blocking_hint(self.hints) is not None


class Predictor:
    """A model's ONNX export loaded once, with its calibrated threshold."""

    def __init__(self, name: str, directory: str | os.PathLike | None = None, threshold: float | None = None):
        self.name = name
        self.files = model_files(name, directory)
        self.threshold = threshold if threshold is not None else calibrated_threshold(self.files)
        session = onnx_session(self.files)
        self._input = session.get_inputs()[0]
        self._probabilities = session.get_outputs()[0].name
        self._embedding = session.get_modelmeta().custom_metadata_map.get(EMBEDDING_OUTPUT)
        self._session = session
        model_spec = spec(name)
        self.companion = model_spec.companion
        self._companion = (
            onnx_session(self.files, self.files.companion_onnx, self.files.companion)
            if self.companion is not None
            else None
        )
        self._drawn_companion = (
            onnx_session(self.files, self.files.drawn_companion_onnx, self.files.drawn_companion)
            if model_spec.has_drawn_companion
            else None
        )
        # Likeness of drawings is read in a network trained on MNIST alone: the companion, else the model.
        if self._companion is not None:
            companion_features = self._companion.get_modelmeta().custom_metadata_map.get(EMBEDDING_OUTPUT)
            self._likeness = (self._companion, companion_features, self.files.companion_onnx)
        else:
            self._likeness = (session, self._embedding, self.files.onnx)

    def _run(
        self, output: str, images: np.ndarray, session: onnxruntime.InferenceSession | None = None
    ) -> np.ndarray:
        session = session or self._session
        batch = to_model_input(images, self._input.shape)
        if len(batch) <= BATCH_SIZE:
            return session.run([output], {self._input.name: batch})[0]
        return np.concatenate(
            [self._run(output, batch[i : i + BATCH_SIZE], session) for i in range(0, len(batch), BATCH_SIZE)]
        )

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Digit probabilities (N, 10) for float images (N, 28, 28) or one (28, 28) image in [0, 1].

        A model with a companion pools its opinion where the model alone is unsure, then its drawn
        companion's where the answer is still unsure.
        """
        probabilities = self._run(self._probabilities, images)
        if self._companion is None:
            return probabilities
        drawn = self._drawn_companion
        return with_companions(
            probabilities,
            self.companion,
            partial(self._ask, self._companion, images),
            None if drawn is None else partial(self._ask, drawn, images),
        )

    def _ask(self, session: onnxruntime.InferenceSession, images: np.ndarray, rows: list[int]) -> np.ndarray:
        batch = to_model_input(images, self._input.shape)[rows]
        return self._run(session.get_outputs()[0].name, batch, session)

    def _features(
        self, images: np.ndarray, session: onnxruntime.InferenceSession, output: str | None, file: Path
    ) -> np.ndarray:
        if output is None:
            raise ArtifactError(f"{file} has no features output: run `python -m digitlib export` again")
        return self._run(output, images, session)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """The model's penultimate-layer features (N, D) for float images (N, 28, 28) in [0, 1]."""
        return self._features(images, self._session, self._embedding, self.files.onnx)

    def likeness_features(self, images: np.ndarray) -> np.ndarray:
        """Features (N, D) that tell how alike drawings are: the companion's, else the model's own."""
        return self._features(images, *self._likeness)

    def kept_drawings(self, images: np.ndarray, digits: Sequence[int]) -> KeptDrawings:
        """A person's kept 28x28 inputs (K, 28, 28) and right digits, ready to read new drawings beside."""
        images = np.asarray(images, np.float32).reshape(-1, FIELD, FIELD)
        features = self.likeness_features(images) if len(images) else np.zeros((0, 1), np.float32)
        return KeptDrawings(images, np.asarray(digits, int), unit_rows(features))

    def answer(self, image: np.ndarray) -> Answer:
        """The answer for one preprocessed (28, 28) image."""
        return Answer(self.predict(image)[0], self.threshold)

    def read_drawing(
        self,
        drawing: np.ndarray,
        count_marks: bool = False,
        pen_width: float = 0.0,
        kept: KeptDrawings | None = None,
    ) -> Reading | None:
        """Preprocess a drawing (drawn with a pen `pen_width` wide, if known) and answer it; None without ink.

        Separate marks are counted only when asked: a pen leaves none by chance, but paper leaves specks.
        With a person's `kept` drawings, a near copy of one of them gets its digit.
        """
        stages = mnist_stages(drawing)
        if stages is None:
            return None
        pieces = stages.pieces if count_marks else None
        hints = drawing_hints(stages.bbox, *stages.drawing.shape[:2], pieces, pen_width=pen_width)
        answer = self.answer(stages.centered)
        match = None
        if kept is not None and len(kept.digits):
            (match,) = kept.changes(self.likeness_features(stages.centered), [answer.verdict])
        return Reading(stages, answer, tuple(hints), match)

    def read_strokes(
        self, strokes: Sequence[PenStroke], height: int, width: int, kept: KeptDrawings | None = None
    ) -> Reading | None:
        """Draw pen strokes on a black (height, width) canvas and read them; None without strokes."""
        if not strokes:
            return None
        # A stroke is one connected mark: only more strokes than a digit's marks can make too many of them.
        return self.read_drawing(
            draw_strokes(strokes, height, width),
            count_marks=len(strokes) > MAX_PIECES,
            pen_width=max(stroke.width for stroke in strokes),
            kept=kept,
        )


def calibrated_threshold(files: ModelFiles) -> float:
    """The threshold saved by `python -m digitlib calibrate`, else the default."""
    if not files.threshold.is_file():
        return CONFIDENCE_THRESHOLD
    saved = read_json(files.threshold)
    threshold = saved.get("threshold") if isinstance(saved, dict) else None
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ArtifactError(
            f"{files.threshold} has no threshold from 0 to 1: run `python -m digitlib calibrate` again"
        )
    return float(threshold)


def onnx_session(
    files: ModelFiles, onnx: Path | None = None, source_model: Path | None = None
) -> onnxruntime.InferenceSession:
    """ONNX Runtime session of `<name>.onnx` (or of `onnx`, exported from `source_model`).

    ArtifactError if the file is missing, broken or stale.
    """
    import onnxruntime

    onnx, source_model = onnx or files.onnx, source_model or files.model
    if not onnx.is_file():
        raise ArtifactError(
            f"model not found: {onnx} (train it with `python -m digitlib train --model {files.name}`)"
        )
    # One thread that does not spin while waiting: a drawing is a tiny batch, and the server runs many
    # sessions' strokes side by side, so more threads only burn CPU that other sessions need.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own types for a broken file
        raise ArtifactError(f"cannot load model {onnx}: {error}") from error
    source = session.get_modelmeta().custom_metadata_map.get(SOURCE_HASH_KEY)
    if source_model.is_file() and source != file_sha256(source_model):
        raise ArtifactError(
            f"{onnx} was not exported from {source_model}: "
            f"run `python -m digitlib export --model {files.name}`"
        )
    return session
