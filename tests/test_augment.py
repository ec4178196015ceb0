"""Synthetic handwriting styles and "not a digit" drawings look like what they claim to be."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import ROOT

from digitlib.augment import (
    STYLE_MIXES,
    add_crossbar,
    add_hook,
    add_stem_flag,
    add_strike,
    add_style,
    augment_batch,
    ink_box,
    jitter_placement,
    lift_bar,
    pen_jitter,
    place,
    stroke_width,
)
from digitlib.letters import (
    HANDWRITTEN_LETTERS,
    NOT_DIGITS,
    draw_handwritten_letter,
    draw_not_digit,
    not_digit_batch,
)
from digitlib.preprocess import center_of_mass
from digitlib.serving import Predictor


def ink_extent(image: np.ndarray) -> tuple[int, int, int, int]:
    """The first and last column and row of the ink brighter than mid-grey."""
    x, y, width, height = ink_box(image)
    return x, y, x + width - 1, y + height - 1


def big_digit(mnist, label: int, index: int = 0) -> np.ndarray:
    """An MNIST training digit at the augmentation scale (84x84 on a 140x140 field)."""
    import cv2

    (x_train, y_train), _ = mnist
    digit = x_train[np.nonzero(y_train == label)[0][index]]
    return cv2.copyMakeBorder(
        cv2.resize(digit, None, fx=3, fy=3), 28, 28, 28, 28, cv2.BORDER_CONSTANT, value=0
    )


def test_strike_crosses_a_zero_through_its_middle_and_past_both_sides(mnist):
    zero = big_digit(mnist, 0)
    struck = add_strike(zero, np.random.default_rng(1))
    x0, y0, x1, y1 = ink_extent(zero)
    added = (struck > 127) & ~(zero > 127)
    rows = np.nonzero(added.any(axis=1))[0]
    assert y0 < rows.mean() < y1
    assert (
        np.nonzero(added.any(axis=0))[0].min() <= x0 + 2 and np.nonzero(added.any(axis=0))[0].max() >= x1 - 2
    )


def test_flag_starts_at_the_top_of_the_one_and_goes_down_left(mnist):
    one = big_digit(mnist, 1)
    flagged = add_stem_flag(one, np.random.default_rng(2), longest=0.8, angles=(25, 65))
    added = (flagged > 127) & ~(one > 127)
    ys, xs = np.nonzero(added)
    _x0, y0, _x1, _y1 = ink_extent(one)
    width = stroke_width(one)
    # It starts at the top (give or take the round cap of the pen) and reaches out down to the left.
    top_x = np.nonzero(one[y0] > 127)[0].mean()
    assert ys.min() >= y0 - width and ys.mean() > y0 and xs.min() < top_x - width


def leaning_one() -> np.ndarray:
    """Oracle: a 1 drawn as one straight stroke leaning 30 degrees to the left, on the augmentation field."""
    import cv2

    one = np.zeros((140, 140), np.uint8)
    cv2.line(one, (90, 30), (90 - round(80 * np.tan(np.deg2rad(30))), 110), 255, 8, cv2.LINE_AA)
    return one


def flag_angles(flagged: np.ndarray, one: np.ndarray) -> tuple[float, float]:
    """The flag's angles to the stem and below horizontal, in degrees, from the 1's top to the flag's tip."""
    added = (flagged > 127) & ~(one > 127)
    ys, xs = np.nonzero(added)
    top = np.array([90.0, 26.0])  # the top of the stroke, its round cap included
    far = np.argmax((xs - top[0]) ** 2 + (ys - top[1]) ** 2)
    flag = np.array([xs[far], ys[far]]) - top
    stem = np.array([-np.tan(np.deg2rad(30)), 1.0])
    between = np.rad2deg(np.arccos(flag @ stem / np.linalg.norm(flag) / np.linalg.norm(stem)))
    return float(between), float(np.rad2deg(np.arctan2(flag[1], -flag[0])))


def test_a_stem_flag_stands_off_a_leaning_stem_and_stays_steeper_than_a_sevens_bar():
    one = leaning_one()
    for seed in range(20):
        between, below_horizontal = flag_angles(
            add_stem_flag(one, np.random.default_rng(seed), 0.8, (25, 65)), one
        )
        assert between > 15 and 20 < below_horizontal < 80, (seed, between, below_horizontal)


