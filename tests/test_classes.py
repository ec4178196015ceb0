"""A companion's second opinion: asked only where the model is unsure; "not a digit" is left as it is,
unless the companion learnt it too."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.classes import (
    NOT_A_DIGIT,
    decide,
    pooled,
    pooled_with_not_a_digit,
    unsure_rows,
    with_second_opinion,
)


def test_the_opinion_is_asked_where_neither_a_digit_nor_not_a_digit_reaches_the_bar():
    rows = np.array(
        [
            [0.995] + [0.0005] * 9,  # a digit at 99.5%
            [0.9] + [0.01] * 9,  # a digit at 90%
            [0.0005] * 10,  # "not a digit" at 99.5%
            [0.05] * 10,  # "not a digit" at 50%
        ]
    )
    assert unsure_rows(rows, 0.99) == [1, 3]


def test_pooling_is_a_weighted_geometric_mean_of_the_digits_that_keeps_not_a_digit():
    model = np.array([[0.6, 0.2, 0.1] + [0.0] * 7])  # "not a digit" has the remaining 0.1
    companion = np.array([[0.1, 0.8, 0.1] + [0.0] * 7])
    both = pooled(model, companion, 0.5)
    assert both.sum() == pytest.approx(0.9), '"not a digit" keeps its 0.1'
    # sqrt(0.6 * 0.1) = 0.245 against sqrt(0.2 * 0.8) = 0.4: the companion's digit wins at equal weights.
    assert both[0, :3] / both[0, :3].sum() == pytest.approx(np.array([0.245, 0.4, 0.1]) / 0.745, abs=1e-3)
    assert np.allclose(pooled(model, companion, 0.0), model, atol=1e-6)


def test_a_companion_sure_of_another_digit_cannot_veto_one_the_model_gives_99_percent():
    model = np.array([[0.99] + [0.01 / 9] * 9])
    companion = np.array([[0.0] + [1.0] + [0.0] * 8])
    assert pooled(model, companion, 0.2).argmax() == 0
    assert pooled(model, companion, 0.3).argmax() == 1, "a larger weight could"


def test_only_the_unsure_rows_change():
    model = np.array([[0.995] + [0.0005] * 9, [0.5, 0.4] + [0.01] * 8])
    companion = np.array([[0.0, 1.0] + [0.0] * 8] * 2)
    asked = []

    def opinion(rows: list[int]) -> np.ndarray:
        asked.append(rows)
        return companion[rows]

    answers = with_second_opinion(model, opinion, 0.2, 0.99)
    assert asked == [[1]], "the companion is asked about the unsure row alone"
    assert np.array_equal(answers[0], model[0])
    assert answers[1].argmax() == 1 and answers[1].sum() == pytest.approx(model[1].sum())


def test_an_opinion_on_eleven_classes_pools_not_a_digit_too():
    model = np.array([[0.6, 0.2] + [0.0] * 8])  # "not a digit" has the remaining 0.2
    opinion = np.array([[0.1, 0.1] + [0.0] * 8 + [0.8]])
    both = pooled_with_not_a_digit(model, opinion, 0.5)
    # sqrt(0.6 * 0.1) = 0.245, sqrt(0.2 * 0.1) = 0.141, sqrt(0.2 * 0.8) = 0.4: "not a digit" now wins.
    expected = np.array([0.245, 0.141, 0.4]) / 0.786
    assert both[0, :2] == pytest.approx(expected[:2], abs=1e-3)
    assert 1 - both.sum() == pytest.approx(expected[2], abs=1e-3)
    assert decide(both, 0.5)[0] == NOT_A_DIGIT and decide(model, 0.5)[0] == 0
    assert np.allclose(pooled_with_not_a_digit(model, opinion, 0.0), model, atol=1e-6)


def test_an_opinion_sure_it_is_no_digit_cannot_veto_one_the_model_gives_99_percent():
    model = np.array([[0.99] + [0.0] * 9])  # the most "not a digit" can have beside it: 0.01
    opinion = np.array([[0.0] * 10 + [1.0]])
    assert decide(pooled_with_not_a_digit(model, opinion, 0.2), 0.5)[0] == 0
    assert decide(pooled_with_not_a_digit(model, opinion, 0.3), 0.5)[0] == NOT_A_DIGIT, (
        "a larger weight could"
    )
