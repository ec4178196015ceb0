"""The MNIST training images most like a drawing, as the model sees them (its penultimate layer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.artifacts import ArtifactError, ModelFiles

# Features are projected onto their 32 main directions: a quarter of the file size and lookup time, and
# the nearest training image still has the right label for nearly every MNIST test digit (the tests pin it).
DIMENSIONS = 32


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), so a dot product is the cosine similarity."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def principal_axes(features: np.ndarray, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the top `dimensions` principal directions (dimensions, D) of feature rows."""
    mean = features.mean(axis=0)
    _, _, directions = np.linalg.svd(features - mean, full_matrices=False)
    return mean.astype(np.float32), directions[:dimensions].astype(np.float32)


def project(features: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Feature rows (M, D) on the principal axes, unit length."""
    return unit_rows((np.atleast_2d(features) - mean) @ axes.T)


@dataclass(frozen=True)
class NeighbourIndex:
    """Projected, unit-length features of the MNIST training images, and how to project a query."""

    mean: np.ndarray  # (D,)
    axes: np.ndarray  # (k, D)
    points: np.ndarray  # (N, k) float32, unit rows
    labels: np.ndarray  # (N,) uint8

    def nearest(self, features: np.ndarray, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Indices into MNIST train of the `count` images nearest one query, and their cosine similarities."""
        similarity = self.points @ project(features, self.mean, self.axes)[0]
        best = np.argpartition(-similarity, count)[:count]
        best = best[np.argsort(-similarity[best])]
        return best, similarity[best]


def build_index(
    train_features: np.ndarray, train_labels: np.ndarray, dimensions: int = DIMENSIONS
) -> NeighbourIndex:
    """An index over the penultimate features of the MNIST training images."""
    features = train_features.astype(np.float32)
    mean, axes = principal_axes(features, min(dimensions, features.shape[1]))
    return NeighbourIndex(mean, axes, project(features, mean, axes), train_labels.astype(np.uint8))


def save_index(index: NeighbourIndex, path: Path) -> None:
    """Write an index as `.npz` (points as float16: half the size, the same neighbours)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp, mean=index.mean, axes=index.axes, points=index.points.astype(np.float16), labels=index.labels
    )
    tmp.replace(path)


def load_index(files: ModelFiles) -> NeighbourIndex:
    """The saved index of a model, or an ArtifactError that says how to make it."""
    if not files.neighbours.is_file():
        raise ArtifactError(
            f"no neighbour index {files.neighbours}: run `python -m digitlib index --model {files.name}`"
        )
    try:
        with np.load(files.neighbours) as saved:
            return NeighbourIndex(
                saved["mean"], saved["axes"], unit_rows(saved["points"].astype(np.float32)), saved["labels"]
            )
    except (OSError, ValueError, KeyError) as error:
        raise ArtifactError(f"cannot read {files.neighbours}: {error}") from error
