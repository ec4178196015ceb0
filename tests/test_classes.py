"""A companion's second opinion: asked only where the model is unsure, "not a digit" left as it is."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib.classes import pooled, unsure_rows, with_second_opinion


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
