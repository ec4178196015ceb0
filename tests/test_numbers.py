"""Reading numbers: splitting a drawing into digits, checked on known drawings and on numbers composed from drawn_dev."""

from __future__ import annotations

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, compose_number, ink_crop
from digitlib import numbers
from digitlib.classes import NOT_SURE, confident_digits
from digitlib.numbers import TOUCHING_WIDTH, cut_columns, read_number, split_digits
from digitlib.preprocess import mnist_stages

NUMBERS = 200
DIGITS_PER_NUMBER = 4
DIGIT_HEIGHT = 160
# Measured with the committed default model (quicknet): 82.0% of these numbers fully right, exactly those whose
# four digits are all right when read alone; 95.25% of their digits right, in numbers and alone ("not sure" counts
# as wrong). The target, 95% of numbers, needs about 98.7% per digit: the model's accuracy, not
# segmentation, is what is missing. 9 of these 200 numbers hold a drawing that docs/drawn_dev_review.csv calls
# unreadable as its label (one stroke of a 4, a lone loop of an 8), so no model can read more than 95.5% of them.
PINNED_NUMBER_ACCURACY = 0.76
# Numbers whose neighbours overlap by up to 12% of a digit's height, so that most touch: measured with quicknet,
# 35.0% fully right with cuts, 11.0% by pieces of ink alone (a number needs every cut right). At the threshold
# calibrated before, drawnet3 read 35.5% before cuts had to leave a digit-tall piece in each half and 24.0% when
# only pieces the model was unsure of were cut.
TOUCHING_GAPS = (-0.12, 0.0)
PINNED_TOUCHING_ACCURACY = 0.3


class FakeModel:
    """A model that answers digit `i % 10` for the i-th image and counts its calls."""

    threshold = 0.5

    def __init__(self, confidence: float = 0.9):
        self.calls, self.confidence = [], confidence

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        probabilities = np.full((len(images), 10), (1 - self.confidence) / 9, np.float32)
        probabilities[np.arange(len(images)), np.arange(len(images)) % 10] = self.confidence
        return probabilities


def strokes(lines: list[tuple[int, int, int, int]], width: int = 280, thickness: int = 14) -> np.ndarray:
    """A white-on-black canvas with anti-aliased lines (x0, y0, x1, y1) drawn on it."""
    canvas = np.zeros((280, width), np.uint8)
    for x0, y0, x1, y1 in lines:
        cv2.line(canvas, (x0, y0), (x1, y1), 255, thickness, cv2.LINE_AA)
    return canvas


def pieces(canvas: np.ndarray) -> int:
    """The number of connected pieces of ink, so a test knows its drawing really is broken."""
    return cv2.connectedComponents((canvas > 40).astype(np.uint8))[0] - 1


def ink_box(canvas: np.ndarray) -> tuple[int, int, int, int]:
    """Oracle: the bounding box of all ink above the recipe's threshold."""
    return cv2.boundingRect((canvas > 40).astype(np.uint8))


def test_numbers_and_photo_import_without_tensorflow():
    script = "import sys, digitlib.numbers, digitlib.photo; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- known drawings ---------------------------------------------------------------------------------------


def test_a_blank_drawing_has_no_digits_and_asks_the_model_nothing():
    model = FakeModel()
    assert split_digits(np.zeros((280, 560), np.uint8)) == []
    reading = read_number(model, np.zeros((280, 560, 4), np.uint8))
    assert reading.digits == [] and reading.text == "" and reading.answers == [] and model.calls == []


def test_a_broken_four_stays_one_digit():
    # An L and a bar drawn in two pieces, the bar stopping short of the L's arm.
    four = strokes([(120, 40, 60, 160), (60, 160, 150, 160), (165, 40, 165, 140), (165, 180, 165, 250)])
    assert pieces(four) == 3
    (digit,) = split_digits(four)
    assert digit.bbox == ink_box(four)


def test_a_four_drawn_as_an_l_beside_a_bar_stays_one_digit():
    four = strokes([(90, 40, 90, 150), (90, 150, 150, 150), (168, 40, 168, 250)])
    assert pieces(four) == 2
    (digit,) = split_digits(four)
    assert digit.bbox == ink_box(four)


