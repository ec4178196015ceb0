"""Scores of a model: on the MNIST test set (saved as artifacts) and on drawn canvases.

On the drawn sets a model was trained or calibrated on, every answer comes from a model and a threshold
that never saw the drawing's institution: the model's fold probabilities (`<name>.folds.npz`) and the
threshold calibrated on the other folds.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from digitlib.artifacts import ArtifactError, ModelFiles, read_json, write_json, write_predictions
from digitlib.classes import NOT_A_DIGIT, NOT_SURE, NUM_CLASSES, decide
from digitlib.data import fold_names, load_mnist, unreadable
from digitlib.kept import writer_by_writer
from digitlib.preprocess import to_mnist

# Images (N, 28, 28) float32 in [0, 1] -> probabilities (N, 10).
PredictFn = Callable[[np.ndarray], np.ndarray]
OUT_OF_INSTITUTION, AS_SHIPPED = "out of institution", "as shipped"
# How a person keeps drawings with their right digits, given the digits they kept before: only those the
# app got wrong, each digit the first time they draw it (as the Draw page's teaching asks), or every one.
KEEPING: dict[str, Callable[[int, int, np.ndarray], bool]] = {
    "corrections": lambda answer, label, kept: answer != label,
    "each digit once": lambda answer, label, kept: label not in kept,
    "every drawing": lambda answer, label, kept: True,
}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts[i, j] of true class i predicted as j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return counts


def per_class_scores(confusion: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall, F1 and support of every class from a confusion matrix."""
    scores = []
    for c in range(len(confusion)):
        hits = confusion[c, c]
        predicted, actual = confusion[:, c].sum(), confusion[c].sum()
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(
            {
                "digit": c,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(actual),
            }
        )
    return scores


def confused_pairs(confusion: np.ndarray, top: int = 10) -> list[dict[str, int]]:
    """The most frequent (true, predicted) mistakes, most frequent first."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    pairs = sorted(zip(*np.nonzero(off)), key=lambda tp: (-off[tp], tp))[:top]
    return [{"true": int(t), "predicted": int(p), "count": int(off[t, p])} for t, p in pairs]


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    picked = probabilities[np.arange(len(labels)), np.asarray(labels, int)]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def mnist_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Loss, accuracy, per-class scores, confusion matrix and confused pairs of test predictions."""
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted)
    return {
        "n": len(labels),
        "loss": cross_entropy(probabilities, labels),
        "accuracy": float((predicted == labels).mean()),
        "errors": int((predicted != labels).sum()),
        "per_class": per_class_scores(confusion),
        "confusion": confusion.tolist(),
        "confused_pairs": confused_pairs(confusion),
    }


def evaluate_mnist(predict: PredictFn, files: ModelFiles, mnist: str | os.PathLike | None = None) -> dict:
    """Score a model on the MNIST test set and write its metrics and test probabilities."""
    _, (x_test, y_test) = load_mnist(mnist)
    probabilities = predict(x_test.astype(np.float32) / 255.0)
    metrics = {"model": files.name, **mnist_metrics(probabilities, y_test)}
    write_json(files.metrics, metrics)
    write_predictions(files.predictions, probabilities, y_test)
    return metrics


