"""The "not sure" threshold against hand-computed oracles: the shipped one and one per fold of institutions,
each chosen without the drawings of its fold."""

from __future__ import annotations

import numpy as np
import pytest
from test_evaluate import UNREADABLE, canvases, model_of, never_called, reading

from digitlib.artifacts import model_files
from digitlib.calibrate import calibrate, choose_threshold
from digitlib.classes import answer_confidence, decide


def test_choose_threshold_rejects_enough_letters_and_answers_the_most_digits():
    digits = np.array([0.99, 0.98, 0.97, 0.9, 0.5])
    letters = np.array([0.95, 0.6, 0.4, 0.3])
    # Rejecting 3 of 4 letters takes a threshold just above 0.6; it still answers 4 of 5 digits.
    chosen = choose_threshold(digits, letters, min_answered=0.8, min_rejected=0.75)
    assert 0.6 < chosen["threshold"] < 0.6 + 1e-9
    assert chosen["digits_answered_rate"] == 0.8 and chosen["nondigits_rejection_rate"] == 0.75
    # Fewer letters to reject would allow just above 0.4, but a digit below a majority is "not sure".
    chosen = choose_threshold(digits, letters, min_answered=0.8, min_rejected=0.5)
    assert chosen["threshold"] == 0.5 and chosen["digits_answered_rate"] == 1.0
    assert chosen["nondigits_rejection_rate"] == 0.5
    assert choose_threshold(digits, letters, min_answered=0.8, min_rejected=0.0)["threshold"] == 0.5
    # 7% of 100 letters is 7 of them, though 0.07 * 100 is a hair above 7 in floating point.
    many = np.linspace(0.51, 0.99, 100)
    chosen = choose_threshold(np.ones(10), many, min_answered=1.0, min_rejected=0.07)
    assert chosen["nondigits_rejection_rate"] == pytest.approx(0.07)


def test_the_rates_of_a_chosen_threshold_are_what_the_app_answers():
    # Rows of an 11-class softmax: ten digits and a "not a digit" share, some plausible, some not.
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 3, (2, 400, 11))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    digits, letters = softmax[0, :, :10], softmax[1, :, :10]
    chosen = choose_threshold(answer_confidence(digits), answer_confidence(letters), 0.6, 0.9)
    assert chosen["digits_answered_rate"] == (decide(digits, chosen["threshold"]) >= 0).mean()
    assert chosen["nondigits_rejection_rate"] == (decide(letters, chosen["threshold"]) < 0).mean()


def test_choose_threshold_keeps_the_answered_rate_when_the_letters_ask_for_more():
    digits = np.array([0.99, 0.98, 0.97, 0.9, 0.5])
    letters = np.array([0.95, 0.6, 0.4, 0.3])
    chosen = choose_threshold(digits, letters, min_answered=0.8, min_rejected=1.0)
    assert chosen["threshold"] == 0.9  # the highest that answers 4 of 5 digits; rejecting all would take 0.95
    assert chosen["digits_answered_rate"] == 0.8 and chosen["nondigits_rejection_rate"] == 0.75
    assert choose_threshold(digits, letters, min_answered=1.0, min_rejected=1.0)["threshold"] == 0.5


def test_the_majority_floor_gives_way_to_answering_enough_digits():
    digits, letters = np.array([0.45, 0.42, 0.9, 0.95]), np.array([0.2, 0.1])
    # Every digit answered takes 0.42 at most, below a majority.
    chosen = choose_threshold(digits, letters, min_answered=1.0, min_rejected=1.0)
    assert chosen["threshold"] == pytest.approx(0.42) and chosen["digits_answered_rate"] == 1.0
    assert choose_threshold(digits, letters, min_answered=0.5, min_rejected=1.0)["threshold"] == 0.5


def test_a_drawing_of_confidence_0_is_never_answered_even_at_threshold_0():
    """Confidence 0 means "not a digit" is at least as likely as the best digit."""
    digits, letters = np.array([0.99, 0.9, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 0.5])
    chosen = choose_threshold(digits, letters, min_answered=0.5, min_rejected=0.0)
    assert chosen["threshold"] == 0.5
    assert chosen["digits_answered_rate"] == 0.5 and chosen["nondigits_rejection_rate"] == 0.75
    # No threshold answers 3 of 4 digits: the highest that answers the most is 0.
    chosen = choose_threshold(digits, letters, min_answered=0.75, min_rejected=1.0)
    assert chosen["threshold"] == 0.0 and chosen["digits_answered_rate"] == 0.5


