"""Scores of a model: on the MNIST test set (saved as artifacts) and on drawn canvases."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from digitlib.artifacts import ModelFiles, bench_path, model_files, read_json, write_json, write_predictions
from digitlib.data import load_mnist
from digitlib.classes import NOT_SURE, NUM_CLASSES, confident_digits
from digitlib.preprocess import to_mnist

# Images (N, 28, 28) float32 in [0, 1] -> probabilities (N, 10).
PredictFn = Callable[[np.ndarray], np.ndarray]


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
            {"digit": c, "precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(actual)}
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
        "n": int(len(labels)),
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


def drawing_answers(predict: PredictFn, images: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The app's answer for every canvas (NOT_SURE for blank or unsure), and its best guess whatever the threshold."""
    inputs, has_ink = preprocess_all(images)
    probabilities = predict(inputs)
    answers = np.where(has_ink, confident_digits(probabilities, threshold), NOT_SURE)
    return answers, np.where(has_ink, probabilities.argmax(axis=1), NOT_SURE)


def evaluate_drawings(predict: PredictFn, drawings: dict[str, np.ndarray], threshold: float) -> dict:
    """Accuracy and answered rate on labelled canvases, or the rejection rate on non-digits."""
    return drawing_scores(drawings, *drawing_answers(predict, drawings["images"], threshold), threshold)


def drawing_scores(drawings: dict[str, np.ndarray], answers: np.ndarray, guesses: np.ndarray, threshold: float) -> dict:
    """The scores of `evaluate_drawings` from the answers and best guesses already made."""
    answered = answers != NOT_SURE
    result: dict = {"n": int(len(answers)), "threshold": threshold, "answered_rate": float(answered.mean())}
    if "labels" in drawings:
        labels = drawings["labels"].astype(int)
        correct = answers == labels
        result["accuracy"] = float(correct.mean())
        result["accuracy_when_answered"] = float(correct[answered].mean()) if answered.any() else 0.0
        # What the model gets wrong, apart from what the threshold holds back.
        result["accuracy_before_threshold"] = float((guesses == labels).mean())
        inked = guesses != NOT_SURE
        result["confused_pairs"] = confused_pairs(confusion_matrix(labels[inked], guesses[inked]))
        groups = {"per_institution": drawings.get("institution"), "per_digit": labels}
    else:
        letters = drawings["letters"]
        result["rejection_rate"] = float((~answered).mean())
        groups = {"per_letter": letters}
        correct = ~answered
    for key, values in groups.items():
        if values is None:
            continue
        result[key] = {
            str(v): {"n": int((values == v).sum()), "score": float(correct[values == v].mean())}
            for v in np.unique(values)
        }
    return result


