"""The "not sure" threshold: the top-digit probability below which the app does not answer.

It is chosen on drawn digits and letters: the lowest threshold, but no lower than a majority, that rejects
`min_rejected` of the letters, provided it still answers `min_answered` of the readable digits; else the
highest that answers them. A drawing whose "not a digit" is at least as likely as its best digit is
rejected whatever the threshold.
Besides the shipped threshold (from every drawing), each fold of institutions gets one chosen on the
other folds alone, so that no figure on a drawing comes from a threshold fitted on its institution.
"""

from __future__ import annotations

import numpy as np

from digitlib.artifacts import ModelFiles
from digitlib.classes import answer_confidence, answered
from digitlib.data import fold_names, unreadable
from digitlib.evaluate import PredictFn, drawing_probabilities

MIN_ANSWERED = 0.993
MIN_REJECTED = 0.96
# Below half, another digit (or none) is as likely as the best one: "not sure" is the honest answer, even
# where a "not a digit" class already rejects enough letters at a lower threshold.
MAJORITY = 0.5


def choose_threshold(
    digit_confidence: np.ndarray, nondigit_confidence: np.ndarray, min_answered: float, min_rejected: float
) -> dict:
    """Lowest threshold rejecting `min_rejected` of non-digits, capped to answer `min_answered` of digits."""
    candidates = np.unique(np.concatenate([digit_confidence, [0.0]]))
    rates = np.array([answered(digit_confidence, t).mean() for t in candidates])
    highest = float(candidates[rates >= min_answered].max(initial=0.0))
    # A threshold just above the k-th least confident non-digit rejects the k least confident ones.
    k = int(np.ceil(round(min_rejected * len(nondigit_confidence), 9)))  # 0.07 * 100 is 7.000000000000001
    kth = np.sort(nondigit_confidence)[k - 1] if k else 0.0
    # A confidence of 0 is rejected at any threshold.
    lowest = float(np.nextafter(kth, np.inf)) if kth > 0 else 0.0
    threshold = min(highest, max(lowest, MAJORITY))
    return {
        "threshold": threshold,
        "digits_answered_rate": float(answered(digit_confidence, threshold).mean()),
        "nondigits_rejection_rate": float((~answered(nondigit_confidence, threshold)).mean()),
    }


def calibrate(
    predict: PredictFn,
    files: ModelFiles,
    digits: dict,
    letters: dict,
    min_answered: float = MIN_ANSWERED,
    min_rejected: float = MIN_REJECTED,
) -> dict:
    """Shipped and per-fold thresholds from readable digits and letters (out of fold if trained on them)."""
    for drawings in (digits, letters):
        missing = {"institution", "sample_id"} - set(drawings)
        if missing:
            raise ValueError(f"{drawings['name']} has no {' or '.join(sorted(missing))}: folds need both")
    digit_probabilities, digit_ink, _ = drawing_probabilities(predict, files, digits)
    letter_probabilities, _, _ = drawing_probabilities(predict, files, letters)
    readable = digit_ink & ~unreadable(digits["sample_id"])
    digit_confidence = answer_confidence(digit_probabilities)[readable]
    letter_confidence = answer_confidence(letter_probabilities)
    digit_folds, letter_folds = (
        fold_names(digits["institution"])[readable],
        fold_names(letters["institution"]),
    )
    chosen = choose_threshold(digit_confidence, letter_confidence, min_answered, min_rejected)
    folds = {
        str(fold): choose_threshold(
            digit_confidence[digit_folds != fold],
            letter_confidence[letter_folds != fold],
            min_answered,
            min_rejected,
        )["threshold"]
        for fold in np.unique(np.concatenate([digit_folds, letter_folds]))
    }
    return {
        **chosen,
        "min_answered": min_answered,
        "min_rejected": min_rejected,
        "digits": digits["name"],
        "nondigits": letters["name"],
        "digits_n": int(readable.sum()),
        "nondigits_n": len(letter_confidence),
        "folds": folds,
    }