# Per drawing: its institution, sample id and what the model reads (a digit with its probability, or a
# digit of probability 0.3 beside 0.6 left to "not a digit": confidence 0). Folds: ibm, val and the others.
DIGITS = [
    ("ibm", "d#0", reading(1, 0.99)),
    ("ibm", "d#1", reading(2, 0.95)),
    ("val", "d#2", reading(3, 0.9)),
    ("val", "d#3", reading(4, 0.6)),
    ("aga", "d#4", reading(5, 0.97)),
    ("aga", "d#5", reading(6, 0.8)),
    ("ceb", "d#6", reading(7, 0.3, other=0.6)),
    ("ceb", UNREADABLE, reading(8, 0.25)),  # left out: the review marks it unreadable
    ("val", "d#8", reading(9, 0.21)),  # left out: blank
]
LETTERS = [
    ("ibm", "l#0", reading(1, 0.7)),
    ("ibm", "l#1", reading(2, 0.3)),
    ("val", "l#2", reading(3, 0.85)),
    ("val", "l#3", reading(4, 0.3, other=0.6)),
    ("aga", "l#4", reading(5, 0.45)),
    ("ceb", "l#5", reading(6, 0.65)),
]
# What the fold models would read: the confidences of the readable digits and of the letters, per fold.
DIGIT_CONFIDENCE = {"ibm": [0.99, 0.95], "val": [0.9, 0.6], "others": [0.97, 0.8, 0.0]}
LETTER_CONFIDENCE = {"ibm": [0.7, 0.3], "val": [0.85, 0.0], "others": [0.45, 0.65]}


def drawn_sets() -> tuple[dict, dict]:
    """drawn_dev and nondigit_dev, from DIGITS (the last one blank) and LETTERS."""
    digits = {
        "name": "drawn_dev",
        "images": canvases(len(DIGITS), blank=(len(DIGITS) - 1,)),
        "labels": np.arange(1, len(DIGITS) + 1) % 10,
        "institution": np.array([institution for institution, _, _ in DIGITS]),
        "sample_id": np.array([sample for _, sample, _ in DIGITS]),
    }
    letters = {
        "name": "nondigit_dev",
        "images": canvases(len(LETTERS), seed=len(DIGITS)),
        "letters": np.array(list("AbCdEf")),
        "institution": np.array([institution for institution, _, _ in LETTERS]),
        "sample_id": np.array([sample for _, sample, _ in LETTERS]),
    }
    return digits, letters


def confidences(by_fold: dict[str, list[float]], left_out: str | None = None) -> np.ndarray:
    """The confidences of every fold but `left_out`, as float32 like the model's."""
    return np.array([c for fold, values in by_fold.items() if fold != left_out for c in values], np.float32)


def test_calibrate_chooses_each_folds_threshold_without_its_drawings(tmp_path):
    digits, letters = drawn_sets()
    rows = [row for _, _, row in DIGITS + LETTERS]
    predict = model_of(np.concatenate([digits["images"], letters["images"]]), rows)
    calibration = calibrate(predict, model_files("tiny", tmp_path), digits, letters, 0.7, 0.6)

    shipped = choose_threshold(confidences(DIGIT_CONFIDENCE), confidences(LETTER_CONFIDENCE), 0.7, 0.6)
    assert {k: calibration[k] for k in shipped} == shipped
    folds = {
        fold: choose_threshold(
            confidences(DIGIT_CONFIDENCE, fold), confidences(LETTER_CONFIDENCE, fold), 0.7, 0.6
        )
        for fold in ("ibm", "val", "others")
    }
    assert calibration["folds"] == {fold: chosen["threshold"] for fold, chosen in folds.items()}
    # Leaving out ibm or the others changes the threshold (just above 0.65 from every drawing).
    assert calibration["folds"]["ibm"] == pytest.approx(0.6) and calibration["folds"]["others"] >= np.float32(
        0.7
    )
    assert 0.65 < calibration["threshold"] < 0.7
    assert (calibration["digits_n"], calibration["nondigits_n"]) == (7, 6)
    assert (calibration["digits"], calibration["nondigits"]) == ("drawn_dev", "nondigit_dev")
    assert (calibration["min_answered"], calibration["min_rejected"]) == (0.7, 0.6)


def test_calibrate_reads_the_sets_the_model_was_trained_on_through_its_fold_models(tmp_path):
    files = model_files("tiny", tmp_path)
    digits, letters = drawn_sets()
    np.savez(
        files.folds,
        **{
            f"{drawn['name']}_{key}": values
            for drawn, table in ((digits, DIGITS), (letters, LETTERS))
            for key, values in (
                ("probabilities", np.stack([row for *_, row in table])),
                ("sample_id", drawn["sample_id"]),
                ("fold", drawn["institution"]),
            )
        },
    )
    calibration = calibrate(never_called, files, digits, letters, 0.7, 0.6)
    shipped = choose_threshold(confidences(DIGIT_CONFIDENCE), confidences(LETTER_CONFIDENCE), 0.7, 0.6)
    assert calibration["threshold"] == shipped["threshold"] and calibration["digits_n"] == 7
