"""The ten digit classes and what the app answers from their probabilities, without TensorFlow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from digitlib.registry import Companion

NUM_CLASSES = 10
NOT_SURE = -1
NOT_A_DIGIT = -2
# A best digit this unlikely is no reading at all, even for a model without a "not a digit" class.
PLAUSIBLE = 0.2
# A companion's probabilities are floored here before pooling (see `pooled`).
COMPANION_FLOOR = 1e-7


def not_a_digit_probability(probabilities: np.ndarray) -> np.ndarray:
    """The probability left to "not a digit": the ten digits of an 11-class softmax sum to less than 1."""
    return np.clip(1.0 - np.atleast_2d(probabilities).sum(axis=1), 0.0, 1.0)


def answer_confidence(probabilities: np.ndarray) -> np.ndarray:
    """Per row: the top digit's probability, or 0 where no digit is a reading at all.

    That is where "not a digit" is at least as likely as the top digit, or no digit is plausible.
    """
    probabilities = np.atleast_2d(probabilities)
    top = probabilities.max(axis=1)
    return np.where((not_a_digit_probability(probabilities) >= top) | (top < PLAUSIBLE), 0.0, top)


def unsure_rows(probabilities: np.ndarray, asked_below: float) -> list[int]:
    """The rows whose answer, a digit or "not a digit" (all the digits leave of 1), is below `asked_below`."""
    # Plain Python: it runs on every stroke, and each NumPy call there costs more than this whole loop.
    rows = np.atleast_2d(probabilities).tolist()
    return [i for i, row in enumerate(rows) if max(row) < asked_below and sum(row) > 1 - asked_below]


def pooled(probabilities: np.ndarray, companion: np.ndarray, weight: float) -> np.ndarray:
    """A model's digit probabilities pooled with a companion's ten, as a weighted geometric mean.

    The digits share what the model leaves them, as softmax((1 - weight) log p + weight log q); "not a
    digit" keeps the model's probability. Floored at COMPANION_FLOOR, the companion alone cannot veto a
    digit the model gives 99%: at a weight of 0.2, 0.8 log 99 outweighs 0.2 log 10^7.
    """
    probabilities, companion = np.atleast_2d(probabilities), np.atleast_2d(companion)
    logits = (1 - weight) * np.log(np.maximum(probabilities, COMPANION_FLOOR)) + weight * np.log(
        np.maximum(companion, COMPANION_FLOOR)
    )
    digits = np.exp(logits - logits.max(axis=1, keepdims=True))
    share = probabilities.sum(axis=1, keepdims=True)
    return (digits * (share / digits.sum(axis=1, keepdims=True))).astype(probabilities.dtype)


def pooled_with_not_a_digit(probabilities: np.ndarray, opinion: np.ndarray, weight: float) -> np.ndarray:
    """A model's digit probabilities pooled with an opinion on all eleven classes, "not a digit" included.

    The weighted geometric mean of the two, softmax((1 - weight) log p + weight log q) over the digits and
    what they leave; the opinion is floored at COMPANION_FLOOR, as in `pooled`.
    """
    probabilities = np.atleast_2d(probabilities)
    eleven = np.concatenate([probabilities, not_a_digit_probability(probabilities)[:, None]], axis=1)
    logits = (1 - weight) * np.log(np.maximum(eleven, COMPANION_FLOOR)) + weight * np.log(
        np.maximum(np.atleast_2d(opinion), COMPANION_FLOOR)
    )
    both = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (both[:, :NUM_CLASSES] / both.sum(axis=1, keepdims=True)).astype(probabilities.dtype)


def with_second_opinion(
    probabilities: np.ndarray,
    opinion: Callable[[list[int]], np.ndarray],
    weight: float,
    asked_below: float,
    pool: Callable[[np.ndarray, np.ndarray, float], np.ndarray] = pooled,
) -> np.ndarray:
    """Each row pooled with a companion's where the model is unsure (see unsure_rows), else kept.

    `opinion` gives the companion's probabilities of the rows it is asked about, and only of those;
    `pool` says how they meet the model's.
    """
    asked = unsure_rows(probabilities, asked_below)
    if not asked:
        return probabilities
    answers = np.array(probabilities, ndmin=2)
    answers[asked] = pool(answers[asked], opinion(asked), weight)
    return answers


def with_companions(
    probabilities: np.ndarray,
    settings: Companion,
    companion: Callable[[list[int]], np.ndarray],
    drawn: Callable[[list[int]], np.ndarray] | None = None,
) -> np.ndarray:
    """A model's probabilities as the app answers them, its companions asked in turn where it is unsure.

    The companion is asked where the model is unsure, then the drawn companion (if given) where the answer
    still is; each gives its probabilities of the rows it is asked about.
    """
    answers = with_second_opinion(probabilities, companion, settings.weight, settings.asked_below)
    if drawn is None:
        return answers
    return with_second_opinion(
        answers, drawn, settings.drawn_weight, settings.asked_below, pooled_with_not_a_digit
    )


def answered(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Which rows get a digit: those whose answer confidence is a reading at all and reaches `threshold`."""
    return (confidence > 0) & (confidence >= threshold)


def decide(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Per row: the top digit; NOT_A_DIGIT if no digit is a reading, NOT_SURE if none reaches `threshold`."""
    probabilities = np.atleast_2d(probabilities)
    confidence = answer_confidence(probabilities)
    return np.where(
        answered(confidence, threshold),
        probabilities.argmax(axis=1),
        np.where(confidence == 0, NOT_A_DIGIT, NOT_SURE),
    )


def answer_text(answer: int) -> str:
    """An answer in words: the digit, "not sure" or "not a digit"."""
    return {NOT_SURE: "not sure", NOT_A_DIGIT: "not a digit"}.get(int(answer), str(answer))


def with_article(digit: int) -> str:
    """A digit with its indefinite article, as in "an 8" or "a 7"."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


@dataclass(frozen=True)
class Answer:
    """What the app says about one drawing."""

    probabilities: np.ndarray  # (10,) float32
    threshold: float

    @property
    def verdict(self) -> int:
        """The digit answered, NOT_SURE or NOT_A_DIGIT."""
        return int(decide(self.probabilities, self.threshold)[0])

    @property
    def digit(self) -> int:
        """The most likely digit, whatever its confidence."""
        return int(self.probabilities.argmax())

    @property
    def confidence(self) -> float:
        """The most likely digit's probability."""
        return float(self.probabilities.max())

    @property
    def sure(self) -> bool:
        """Whether the answer is a digit, neither "not sure" nor "not a digit"."""
        return self.verdict >= 0

    @property
    def not_a_digit(self) -> bool:
        """Whether the answer is "not a digit"."""
        return self.verdict == NOT_A_DIGIT

    @property
    def other(self) -> float:
        """The probability of "not a digit"."""
        return float(not_a_digit_probability(self.probabilities)[0])

    @property
    def probability_of_verdict(self) -> float:
        """The probability of what is said: of "not a digit" when that is said, else of the top digit."""
        return self.other if self.not_a_digit else self.confidence

    @property
    def top_two(self) -> list[tuple[int, float]]:
        """The two most likely digits with their probabilities."""
        order = np.argsort(self.probabilities)[::-1][:2]
        return [(int(d), float(self.probabilities[d])) for d in order]
