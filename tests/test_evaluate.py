"""Metrics against hand-computed oracles, and drawn-canvas evaluation through the app's recipe, with the
model's fold answers and per-fold thresholds on the sets it learnt from."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from digitlib.artifacts import ArtifactError, model_files, write_json
from digitlib.classes import NOT_A_DIGIT, NOT_SURE
from digitlib.evaluate import (
    AS_SHIPPED,
    OUT_OF_INSTITUTION,
    confused_pairs,
    confusion_matrix,
    cross_entropy,
    drawing_answers,
    drawing_scores,
    evaluate_drawings,
    misread_drawings,
    mnist_metrics,
    per_class_scores,
)
from digitlib.preprocess import to_mnist

UNREADABLE = "ceb/Cheng.dat#2"  # marked unreadable in docs/drawn_dev_review.csv


def strokes(seed: int) -> np.ndarray:
    """A 280x280 canvas (255 ink on 0) with a few random pen strokes: a drawing of its own."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((280, 280), np.uint8)
    points = rng.integers(56, 224, size=(4, 2))
    for start, end in itertools.pairwise(points):
        cv2.line(canvas, tuple(map(int, start)), tuple(map(int, end)), 255, 18, lineType=cv2.LINE_AA)
    return canvas


def canvases(count: int, blank: tuple[int, ...] = (), seed: int = 0) -> np.ndarray:
    """`count` different drawings (of seeds from `seed` on), blank at the positions in `blank`."""
    blank_canvas = np.zeros((280, 280), np.uint8)
    return np.stack([blank_canvas if i in blank else strokes(seed + i) for i in range(count)])


def reading(digit: int, p: float, other: float = 0.0) -> np.ndarray:
    """Ten digits' probabilities: `p` for `digit`, `other` left to "not a digit", the rest spread evenly."""
    row = np.full(10, (1.0 - p - other) / 9, np.float32)
    row[digit] = p
    return row


def model_of(images: np.ndarray, rows: list[np.ndarray]):
    """A fake model that knows each drawing: `rows[i]` for the app's 28x28 reading of `images[i]`.

    A blank canvas reads as zeros; a model asked about any other input fails the test.
    """
    known = {}
    for image, row in zip(images, rows):
        field = to_mnist(image)
        known[(np.zeros((28, 28), np.float32) if field is None else field).tobytes()] = row

    def predict(inputs: np.ndarray) -> np.ndarray:
        return np.array([known[field.tobytes()] for field in inputs], np.float32)

    return predict


def never_called(inputs: np.ndarray) -> np.ndarray:
    """A model that must not be asked: the answers come from elsewhere."""
    raise AssertionError("the model was asked, though its fold answers were saved")


# --- MNIST metrics ----------------------------------------------------------------------------------------


