"""Metrics against hand-computed oracles, and drawn-canvas evaluation through the app's recipe."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import digit_on_canvas
from digitlib.evaluate import (
    confused_pairs,
    choose_threshold,
    confusion_matrix,
    cross_entropy,
    drawing_answers,
    evaluate_drawings,
    misread_drawings,
    mnist_metrics,
    per_class_scores,
    results_table,
)
from digitlib.artifacts import bench_path, write_json


def test_confusion_matrix_and_scores_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y_true, y_pred, classes=3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    scores = per_class_scores(cm)
    assert scores[0] == pytest.approx({"digit": 0, "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert scores[1]["precision"] == pytest.approx(0.5) and scores[1]["recall"] == pytest.approx(0.5)
    assert scores[2]["precision"] == pytest.approx(0.5) and scores[2]["recall"] == pytest.approx(1.0)
    assert confused_pairs(cm) == [{"true": 0, "predicted": 1, "count": 1}, {"true": 1, "predicted": 2, "count": 1}]
    cm[2, 0] = 5
    assert confused_pairs(cm, top=1) == [{"true": 2, "predicted": 0, "count": 5}]


def test_cross_entropy_of_known_probabilities():
    probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert cross_entropy(probs, np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.1)) / 2)


def test_mnist_metrics_counts_errors():
    probs = np.eye(10)[[1, 2, 3, 3]]
    metrics = mnist_metrics(probs, np.array([1, 2, 3, 4]))
    assert metrics["accuracy"] == 0.75 and metrics["errors"] == 1 and metrics["n"] == 4
    assert metrics["confused_pairs"] == [{"true": 4, "predicted": 3, "count": 1}]


def _nearest_digit_predictor(references: np.ndarray, labels: np.ndarray):
    """A 1-nearest-neighbour rule over known digits: probability 0.95 for the nearest one's label."""

    def predict(images: np.ndarray) -> np.ndarray:
        probs = np.full((len(images), 10), 0.05 / 9, np.float32)
        for i, image in enumerate(images):
            nearest = np.argmin([np.abs(image - r).sum() for r in references])
            probs[i, labels[nearest]] = 0.95
        return probs

    return predict


def test_evaluate_drawings_scores_answers_and_groups(mnist):
    _, (x_test, y_test) = mnist
    digits = x_test[:3]
    predict = _nearest_digit_predictor(digits / 255.0, y_test[:3])
    canvases = np.stack([digit_on_canvas(d, 150, 20 + 30 * i, 100) for i, d in enumerate(digits)] + [np.zeros((280, 280), np.uint8)])
    labels = np.array([y_test[0], y_test[1], (y_test[2] + 1) % 10, 5])  # the last two are wrong: a wrong label and a blank
    drawings = {"images": canvases, "labels": labels, "institution": np.array(["a", "a", "b", "b"])}
    result = evaluate_drawings(predict, drawings, threshold=0.5)
    assert result["n"] == 4
    assert result["accuracy"] == 0.5 and result["answered_rate"] == 0.75
    assert result["accuracy_when_answered"] == pytest.approx(2 / 3)
    assert result["per_institution"] == {"a": {"n": 2, "score": 1.0}, "b": {"n": 2, "score": 0.0}}
    # The wrongly labelled digit is the only confusion; the blank canvas has no guess to confuse.
    assert result["confused_pairs"] == [{"true": int(labels[2]), "predicted": int(y_test[2]), "count": 1}]
    strict = evaluate_drawings(predict, drawings, threshold=0.99)
    assert strict["answered_rate"] == 0.0 and strict["accuracy"] == 0.0
    assert strict["accuracy_before_threshold"] == result["accuracy_before_threshold"] == 0.5


def test_rejection_rate_on_letters(mnist):
    _, (x_test, y_test) = mnist
    predict = _nearest_digit_predictor(x_test[:1] / 255.0, y_test[:1])
    canvases = np.stack([digit_on_canvas(x_test[0]), np.zeros((280, 280), np.uint8), np.zeros((280, 280), np.uint8)])
    drawings = {"images": canvases, "letters": np.array(["A", "A", "x"])}
    result = evaluate_drawings(predict, drawings, threshold=0.5)
    assert result["rejection_rate"] == pytest.approx(2 / 3)
    assert result["per_letter"] == {"A": {"n": 2, "score": 0.5}, "x": {"n": 1, "score": 1.0}}


