"""Regression: the default model on real people's drawings and on letters, through the app's own path.

Fixed subsets (every 10th drawn digit, every 5th letter) keep this fast. The letter bar is the issue's
target (90% rejected), which the model reaches; the digit bars pin what it reaches today, a little below,
so that a worse model or preprocessing cannot land unnoticed: the issue's 98.5% it does not reach yet.
"""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.data import load_drawings
from digitlib.evaluate import evaluate_drawings

# The committed default (quicknet) on these subsets: 95.9% of digits right, 97.9% answered, 93.8% of letters
# rejected; the big institutions 92.2% (ibm) to 99.1% (gmd). (drawnet3, the default before it: 96.2%, 98.4%,
# 93.5%; ibm 92.9% to gmd 100%.)
MIN_DIGIT_ACCURACY = 0.95
MIN_ANSWERED = 0.97
MIN_LETTER_REJECTION = 0.9


def _subset(path, step: int) -> dict[str, np.ndarray]:
    """Every `step`-th sample of a drawn set."""
    return {key: values[::step] for key, values in load_drawings(path).items()}


def test_drawn_digits_stay_right(predictor, shared_data_dir):
    result = evaluate_drawings(predictor.predict, _subset(shared_data_dir / "drawn_dev.npz", 10), predictor.threshold)
    assert result["n"] == 612
    assert result["accuracy"] >= MIN_DIGIT_ACCURACY and result["answered_rate"] >= MIN_ANSWERED
    big = {k: v for k, v in result["per_institution"].items() if v["n"] >= 100}
    assert big and all(v["score"] >= 0.90 for v in big.values()), result["per_institution"]


def test_letters_are_rejected(predictor, shared_data_dir):
    result = evaluate_drawings(predictor.predict, _subset(shared_data_dir / "nondigit_dev.npz", 5), predictor.threshold)
    assert result["n"] == 400 and result["rejection_rate"] >= MIN_LETTER_REJECTION