def misread_drawings(drawings: dict[str, np.ndarray], answers: np.ndarray, guesses: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The drawings a model gets wrong (a digit's best guess, a letter answered as a digit), captioned like "4->1"."""
    if "labels" in drawings:
        truths, said = drawings["labels"].astype(int), guesses
        wrong = np.flatnonzero(said != truths)
    else:
        truths, said = drawings["letters"], answers
        wrong = np.flatnonzero(said != NOT_SURE)
    groups = drawings.get("institution")
    captions = []
    for i in wrong:
        guess = "?" if said[i] == NOT_SURE else str(said[i])
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
    """Indices of wrong predictions, of one true and/or predicted digit if given, most confident first or by index."""
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


def top_confidences(predict: PredictFn, images: np.ndarray) -> np.ndarray:
    """The app's top-class probability for every canvas (0 for a blank one, which is never answered)."""
    inputs, has_ink = preprocess_all(images)
    return np.where(has_ink, predict(inputs).max(axis=1), 0.0)


def choose_threshold(digit_confidence: np.ndarray, nondigit_confidence: np.ndarray, min_answered: float, min_rejected: float) -> dict:
    """The lowest threshold rejecting `min_rejected` of non-digits that answers `min_answered` of digits (else the highest that does)."""
    candidates = np.unique(np.concatenate([digit_confidence, [0.0]]))
    answered = np.array([(digit_confidence >= t).mean() for t in candidates])
    highest = float(candidates[answered >= min_answered].max())
    # A threshold just above the k-th least confident non-digit rejects the k least confident ones.
    k = int(np.ceil(round(min_rejected * len(nondigit_confidence), 9)))  # 0.07 * 100 is 7.000000000000001
    lowest = float(np.nextafter(np.sort(nondigit_confidence)[k - 1], np.inf)) if k else 0.0
    threshold = min(highest, lowest)
    return {
        "threshold": threshold,
        "min_answered": min_answered,
        "min_rejected": min_rejected,
        "digits_answered_rate": float((digit_confidence >= threshold).mean()),
        "nondigits_rejection_rate": float((nondigit_confidence < threshold).mean()),
        "digits_n": int(len(digit_confidence)),
        "nondigits_n": int(len(nondigit_confidence)),
    }


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _milliseconds(timings: dict | None) -> str:
    """A bench entry's p50; a dash for one that an older bench did not measure."""
    return "–" if timings is None else f"{timings['p50_ms']:.3f} ms"


def _read_optional(path) -> dict:
    return read_json(path) if path.is_file() else {}


def _group_table(drawn: dict[str, dict], dataset: str, key: str, group: str, what: str) -> list[str]:
    """A Markdown table of one drawn set's score per group (institution, letter) for every model."""
    names = [n for n, d in drawn.items() if key in d.get(dataset, {})]
    if not names:
        return []
    groups = sorted({g for n in names for g in drawn[n][dataset][key]})
    lines = ["", f"{dataset}, {what}, per {group}:", "", f"| {group} | n | " + " | ".join(names) + " |"]
    lines.append("|---|---:|" + "---:|" * len(names))
    for g in groups:
        n = drawn[names[0]][dataset][key][g]["n"]
        scores = " | ".join(_percent(drawn[m][dataset][key].get(g, {}).get("score")) for m in names)
        lines.append(f"| {g} | {n} | {scores} |")
    return lines


def results_table(names: list[str], directory: str | os.PathLike | None = None) -> str:
    """The README's results table (Markdown), built only from the saved artifacts."""
    lines = [
        "| model | parameters | MNIST test accuracy | drawn_dev accuracy | drawn_dev answered | nondigit_dev rejected | training time | trained on |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in names:
        files = model_files(name, directory)
        training, metrics, drawn = (_read_optional(p) for p in (files.training, files.metrics, files.drawn))
        digits, letters = drawn.get("drawn_dev", {}), drawn.get("nondigit_dev", {})
        machine = training.get("machine", {})
        minutes = training.get("wall_time_s", 0) / 60
        lines.append(
            f"| {name} | {training.get('parameters', 0):,} | {_percent(metrics.get('accuracy'))} "
            f"| {_percent(digits.get('accuracy'))} | {_percent(digits.get('answered_rate'))} "
            f"| {_percent(letters.get('rejection_rate'))} | {minutes:.1f} min "
            f"| {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {training.get('backend', '?')} |"
        )
    drawn = {name: _read_optional(model_files(name, directory).drawn) for name in names}
    lines += _group_table(drawn, "drawn_dev", "per_institution", "institution", "drawn digits right")
    lines += _group_table(drawn, "nondigit_dev", "per_letter", "letter", "letters rejected")
    bench = _read_optional(bench_path(directory))
    if bench:
        m = bench["machine"]
        lines += [
            "",
            f"Speed (`python -m digitlib bench`, {m['cpu']}, {m['cores']} cores; p50 of single-image calls):",
            "",
            "| model | serving backend | preprocess 280x280 RGBA | predict one image | full path canvas -> probabilities | full path after a 20 ms pause | `model.predict` | speed-up | 10,000 test images | load |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in bench["models"].items():
            lines.append(
                f"| {name} | {r['backend']} | {r['preprocess']['p50_ms']:.3f} ms | {r['predict']['p50_ms']:.3f} ms "
                f"| {r['full_path']['p50_ms']:.3f} ms | {_milliseconds(r.get('full_path_after_pause'))} | {r['model_predict']['p50_ms']:.1f} ms "
                f"| {r['speedup_vs_model_predict']:.0f}x | {r['batch_10k_s']:.2f} s | {r['load_s']:.2f} s |"
            )
        lines.append(f"\nPeak memory of the benchmark process: {bench['peak_memory_mib']:.0f} MiB.")
    return "\n".join(lines)
