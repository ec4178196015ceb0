"""Where models and their artifacts live in `models/`, and reading and writing them."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitlib.registry import MODEL_NAMES

MODELS_ENV = "DIGITLIB_MODELS"
# Metadata of an ONNX export: the SHA-256 of the `.keras` file it was made from, and its features output.
SOURCE_HASH_KEY = "digitlib.source_sha256"
EMBEDDING_OUTPUT = "embedding"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class ArtifactError(RuntimeError):
    """A model or artifact file is missing or unreadable; the message says which."""


def models_dir(directory: str | os.PathLike | None = None) -> Path:
    """The models folder: the argument, else $DIGITLIB_MODELS, else the project's `models/`."""
    chosen = directory if directory is not None else os.environ.get(MODELS_ENV) or DEFAULT_MODELS_DIR
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class ModelFiles:
    """The files that belong to one trained model."""

    directory: Path
    name: str

    def _path(self, suffix: str) -> Path:
        return self.directory / f"{self.name}{suffix}"

    @property
    def model(self) -> Path:
        """The trained Keras network, one `.keras` file."""
        return self._path(".keras")

    @property
    def onnx(self) -> Path:
        """The same network exported for ONNX Runtime (the fast serving path)."""
        return self._path(".onnx")

    @property
    def companion(self) -> Path:
        """The companion network of a model that has one (digitlib.registry.Companion), one `.keras` file."""
        return self._path(".companion.keras")

    @property
    def companion_onnx(self) -> Path:
        """The companion network exported for ONNX Runtime."""
        return self._path(".companion.onnx")

    @property
    def drawn_companion(self) -> Path:
        """The companion fine-tuned on drawings as the model is, with a "not a digit" class (.keras)."""
        return self._path(".drawn_companion.keras")

    @property
    def drawn_companion_onnx(self) -> Path:
        """The drawn companion exported for ONNX Runtime."""
        return self._path(".drawn_companion.onnx")

    @property
    def training(self) -> Path:
        """Settings, wall time, hardware and per-epoch history."""
        return self._path(".training.json")

    @property
    def metrics(self) -> Path:
        """MNIST test metrics: loss, accuracy, per-class scores, confusion matrix."""
        return self._path(".metrics.json")

    @property
    def predictions(self) -> Path:
        """Class probabilities for every MNIST test image."""
        return self._path(".test_probs.npz")

    @property
    def threshold(self) -> Path:
        """The confidence threshold chosen on drawn digits and non-digits."""
        return self._path(".threshold.json")

    @property
    def neighbours(self) -> Path:
        """Penultimate-layer embeddings of the MNIST training images, for nearest-neighbour lookup."""
        return self._path(".neighbours.npz")

    @property
    def drawn(self) -> Path:
        """Results on drawn canvases."""
        return self._path(".drawn.json")

    @property
    def folds(self) -> Path:
        """Out-of-institution probabilities of the drawings a model was trained on, from its fold models."""
        return self._path(".folds.npz")


def model_files(name: str, directory: str | os.PathLike | None = None) -> ModelFiles:
    """The artifact paths of model `name`."""
    return ModelFiles(models_dir(directory), name)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Read a JSON artifact, with a readable error when it is missing or broken."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as error:
        raise ArtifactError(f"artifact not found: {path} (train and evaluate the model first)") from error
    except (OSError, ValueError) as error:
        raise ArtifactError(f"cannot read artifact {path}: {error}") from error


def write_predictions(path: Path, probabilities: np.ndarray, labels: np.ndarray) -> None:
    """Save test-set probabilities (float16 is plenty for browsing) with the true labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, probabilities=probabilities.astype(np.float16), labels=labels.astype(np.uint8))
    os.replace(tmp, path)


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load `(probabilities float32 (N, 10), labels uint8 (N,))`."""
    try:
        with np.load(path) as data:
            return data["probabilities"].astype(np.float32), data["labels"]
    except FileNotFoundError as error:
        raise ArtifactError(f"predictions not found: {path} (run `python -m digitlib evaluate`)") from error
    except (OSError, KeyError, ValueError) as error:
        raise ArtifactError(f"cannot read predictions {path}: {error}") from error


def available_models(directory: str | os.PathLike | None = None) -> list[str]:
    """The declared models that have a served (ONNX) file in the models folder, in the registry's order."""
    return [name for name in MODEL_NAMES if model_files(name, directory).onnx.is_file()]


def cpu_name() -> str:
    """The processor's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> dict[str, Any]:
    """What the code ran on: CPU, cores, memory, OS and Python."""
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