def test_misread_drawings_are_the_wrong_guesses_and_the_letters_answered(mnist):
    _, (x_test, y_test) = mnist
    digits = x_test[:3]
    predict = _nearest_digit_predictor(digits / 255.0, y_test[:3])
    canvases = np.stack([digit_on_canvas(d) for d in digits] + [np.zeros((280, 280), np.uint8)])
    labels = np.array([y_test[0], (y_test[1] + 1) % 10, y_test[2], 5])  # a wrong label and a blank canvas
    drawings = {"images": canvases, "labels": labels, "institution": np.array(["a", "b", "c", "d"])}
    wrong, captions = misread_drawings(drawings, *drawing_answers(predict, canvases, threshold=0.99))
    # Unsure answers do not hide a misreading: the best guess is what is shown.
    assert wrong.tolist() == [1, 3]
    assert captions == [f"1 {labels[1]}->{y_test[1]} b", "3 5->? d"]
    letters = {"images": canvases, "letters": np.array(["A", "e", "x", "K"])}
    wrong, captions = misread_drawings(letters, *drawing_answers(predict, canvases, threshold=0.5))
    assert wrong.tolist() == [0, 1, 2] and captions == [f"0 A->{y_test[0]}", f"1 e->{y_test[1]}", f"2 x->{y_test[2]}"]
    assert misread_drawings(letters, *drawing_answers(predict, canvases, threshold=0.99))[0].size == 0


def test_choose_threshold_rejects_enough_letters_and_answers_the_most_digits():
    digits = np.array([0.99, 0.98, 0.97, 0.9, 0.5])
    letters = np.array([0.95, 0.6, 0.4, 0.3])
    # Rejecting 3 of 4 letters takes a threshold just above 0.6; it still answers 4 of 5 digits.
    chosen = choose_threshold(digits, letters, min_answered=0.8, min_rejected=0.75)
    assert 0.6 < chosen["threshold"] < 0.6 + 1e-9
    assert chosen["digits_answered_rate"] == 0.8 and chosen["nondigits_rejection_rate"] == 0.75
    # Fewer letters to reject: a lower threshold, and every digit answered.
    chosen = choose_threshold(digits, letters, min_answered=0.8, min_rejected=0.5)
    assert 0.4 < chosen["threshold"] < 0.4 + 1e-9 and chosen["digits_answered_rate"] == 1.0
    assert choose_threshold(digits, letters, min_answered=0.8, min_rejected=0.0)["threshold"] == 0.0
    # 7% of 100 letters is 7 of them, though 0.07 * 100 is a hair above 7 in floating point.
    many = np.linspace(0.01, 0.99, 100)
    assert choose_threshold(np.ones(10), many, min_answered=1.0, min_rejected=0.07)["nondigits_rejection_rate"] == 0.07


def test_choose_threshold_keeps_the_answered_rate_when_the_letters_ask_for_more():
    digits = np.array([0.99, 0.98, 0.97, 0.9, 0.5])
    letters = np.array([0.95, 0.6, 0.4, 0.3])
    chosen = choose_threshold(digits, letters, min_answered=0.8, min_rejected=1.0)
    assert chosen["threshold"] == 0.9  # the highest that answers 4 of 5 digits; rejecting all would take 0.95
    assert chosen["digits_answered_rate"] == 0.8 and chosen["nondigits_rejection_rate"] == 0.75
    assert choose_threshold(digits, letters, min_answered=1.0, min_rejected=1.0)["threshold"] == 0.5


def test_results_table_shows_a_bench_from_before_the_pause_timings(tmp_path):
    timing = {"p50_ms": 0.4, "p95_ms": 0.5, "n": 100}
    model = {
        "backend": "onnxruntime", "preprocess": timing, "predict": timing, "full_path": timing,
        "model_predict": {"p50_ms": 80.0}, "speedup_vs_model_predict": 200.0, "batch_10k_s": 1.0, "load_s": 0.01,
    }  # fmt: skip
    bench = {"machine": {"cpu": "a CPU", "cores": 2}, "peak_memory_mib": 800, "models": {"old": model}}
    write_json(bench_path(tmp_path), bench)
    assert "| old | onnxruntime | 0.400 ms | 0.400 ms | 0.400 ms | – | 80.0 ms |" in results_table([], tmp_path)
    model["full_path_after_pause"] = {"p50_ms": 1.1, "p95_ms": 1.5, "n": 100}
    write_json(bench_path(tmp_path), bench)
    assert "| 0.400 ms | 1.100 ms | 80.0 ms |" in results_table([], tmp_path)