def test_a_seven_with_a_crossbar_stays_one_digit():
    seven = strokes([(70, 40, 200, 40), (200, 40, 110, 250), (95, 145, 133, 145)])
    assert pieces(seven) == 2
    (digit,) = split_digits(seven)
    assert digit.bbox == ink_box(seven)


def test_a_five_with_its_flag_apart_stays_one_digit():
    five = strokes([(100, 50, 95, 130), (95, 130, 170, 150), (170, 150, 150, 240), (150, 240, 80, 230), (125, 40, 190, 40)])
    assert pieces(five) == 2
    (digit,) = split_digits(five)
    assert digit.bbox == ink_box(five)


def test_specks_are_not_digits():
    one = strokes([(140, 40, 140, 240)])
    speck = strokes([(40, 250, 41, 250)], thickness=3)
    (digit,) = split_digits(np.maximum(one, speck))
    assert digit.bbox == ink_box(one)


def test_digits_far_apart_come_left_to_right_each_with_its_own_ink(drawn):
    ones, twos = np.flatnonzero(drawn["labels"] == 1), np.flatnonzero(drawn["labels"] == 2)
    one, two = ink_crop(drawn["images"][ones[0]], 160), ink_crop(drawn["images"][twos[0]], 160)
    canvas = np.zeros((280, 700), np.uint8)
    canvas[60:220, 500 : 500 + two.shape[1]] = two  # the 2 is put down first, on the right
    canvas[60:220, 40 : 40 + one.shape[1]] = one
    first, second = split_digits(canvas)
    assert first.bbox[0] < 100 < 400 < second.bbox[0], "left to right, with the wide gap between them"
    for digit, crop in ((first, one), (second, two)):
        x, y, w, h = digit.bbox
        assert digit.stages.ink[:, : x].max() <= 40 and digit.stages.ink[:, x + w :].max() <= 40, "only its own ink"
        alone = mnist_stages(crop)
        assert np.abs(digit.image - alone.centered).max() < 0.02, "the same 28x28 input as the digit drawn alone"


def test_read_number_reads_every_digit_in_one_call(drawn):
    crops = [ink_crop(drawn["images"][i], DIGIT_HEIGHT) for i in range(3)]
    model = FakeModel()
    reading = read_number(model, compose_number(crops, np.random.default_rng(0)))
    assert model.calls == [3], "one batched call"
    assert reading.answers == [0, 1, 2] and reading.text == "012"
    assert reading.confidences == pytest.approx([0.9] * 3)


def test_an_unsure_digit_reads_as_a_question_mark(drawn):
    crops = [ink_crop(drawn["images"][i], DIGIT_HEIGHT) for i in range(2)]
    reading = read_number(FakeModel(confidence=0.3), compose_number(crops, np.random.default_rng(0)))
    assert reading.answers == [NOT_SURE, NOT_SURE] and reading.text == "??"


def test_touching_digits_are_one_piece_of_ink(drawn):
    """Splitting by ink alone keeps touching digits together; read_number cuts them with the model (below)."""
    one, two = (ink_crop(drawn["images"][np.flatnonzero(drawn["labels"] == d)[0]], 160) for d in (1, 2))
    canvas = np.zeros((280, 560), np.uint8)
    canvas[60:220, 100 : 100 + one.shape[1]] = one
    left = 100 + one.shape[1] + 20
    canvas[60:220, left : left + two.shape[1]] = two
    cv2.line(canvas, (100, 140), (left + 10, 140), 255, 12)  # joined by a stroke, as in running handwriting
    assert pieces(canvas) == 1
    (digit,) = split_digits(canvas)
    assert digit.bbox == ink_box(canvas)


class WholeThenCuts(FakeModel):
    """A model with one confidence in its first call (the pieces of ink) and another in later ones (the cuts)."""

    def __init__(self, whole: float = 0.3, cuts: float = 0.9):
        super().__init__(whole)
        self.whole, self.cuts = whole, cuts

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.confidence = self.whole if not self.calls else self.cuts
        return super().predict(images)