def test_confusion_matrix_and_scores_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y_true, y_pred, classes=3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    scores = per_class_scores(cm)
    assert scores[0] == pytest.approx(
        {"digit": 0, "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert scores[1]["precision"] == pytest.approx(0.5) and scores[1]["recall"] == pytest.approx(0.5)
    assert scores[2]["precision"] == pytest.approx(0.5) and scores[2]["recall"] == pytest.approx(1.0)
    assert confused_pairs(cm) == [
        {"true": 0, "predicted": 1, "count": 1},
        {"true": 1, "predicted": 2, "count": 1},
    ]
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


# --- answers and scores on drawings -----------------------------------------------------------------------


def test_drawing_answers_are_a_digit_not_sure_or_not_a_digit_and_a_blank_gets_no_guess():
    probabilities = np.stack([reading(3, 0.9), reading(3, 0.9), reading(7, 0.3, other=0.6), reading(5, 0.99)])
    has_ink = np.array([True, True, True, False])
    answers, guesses = drawing_answers(probabilities, has_ink, np.array([0.5, 0.95, 0.1, 0.5]))
    assert answers.tolist() == [3, NOT_SURE, NOT_A_DIGIT, NOT_SURE]
    assert guesses.tolist() == [3, 3, 7, NOT_SURE], "the best guess ignores the threshold"


def test_drawing_scores_of_digits_by_hand():
    drawings = {
        "name": "mine",
        "labels": np.array([1, 2, 3, 4, 5, 6], np.uint8),
        "institution": np.array(["ibm", "ibm", "val", "val", "val", "aga"]),
        "sample_id": np.array(["a#0", "a#1", "a#2", UNREADABLE, "a#4", "a#5"]),
    }
    answers = np.array([1, NOT_SURE, 3, 7, NOT_A_DIGIT, NOT_SURE])
    guesses = np.array([1, 2, 8, 7, 5, NOT_SURE])  # the last one is blank
    scores = drawing_scores(drawings, answers, guesses)
    assert scores["n"] == 6 and scores["readable_n"] == 5
    assert scores["answered_rate"] == pytest.approx(3 / 6) and scores["accuracy"] == pytest.approx(2 / 6)
    assert scores["accuracy_before_threshold"] == pytest.approx(3 / 6)
    assert scores["readable_accuracy"] == pytest.approx(2 / 5)
    assert scores["readable_answered_rate"] == pytest.approx(2 / 5)
    assert scores["readable_accuracy_before_threshold"] == pytest.approx(3 / 5)
    # The blank canvas has no guess to confuse, and the unreadable 4 read as 7 says nothing of the model.
    assert scores["confused_pairs"] == [{"true": 3, "predicted": 8, "count": 1}]
    assert scores["per_digit"] == {str(d): {"n": 1, "score": float(d in (1, 3))} for d in (1, 2, 3, 5, 6)}
    assert scores["per_institution"] == {
        "aga": {"n": 1, "score": 0.0},
        "ibm": {"n": 2, "score": 0.5},
        "val": {"n": 3, "score": pytest.approx(1 / 3)},
    }
    assert scores["per_institution_readable"]["val"] == {"n": 2, "score": 0.5}, "without the unreadable 4"


def test_drawing_scores_of_letters_count_every_kind_of_rejection():
    letters = {"name": "theirs", "letters": np.array(["A", "A", "x", "K"])}
    scores = drawing_scores(
        letters, np.array([NOT_SURE, 3, NOT_A_DIGIT, NOT_A_DIGIT]), np.array([1, 3, 4, 5])
    )
    assert scores["n"] == 4 and scores["answered_rate"] == 0.25
    assert scores["rejection_rate"] == 0.75 and scores["not_a_digit_rate"] == 0.5
    assert scores["per_letter"] == {
        "A": {"n": 2, "score": 0.5},
        "K": {"n": 1, "score": 1.0},
        "x": {"n": 1, "score": 1.0},
    }


def test_misread_drawings_are_the_wrong_guesses_and_the_letters_answered():
    drawings = {
        "name": "mine",
        "labels": np.array([4, 1, 7, 5]),
        "institution": np.array(["a", "b", "c", "d"]),
    }
    # An unsure answer does not hide a misreading: the best guess is what is shown.
    wrong, captions = misread_drawings(
        drawings, np.array([4, NOT_SURE, 7, NOT_SURE]), np.array([4, 2, 7, NOT_SURE])
    )
    assert wrong.tolist() == [1, 3] and captions == ["1 1->2 b", "3 5->? d"]
    letters = {"name": "theirs", "letters": np.array(["A", "e", "x"])}
    wrong, captions = misread_drawings(letters, np.array([4, NOT_A_DIGIT, 0]), np.array([4, 6, 0]))
    assert wrong.tolist() == [0, 2] and captions == ["0 A->4", "2 x->0"]


# --- evaluating a model on a drawn set --------------------------------------------------------------------


def test_a_set_the_model_never_saw_is_read_through_the_app_recipe_at_the_shipped_threshold(tmp_path):
    images = canvases(4, blank=(3,))
    predict = model_of(images, [reading(1, 0.9), reading(2, 0.6), reading(8, 0.95), reading(5, 0.99)])
    drawings = {
        "name": "mine",
        "images": images,
        "labels": np.array([1, 2, 3, 5]),
        "institution": np.array(["you"] * 4),
    }
    scores, answers, guesses = evaluate_drawings(predict, model_files("tiny", tmp_path), drawings, 0.8)
    assert answers.tolist() == [1, NOT_SURE, 8, NOT_SURE] and guesses.tolist() == [1, 2, 8, NOT_SURE]
    assert scores["measured"] == AS_SHIPPED and scores["threshold"] == 0.8
    assert scores["accuracy"] == 0.25 and scores["accuracy_before_threshold"] == 0.5
    assert scores["per_institution"] == {"you": {"n": 4, "score": 0.25}}


def test_letters_answered_as_digits_are_not_rejected(tmp_path):
    images = canvases(4, blank=(2,))
    rows = [reading(1, 0.9), reading(4, 0.3, other=0.6), reading(7, 0.99), reading(0, 0.5)]
    letters = {"name": "theirs", "images": images, "letters": np.array(["A", "A", "x", "K"])}
    scores, answers, _ = evaluate_drawings(
        model_of(images, rows), model_files("tiny", tmp_path), letters, 0.6
    )
    assert answers.tolist() == [1, NOT_A_DIGIT, NOT_SURE, NOT_SURE]
    assert scores["rejection_rate"] == 0.75 and scores["not_a_digit_rate"] == 0.25
    assert scores["per_letter"] == {
        "A": {"n": 2, "score": 0.5},
        "K": {"n": 1, "score": 1.0},
        "x": {"n": 1, "score": 1.0},
    }


def write_calibration(files, folds: dict[str, float]) -> None:
    """A threshold.json as `calibrate` writes it: from drawn_dev and nondigit_dev, per-fold thresholds."""
    write_json(
        files.threshold,
        {"threshold": 0.5, "digits": "drawn_dev", "nondigits": "nondigit_dev", "folds": folds},
    )


@pytest.mark.parametrize("name", ["drawn_dev", "nondigit_dev"])
def test_a_set_the_threshold_was_calibrated_on_gets_each_folds_own_threshold(tmp_path, name):
    files = model_files("tiny", tmp_path)
    write_calibration(files, {"ibm": 0.95, "val": 0.85, "others": 0.6})
    images = canvases(4)
    predict = model_of(images, [reading(3, 0.9)] * 4)
    institutions = np.array(["ibm", "val", "aga", "ceb"])  # aga and ceb are in the fold of the others
    drawings = {"name": name, "images": images, "labels": np.full(4, 3), "institution": institutions}
    scores, answers, _ = evaluate_drawings(predict, files, drawings, threshold=0.99)
    assert answers.tolist() == [NOT_SURE, 3, 3, 3]
    assert scores["measured"] == OUT_OF_INSTITUTION
    assert scores["threshold"] == {"ibm": 0.95, "val": 0.85, "others": 0.6}


def test_another_set_gets_the_shipped_threshold_even_from_a_calibrated_model(tmp_path):
    files = model_files("tiny", tmp_path)
    write_calibration(files, {"ibm": 0.95, "others": 0.6})
    images = canvases(2)
    drawings = {
        "name": "mine",
        "images": images,
        "labels": np.full(2, 3),
        "institution": np.array(["ibm", "aga"]),
    }
    scores, answers, _ = evaluate_drawings(model_of(images, [reading(3, 0.9)] * 2), files, drawings, 0.99)
    assert answers.tolist() == [NOT_SURE, NOT_SURE]
    assert scores["measured"] == AS_SHIPPED and scores["threshold"] == 0.99


def write_fold_answers(files, name: str, sample_ids: list[str], rows: list[np.ndarray]) -> None:
    """A folds.npz as fine-tuning writes it: each drawing read by the fold model that left it out."""
    np.savez(
        files.folds,
        **{
            f"{name}_probabilities": np.stack(rows),
            f"{name}_sample_id": np.array(sample_ids),
            f"{name}_fold": np.array(["ibm"] * len(rows)),
        },
    )


def test_a_set_the_model_was_trained_on_is_read_by_its_fold_models(tmp_path):
    files = model_files("tiny", tmp_path)
    # Saved in another order than the set's, and for a drawing the set no longer has.
    write_fold_answers(
        files,
        "drawn_dev",
        ["s#2", "gone", "s#0", "s#1"],
        [reading(8, 0.9), reading(0, 1.0), reading(3, 0.95), reading(4, 0.3)],
    )
    drawings = {
        "name": "drawn_dev",
        "images": canvases(3, blank=(2,)),
        "labels": np.array([3, 4, 8]),
        "institution": np.array(["ibm"] * 3),
        "sample_id": np.array(["s#0", "s#1", "s#2"]),
    }
    scores, answers, guesses = evaluate_drawings(never_called, files, drawings, threshold=0.5)
    assert answers.tolist() == [3, NOT_SURE, NOT_SURE], "a blank gets no answer, whatever its fold said"
    assert guesses.tolist() == [3, 4, NOT_SURE]
    assert scores["measured"] == OUT_OF_INSTITUTION and scores["threshold"] == 0.5


def test_fold_answers_missing_a_drawing_of_the_set_ask_for_training_again(tmp_path):
    files = model_files("tiny", tmp_path)
    write_fold_answers(files, "drawn_dev", ["s#0"], [reading(3, 0.95)])
    drawings = {
        "name": "drawn_dev",
        "images": canvases(2),
        "labels": np.array([3, 4]),
        "sample_id": np.array(["s#0", "s#1"]),
    }
    with pytest.raises(ArtifactError, match="train the model again"):
        evaluate_drawings(never_called, files, drawings, threshold=0.5)


def test_fold_answers_of_another_set_are_not_used(tmp_path):
    files = model_files("tiny", tmp_path)
    write_fold_answers(files, "drawn_dev", ["s#0"], [reading(3, 0.95)])
    images = canvases(1)
    drawings = {"name": "mine", "images": images, "labels": np.array([7]), "sample_id": np.array(["s#0"])}
    scores, answers, _ = evaluate_drawings(model_of(images, [reading(7, 0.9)]), files, drawings, 0.5)
    assert answers.tolist() == [7] and scores["measured"] == AS_SHIPPED