def preprocess_all(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the app's recipe on every canvas; return the 28x28 inputs and which had ink."""
    inputs = np.zeros((len(images), 28, 28), np.float32)
    has_ink = np.zeros(len(images), bool)
    for i, canvas in enumerate(images):
        result = to_mnist(canvas)
        if result is not None:
            inputs[i], has_ink[i] = result, True
    return inputs, has_ink


def set_name(drawings: dict[str, np.ndarray]) -> str | None:
    """The name under which a drawn set is known, when it is one (the `name` the loader adds)."""
    return drawings.get("name")


def fold_probabilities(files: ModelFiles, drawings: dict[str, np.ndarray]) -> np.ndarray | None:
    """Out-of-fold probabilities of a drawn set the model trained on, in set order; None if it did not."""
    name = set_name(drawings)
    if name is None or not files.folds.is_file():
        return None
    with np.load(files.folds) as saved:
        if f"{name}_sample_id" not in saved.files:
            return None
        ids, probabilities = (
            saved[f"{name}_sample_id"].astype(str),
            saved[f"{name}_probabilities"].astype(np.float32),
        )
    position = {sample: row for row, sample in enumerate(ids)}
    wanted = drawings["sample_id"].astype(str)
    if any(sample not in position for sample in wanted):
        raise ArtifactError(
            f"{files.folds} has no fold answers for some drawings of {name}: train the model again"
        )
    return probabilities[[position[sample] for sample in wanted]]


def drawing_probabilities(
    predict: PredictFn, files: ModelFiles, drawings: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each canvas's probabilities (zeros if blank), which had ink, and whether fold models gave them."""
    inputs, has_ink = preprocess_all(drawings["images"])
    folds = fold_probabilities(files, drawings)
    if folds is not None:
        return np.where(has_ink[:, None], folds, 0.0), has_ink, True
    return np.where(has_ink[:, None], predict(inputs), 0.0), has_ink, False


def drawing_thresholds(
    files: ModelFiles, drawings: dict[str, np.ndarray], shipped: float
) -> tuple[np.ndarray, bool]:
    """Each drawing's threshold: its fold's if calibrated on this set, else the shipped one."""
    calibration = read_json(files.threshold) if files.threshold.is_file() else {}
    name = set_name(drawings)
    fold_thresholds = calibration.get("folds", {})
    calibrated_on = (calibration.get("digits"), calibration.get("nondigits"))
    if name is None or name not in calibrated_on or "institution" not in drawings:
        return np.full(len(drawings["images"]), shipped), False
    folds = fold_names(drawings["institution"])
    return np.array([fold_thresholds[fold] for fold in folds]), True


def drawing_answers(
    probabilities: np.ndarray, has_ink: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The app's answer per canvas (a digit, NOT_SURE or NOT_A_DIGIT; NOT_SURE if blank) and best guess."""
    answers = np.array([decide(p, t)[0] for p, t in zip(probabilities, thresholds)], dtype=int)
    answers = np.where(has_ink, answers, NOT_SURE)
    return answers, np.where(has_ink, probabilities.argmax(axis=1), NOT_SURE)


def _rate(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def _by_group(values: np.ndarray, correct: np.ndarray) -> dict[str, dict]:
    return {
        str(v): {"n": int((values == v).sum()), "score": float(correct[values == v].mean())}
        for v in np.unique(values)
    }


def drawing_scores(drawings: dict[str, np.ndarray], answers: np.ndarray, guesses: np.ndarray) -> dict:
    """Accuracy and answered rate of labelled canvases (all and readable), or how letters are rejected."""
    answered = answers >= 0
    result: dict = {"n": len(answers), "answered_rate": float(answered.mean())}
    if "labels" not in drawings:
        letters = drawings["letters"]
        result["rejection_rate"] = float((~answered).mean())
        result["not_a_digit_rate"] = float((answers == NOT_A_DIGIT).mean())
        result["per_letter"] = _by_group(letters, ~answered)
        return result
    labels = drawings["labels"].astype(int)
    readable = ~unreadable(drawings["sample_id"]) if "sample_id" in drawings else np.ones(len(labels), bool)
    correct = answers == labels
    shown = readable & (guesses >= 0)
    result.update(
        accuracy=float(correct.mean()),
        accuracy_before_threshold=float((guesses == labels).mean()),
        readable_n=int(readable.sum()),
        readable_accuracy=_rate(correct[readable]),
        readable_answered_rate=_rate(answered[readable]),
        readable_accuracy_before_threshold=_rate((guesses == labels)[readable]),
        # Of the readable drawings: an unreadable one's "confusion" says nothing about the model.
        confused_pairs=confused_pairs(confusion_matrix(labels[shown], guesses[shown])),
        per_digit=_by_group(labels[readable], correct[readable]),
    )
    if "institution" in drawings:
        result["per_institution"] = _by_group(drawings["institution"], correct)
        result["per_institution_readable"] = _by_group(drawings["institution"][readable], correct[readable])
    return result


def writers_in_order(sample_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each drawing's writer and the rows in each writer's order, from "file#n" ids; None if they are not."""
    parts = [str(sample).rsplit("#", 1) for sample in sample_ids]
    if not parts or not all(len(part) == 2 and part[1].isdigit() for part in parts):
        return None
    writers = np.array([file for file, _ in parts])
    return writers, np.lexsort((np.array([int(place) for _, place in parts]), writers))


def kept_scores(
    features: PredictFn,
    drawings: dict[str, np.ndarray],
    answers: np.ndarray,
    guesses: np.ndarray,
    writers: np.ndarray,
    order: np.ndarray,
) -> dict[str, dict]:
    """Per way of keeping: the scores when each writer's digits, in `order`, are read beside those they kept.

    `features` gives the features that tell how alike drawings are (digitlib.kept).
    """
    labels = drawings["labels"].astype(int)
    inputs, _ = preprocess_all(drawings["images"])
    alike = features(inputs)[order]
    reported = ("readable_accuracy", "accuracy", "per_institution_readable")
    result = {}
    for way, keeps in KEEPING.items():
        kept_answers = answers.copy()
        kept_answers[order] = writer_by_writer(answers[order], alike, labels[order], writers[order], keeps)
        scores = drawing_scores(drawings, kept_answers, guesses)
        result[way] = {key: scores[key] for key in reported}
    return result


def evaluate_drawings(
    predict: PredictFn,
    files: ModelFiles,
    drawings: dict[str, np.ndarray],
    threshold: float,
    fold_thresholds: bool = True,
    features: PredictFn | None = None,
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Scores, answers and guesses on a drawn set; out of institution where model or threshold learnt from it.

    Without `fold_thresholds`, every drawing is answered at `threshold`. With `features` (digitlib.kept),
    labelled digits whose ids name their writers are also scored read beside their writers' kept drawings.
    """
    probabilities, has_ink, from_folds = drawing_probabilities(predict, files, drawings)
    if fold_thresholds:
        thresholds, per_fold = drawing_thresholds(files, drawings, threshold)
    else:
        thresholds, per_fold = np.full(len(drawings["images"]), threshold), False
    answers, guesses = drawing_answers(probabilities, has_ink, thresholds)
    scores = drawing_scores(drawings, answers, guesses)
    scores["measured"] = OUT_OF_INSTITUTION if from_folds or per_fold else AS_SHIPPED
    in_order = writers_in_order(drawings["sample_id"]) if "sample_id" in drawings else None
    if features is not None and "labels" in drawings and in_order is not None:
        scores["with_kept"] = kept_scores(features, drawings, answers, guesses, *in_order)
    if per_fold:
        scores["threshold"] = {
            str(fold): float(t) for fold, t in zip(fold_names(drawings["institution"]), thresholds)
        }
    else:
        scores["threshold"] = float(threshold)
    return scores, answers, guesses


def misread_drawings(
    drawings: dict[str, np.ndarray], answers: np.ndarray, guesses: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Drawings a model gets wrong (a digit's best guess, a letter answered as a digit), captioned "4->1"."""
    if "labels" in drawings:
        truths, said = drawings["labels"].astype(int), guesses
        wrong = np.flatnonzero(said != truths)
    else:
        truths, said = drawings["letters"], answers
        wrong = np.flatnonzero(said >= 0)
    groups = drawings.get("institution")
    captions = []
    for i in wrong:
        guess = "?" if said[i] < 0 else str(said[i])
        group = f" {groups[i]}" if groups is not None else ""
        captions.append(f"{i} {truths[i]}->{guess}{group}")
    return wrong, captions


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """Each row of a confusion matrix divided by its total: the share of true class i predicted as j."""
    confusion = np.asarray(confusion, dtype=np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


MISTAKE_ORDERS = ("confidence", "index")


def misclassified(
    probabilities: np.ndarray,
    labels: np.ndarray,
    true: int | None = None,
    predicted: int | None = None,
    order: str = "confidence",
) -> np.ndarray:
    """Indices of wrong predictions (of `true`/`predicted` if given), most confident first or by index."""
    if order not in MISTAKE_ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(MISTAKE_ORDERS)}")
    labels = np.asarray(labels, dtype=int)
    guesses = probabilities.argmax(axis=1)
    wrong = guesses != labels
    if true is not None:
        wrong &= labels == true
    if predicted is not None:
        wrong &= guesses == predicted
    indices = np.flatnonzero(wrong)
    if order == "confidence":
        # A stable sort keeps equally confident mistakes in index order.
        indices = indices[np.argsort(-probabilities[indices].max(axis=1), kind="stable")]
    return indices