def test_a_hook_curls_left_under_the_nine(mnist):
    nine = big_digit(mnist, 9)
    hooked = add_hook(nine, np.random.default_rng(4))
    _x0, _y0, _x1, y1 = ink_extent(nine)
    added = (hooked > 127) & ~(nine > 127)
    ys, xs = np.nonzero(added)
    tail_x = np.nonzero(nine[y1] > 127)[0].mean()
    # Below the tail's end (give or take the pen's round cap), and out to its left.
    assert ys.min() >= y1 - stroke_width(nine) and ys.max() > y1 + 3 and xs.min() < tail_x - 5


def test_crossbar_stays_inside_the_seven(mnist):
    seven = big_digit(mnist, 7)
    crossed = add_crossbar(seven, np.random.default_rng(3))
    _x0, y0, _x1, y1 = ink_extent(seven)
    ys, _ = np.nonzero((crossed > 127) & ~(seven > 127))
    assert len(ys) > 0 and y0 + 0.3 * (y1 - y0) < ys.mean() < y0 + 0.75 * (y1 - y0)


def test_lifted_bar_leaves_a_gap_above_the_body_of_the_five(mnist):
    five = big_digit(mnist, 5)
    lifted = lift_bar(five, np.random.default_rng(7))
    _x0, y0, _x1, y1 = ink_extent(five)
    inked_rows = (lifted > 127).any(axis=1)
    # An empty band of rows now separates the bar (higher than before) from the body.
    assert np.nonzero(inked_rows)[0].min() < y0
    top_half = inked_rows[np.nonzero(inked_rows)[0].min() : y0 + (y1 - y0) // 2]
    assert not top_half.all()
    assert 0.8 < (lifted > 127).sum() / (five > 127).sum() <= 1.0


def test_pen_jitter_bends_but_keeps_the_ink(mnist):
    seven = big_digit(mnist, 7)
    bent = pen_jitter(seven, np.random.default_rng(4))
    assert not np.array_equal(bent, seven)
    assert 0.7 < (bent > 127).sum() / (seven > 127).sum() < 1.3


def test_drawn_mix_changes_every_digit_but_keeps_it_the_same_digit(mnist):
    (x_train, y_train), _ = mnist
    out = augment_batch(
        x_train[:200], y_train[:200], np.random.default_rng(5), rate=1.0, mix=STYLE_MIXES["drawn"]
    )
    assert np.all(np.abs(out - x_train[:200] / 255.0).reshape(200, -1).max(axis=1) > 0.5)
    assert np.all(out.reshape(200, -1).max(axis=1) == pytest.approx(1.0))
    # Oracle: cnn learnt from MNIST as it is, never from a distortion, and still reads most of them right.
    read = Predictor("cnn", ROOT / "models").predict(out).argmax(axis=1)
    assert (read == y_train[:200]).mean() >= 0.8


def test_not_digit_drawings_are_letters_and_signs_with_ink():
    assert not set(NOT_DIGITS) & set("0123456789OoIilZzSsBgq")
    rng = np.random.default_rng(6)
    drawings = [draw_not_digit(rng) for _ in range(50)]
    assert all(d.shape == (140, 140) and d.max() == 255 for d in drawings)
    batch = not_digit_batch(20, rng)
    assert batch.shape == (20, 28, 28) and np.all(batch.reshape(20, -1).max(axis=1) == pytest.approx(1.0))


def test_handwritten_letters_are_drawn_stroke_by_stroke_inside_the_field():
    assert not set(HANDWRITTEN_LETTERS) & set("0123456789OoIilZzSsBgqbGT")
    rng = np.random.default_rng(8)
    drawings = [draw_handwritten_letter(rng) for _ in range(100)]
    assert all(d.shape == (140, 140) and d.max() == 255 for d in drawings)
    # Nothing touches the border: every stroke fits the field, wobble included.
    assert all(
        ink_extent(d)[0] > 0 and ink_extent(d)[1] > 0 and ink_extent(d)[2] < 139 and ink_extent(d)[3] < 139
        for d in drawings
    )
    batch = not_digit_batch(20, rng, handwritten=1.0)
    assert np.all(batch.reshape(20, -1).max(axis=1) == pytest.approx(1.0))
    # Without handwritten letters the random stream is the font-only one, so older recipes reproduce.
    assert np.array_equal(
        not_digit_batch(5, np.random.default_rng(9)),
        not_digit_batch(5, np.random.default_rng(9), handwritten=0.0),
    )


def test_style_mixes_are_unchanged_so_their_recipes_reproduce():
    drawn = STYLE_MIXES["drawn"]
    assert (drawn.slashed_zero, drawn.struck_zero, drawn.flag_one, drawn.longest_flag, drawn.flag_angles) == (
        0.15,
        0.15,
        0.4,
        0.8,
        (25, 65),
    )
    assert (drawn.base_one, drawn.crossed_seven, drawn.lifted_five, drawn.hooked_nine, drawn.pen_jitter) == (
        0.1,
        0.15,
        0.3,
        0.2,
        0.5,
    )
    shares = (
        "slashed_zero",
        "struck_zero",
        "flag_one",
        "base_one",
        "crossed_seven",
        "lifted_five",
        "hooked_nine",
        "pen_jitter",
    )
    assert STYLE_MIXES["none"] == dataclasses.replace(drawn, **dict.fromkeys(shares, 0.0))


def test_the_plain_mix_adds_no_style_to_any_digit(mnist):
    (x_train, y_train), _ = mnist
    rng = np.random.default_rng(10)
    for label in range(10):
        digit = x_train[np.flatnonzero(y_train == label)[0]]
        assert all(add_style(digit, label, rng, STYLE_MIXES["none"]) is digit for _ in range(50))


def test_augment_rate_is_the_share_of_digits_distorted(mnist):
    (x_train, y_train), _ = mnist
    images, labels = x_train[:400], y_train[:400]
    plain = images.astype(np.float32) / 255.0
    for rate in (0.5, 0.85):
        out = augment_batch(images, labels, np.random.default_rng(11), rate=rate, mix=STYLE_MIXES["none"])
        changed = np.abs(out - plain).reshape(len(out), -1).max(axis=1) > 1e-6
        assert abs(changed.mean() - rate) < 0.07, (rate, changed.mean())


def centers_of_mass(digits: np.ndarray) -> np.ndarray:
    """The (row, column) centre of mass of each digit in a batch, as the recipe computes it."""
    return np.array([center_of_mass(digit) for digit in digits])


def test_place_moves_a_digit_by_whole_pixels_exactly_and_resizes_it_about_the_centre(mnist):
    (x_train, _), _ = mnist
    digit = x_train[0].astype(np.float32) / 255.0
    assert np.array_equal(place(digit, 2, -1, 1.0), np.roll(digit, (-1, 2), axis=(0, 1)))
    x0, y0, x1, y1 = ink_extent((digit * 255).astype(np.uint8))
    bx0, by0, bx1, by1 = ink_extent((place(digit, 0, 0, 1.2) * 255).astype(np.uint8))
    assert (by1 - by0) / (y1 - y0) == pytest.approx(1.2, abs=0.1) and (bx1 - bx0) / (
        x1 - x0
    ) == pytest.approx(1.2, abs=0.15)
    assert center_of_mass(place(digit, 0, 0, 1.2)) == pytest.approx(
        13.5 + 1.2 * (np.array(center_of_mass(digit)) - 13.5), abs=0.1
    )


def test_jitter_placement_spreads_the_digits_within_its_limits(mnist):
    (x_train, _), _ = mnist
    digits = x_train[:300].astype(np.float32) / 255.0
    before = centers_of_mass(digits)
    after = centers_of_mass(jitter_placement(digits, np.random.default_rng(3), shift=2.0, zoom=0.1))
    moved = after - before
    # Shifts up to 2 px, plus up to 10% of a centre of mass's distance from the middle from the zoom.
    assert np.abs(moved).max() < 2.2 and moved.std(axis=0) == pytest.approx(2 / np.sqrt(3), abs=0.15)
    unchanged = jitter_placement(digits, np.random.default_rng(3), shift=0.0, zoom=0.0)
    assert np.allclose(unchanged, digits, atol=1e-6)
