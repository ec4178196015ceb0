"""The "Why this answer" occlusion map, checked with the committed CNN against oracles computed here."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from digitlib.explain import occlusion_map, patch_masks
from digitlib.pictures import OPPOSES, SUPPORTS, saliency_overlay
from digitlib.serving import Predictor

MODELS = ROOT / "models"
SIDE = 28


@pytest.fixture(scope="module")
def cnn() -> Predictor:
    """The project's trained CNN, served as the app serves it."""
    return Predictor("cnn", MODELS)


@pytest.fixture(scope="module")
def digits(mnist, cnn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first 40 MNIST test images in [0, 1], their labels and the CNN's answers."""
    _, (x_test, y_test) = mnist
    images = x_test[:40].astype(np.float32) / 255.0
    return images, y_test[:40], cnn.predict(images).argmax(axis=1)


class CountingPredict:
    """The real `predict`, remembering the size of every batch it is given."""

    def __init__(self, predict):
        self.predict = predict
        self.batches: list[int] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(len(images))
        return self.predict(images)


def grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """`mask` grown by `pixels` in every direction, diagonals included."""
    padded = np.pad(mask, pixels)
    out = np.zeros_like(mask)
    for dy in range(2 * pixels + 1):
        for dx in range(2 * pixels + 1):
            out |= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return out


def naive_occlusion_map(predict, image: np.ndarray, digit: int, patch: int, stride: int) -> np.ndarray:
    """Oracle: hide one patch at a time, ask the model about that image alone, average each pixel's drops."""
    starts = range(0, SIDE - patch + 1, stride)
    assert starts[-1] == SIDE - patch, "the oracle covers the edge only when the stride fits"
    before = predict(image[None])[0, digit]
    total, count = np.zeros((SIDE, SIDE)), np.zeros((SIDE, SIDE))
    for top in starts:
        for left in starts:
            hidden = image.copy()
            hidden[top : top + patch, left : left + patch] = 0
            total[top : top + patch, left : left + patch] += before - predict(hidden[None])[0, digit]
            count[top : top + patch, left : left + patch] += 1
    return total / count


@pytest.fixture(scope="module")
def mistake(mnist, cnn) -> tuple[np.ndarray, int]:
    """The first MNIST test image the CNN gets wrong, in [0, 1], and its wrong answer."""
    _, (x_test, y_test) = mnist
    images = x_test[:2000].astype(np.float32) / 255.0
    answers = cnn.predict(images).argmax(axis=1)
    first = int(np.flatnonzero(answers != y_test[:2000])[0])
    return images[first], int(answers[first])


@pytest.mark.parametrize(("patch", "stride"), [(4, 2), (4, 1), (2, 2)])
def test_map_equals_hiding_each_patch_in_turn(cnn, digits, mistake, patch, stride):
    images, _, answers = digits
    for image, digit in ((images[0], answers[0]), (images[1], answers[1]), mistake):
        expected = naive_occlusion_map(cnn.predict, image, digit, patch, stride)
        shown = occlusion_map(cnn.predict, image, digit, patch=patch, stride=stride)
        assert shown.shape == (SIDE, SIDE) and shown.dtype == np.float32
        assert np.abs(shown - expected).max() <= 1e-5 + 1e-3 * np.abs(expected).max()


def test_the_model_is_asked_once_with_every_copy_that_hides_ink(cnn, digits):
    images, _, answers = digits
    for patch, stride in ((4, 2), (4, 1), (3, 2)):
        counting = CountingPredict(cnn.predict)
        occlusion_map(counting, images[0], answers[0], patch=patch, stride=stride)
        masks = patch_masks((SIDE, SIDE), patch, stride)
        hiding_ink = sum(bool(images[0][mask].any()) for mask in masks)
        assert counting.batches == [1 + hiding_ink], (
            "one call: the image itself and each copy that hides some ink"
        )


def test_a_blank_image_needs_only_itself(cnn):
    counting = CountingPredict(cnn.predict)
    assert not occlusion_map(counting, np.zeros((SIDE, SIDE), np.float32), 3).any()
    assert counting.batches == [1]


def test_positive_part_lies_on_or_next_to_the_ink(cnn, digits):
    images, _, answers = digits
    for image, digit in zip(images, answers):
        supports = np.clip(occlusion_map(cnn.predict, image, digit), 0, None)
        near_ink = grown(image >= 0.5, 2)
        assert supports.sum() > 0
        assert supports[near_ink].sum() >= 0.9 * supports.sum()


def test_hiding_blank_background_changes_nothing(cnn, digits):
    """A pixel farther than a patch from any ink lies only under patches that hide nothing."""
    images, _, answers = digits
    for patch in (4, 3):
        for image, digit in zip(images[:10], answers[:10]):
            far = ~grown(image > 0, patch - 1)
            assert far.any()
            assert not occlusion_map(cnn.predict, image, digit, patch=patch)[far].any()


def test_hiding_the_digit_lowers_its_probability_on_balance(cnn, digits):
    images, labels, answers = digits
    for image, digit in zip(images[answers == labels], answers[answers == labels]):
        assert occlusion_map(cnn.predict, image, digit)[image > 0].sum() > 0


@pytest.mark.parametrize(("patch", "stride"), [(4, 2), (3, 2), (5, 3), (1, 1), (28, 7)])
def test_patches_cover_every_pixel_up_to_the_edges(patch, stride):
    masks = patch_masks((SIDE, SIDE), patch, stride)
    assert masks.dtype == bool and (masks.sum(axis=(1, 2)) == patch * patch).all()
    assert (masks.sum(axis=0) >= 1).all()
    assert len({mask.tobytes() for mask in masks}) == len(masks), "no position twice"


@pytest.mark.parametrize(
    ("shape", "patch", "stride", "message"),
    [
        ((1, SIDE, SIDE), 4, 2, "one \\(H, W\\) image"),
        ((SIDE, SIDE), 0, 1, "patch"),
        ((SIDE, SIDE), 29, 1, "patch"),
        ((SIDE, SIDE), 4, 0, "stride"),
        ((SIDE, SIDE), 4, 5, "stride"),
    ],
)
def test_bad_arguments_are_refused(shape, patch, stride, message):
    def never_called(images):
        raise AssertionError("the model must not be asked")

    with pytest.raises(ValueError, match=message):
        occlusion_map(never_called, np.zeros(shape, np.float32), 0, patch=patch, stride=stride)


def test_overlay_is_red_where_hiding_hurts_and_blue_where_it_helps():
    image = np.full((SIDE, SIDE), 0.8, np.float32)
    saliency = np.zeros((SIDE, SIDE), np.float32)
    saliency[0, 0], saliency[0, 1], saliency[0, 2] = 0.02, -0.02, 0.005
    rgb = saliency_overlay(saliency, image)
    assert rgb.shape == (SIDE, SIDE, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == np.round(255 * SUPPORTS).astype(int).tolist(), (
        "the strongest support in full red"
    )
    assert rgb[0, 1].tolist() == np.round(255 * OPPOSES).astype(int).tolist(), "as strong against: full blue"
    assert rgb[0, 3].tolist() == [102, 102, 102], "no effect: the dimmed grey image"
    assert rgb[0, 2, 0] > 102 and rgb[0, 2, 2] < 102, "weaker support: tinted red"
    assert (saliency_overlay(np.zeros_like(saliency), image) == 102).all()