def two_ones_joined(width: int) -> np.ndarray:
    """Two upright strokes `width` px apart joined by a bar across their middle: one piece of ink, an "H"."""
    return strokes([(100, 80, 100, 200), (100 + width, 80, 100 + width, 200), (100, 140, 100 + width, 140)])


def test_a_wide_piece_the_model_cannot_read_is_cut_where_its_halves_read_best():
    drawing = two_ones_joined(140)
    x, y, w, h = ink_box(drawing)
    assert pieces(drawing) == 1 and w >= TOUCHING_WIDTH * h
    model = WholeThenCuts()
    reading = read_number(model, drawing)
    assert model.calls == [1, 2 * len(cut_columns(drawing, (x, y, w, h)))], "one call for the piece, one for all its cuts"
    left, right = (digit.bbox for digit in reading.digits)
    assert x <= left[0] and left[0] + left[2] <= right[0] and right[0] + right[2] <= x + w, "side by side, within the piece"
    assert len(reading.text) == 2 and NOT_SURE not in reading.answers


def test_a_piece_is_cut_only_when_wide_and_its_halves_read_surer_than_it():
    wide, narrow = two_ones_joined(140), two_ones_joined(60)
    tries = 2 * len(cut_columns(wide, ink_box(wide)))
    unsure = WholeThenCuts()
    assert len(read_number(unsure, narrow).digits) == 1 and unsure.calls == [1], "as narrow as one digit: no cut tried"
    halves_unsure = FakeModel(confidence=0.3)
    reading = read_number(halves_unsure, wide)
    assert len(reading.digits) == 1 and reading.text == "?", "no cut whose halves are both sure: the piece stays"
    # Read as one sure digit (doubt 0.1), the piece is cut only if each half leaves at most 30% of that doubt.
    as_sure = WholeThenCuts(whole=0.9, cuts=0.9)
    assert len(read_number(as_sure, wide).digits) == 1 and as_sure.calls == [1, tries], "cuts tried, none surer: kept"
    a_bit_surer = WholeThenCuts(whole=0.9, cuts=0.96)
    assert len(read_number(a_bit_surer, wide).digits) == 1, "halves with 40% of the whole's doubt: kept"
    much_surer = WholeThenCuts(whole=0.9, cuts=0.98)
    assert len(read_number(much_surer, wide).digits) == 2, "halves with 20% of the whole's doubt: cut"


def test_a_wide_digit_is_not_cut_where_a_half_holds_only_fragments_of_ink():
    # A wide 7: cut left of its stem, the left half is a stub of the bar, which merge_fragments would join back.
    seven = strokes([(40, 60, 300, 60), (300, 60, 190, 230)], width=560)
    x, y, w, h = ink_box(seven)
    assert pieces(seven) == 1 and w >= TOUCHING_WIDTH * h
    model = WholeThenCuts(whole=0.9, cuts=0.999)
    reading = read_number(model, seven)
    assert len(reading.digits) == 1 and reading.digits[0].bbox == (x, y, w, h), "however sure the model is of the halves"
    # Touching digits still get cut: each half of two ones joined by a bar has a whole stroke.
    assert len(read_number(WholeThenCuts(whole=0.9, cuts=0.999), two_ones_joined(140)).digits) == 2


def test_real_digits_drawn_alone_are_one_digit(drawn):
    """Pieces of real digits (broken 4s and 5s, crossed 7s) are put back together, drawn_dev digit by digit."""
    counts = np.array([len(split_digits(image)) for image in drawn["images"]])
    assert (counts >= 1).all()
    assert (counts == 1).mean() >= 0.998, f"split: {np.flatnonzero(counts > 1).tolist()}"


# --- numbers composed from drawn_dev ----------------------------------------------------------------------


def test_four_digit_numbers_lose_nothing_to_segmentation(drawn, predictor):
    unreadable = {int(r["row"]) for r in csv.DictReader((ROOT / "docs" / "drawn_dev_review.csv").open()) if r["verdict"] == "unreadable"}
    rng = np.random.default_rng(2026)
    numbers_right = alone_all_right = with_unreadable = 0
    digits_right = digits_right_alone = 0
    for _ in range(NUMBERS):
        chosen = rng.choice(len(drawn["labels"]), DIGITS_PER_NUMBER, replace=False)
        labels = drawn["labels"][chosen].tolist()
        with_unreadable += bool(unreadable & set(chosen.tolist()))
        crops = [ink_crop(drawn["images"][i], DIGIT_HEIGHT) for i in chosen]
        reading = read_number(predictor, compose_number(crops, rng))
        numbers_right += reading.text == "".join(map(str, labels))
        if len(reading.digits) == DIGITS_PER_NUMBER:  # a wrong count gets every digit wrong
            digits_right += sum(a == label for a, label in zip(reading.answers, labels))
        # Oracle: the same digits, each read alone through the single-digit recipe.
        alone = confident_digits(predictor.predict(np.stack([mnist_stages(c).centered for c in crops])), predictor.threshold)
        digits_right_alone += int((alone == labels).sum())
        alone_all_right += bool((alone == labels).all())
    total = NUMBERS * DIGITS_PER_NUMBER
    print(
        f"numbers fully right {numbers_right / NUMBERS:.1%} (all digits right alone: {alone_all_right / NUMBERS:.1%}); "
        f"digits right in numbers {digits_right / total:.2%}, alone {digits_right_alone / total:.2%}; "
        f"{with_unreadable} numbers hold a drawing reviewed as unreadable"
    )
    # One number split wrongly costs all four of its digits: 0.5 points of 800 digits.
    assert digits_right / total >= digits_right_alone / total - 0.005
    assert numbers_right >= alone_all_right - 1
    assert numbers_right / NUMBERS >= PINNED_NUMBER_ACCURACY


def test_wide_mnist_digits_are_not_cut_into_fragments(mnist, predictor, monkeypatch):
    """Numbers of MNIST training digits, each stretched to 1-2 times its width and written apart: the rule
    that each half of a cut keeps a digit-tall piece of ink saves some (shaped on drawn_dev's failures, it is
    checked here on digits that are not in drawn_dev)."""
    (x_train, y_train), _ = mnist

    def fully_right() -> float:
        rng = np.random.default_rng(7)
        right = 0
        for _ in range(NUMBERS):
            chosen = rng.choice(len(y_train), DIGITS_PER_NUMBER, replace=False)
            crops = []
            for i in chosen:
                crop = ink_crop(cv2.resize(x_train[i], (112, 112), interpolation=cv2.INTER_CUBIC), DIGIT_HEIGHT)
                crops.append(cv2.resize(crop, (round(crop.shape[1] * rng.uniform(1, 2)), DIGIT_HEIGHT)))
            right += read_number(predictor, compose_number(crops, rng)).text == "".join(map(str, y_train[chosen]))
        return right / NUMBERS

    with_rule = fully_right()
    monkeypatch.setattr(numbers, "is_digit_sized", lambda half, line_height: True)
    without = fully_right()
    print(f"wide MNIST digits in 4-digit numbers, fully right: {with_rule:.1%} with the fragment rule, {without:.1%} without")
    assert with_rule >= without + 0.02


def test_touching_digits_are_cut_apart_where_the_model_reads_them(drawn, predictor, monkeypatch):
    def fully_right() -> float:
        rng = np.random.default_rng(2026)
        right = 0
        for _ in range(NUMBERS):
            chosen = rng.choice(len(drawn["labels"]), DIGITS_PER_NUMBER, replace=False)
            crops = [ink_crop(drawn["images"][i], DIGIT_HEIGHT) for i in chosen]
            number = compose_number(crops, rng, gap_range=TOUCHING_GAPS)
            right += read_number(predictor, number).text == "".join(map(str, drawn["labels"][chosen]))
        return right / NUMBERS

    with_cuts = fully_right()
    monkeypatch.setattr(numbers, "CUT_ROUNDS", 0)
    ink_only = fully_right()
    print(f"touching 4-digit numbers fully right: {with_cuts:.1%} with cuts, {ink_only:.1%} by pieces of ink alone")
    assert with_cuts >= ink_only + 0.05 and with_cuts >= PINNED_TOUCHING_ACCURACY
