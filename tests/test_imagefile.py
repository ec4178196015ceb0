"""Image files: PNG and JPEG decode as drawn; junk, truncated files and decompression bombs are refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import digit_on_canvas

from digitlib.imagefile import decode_image, encode_png
from digitlib.preprocess import to_mnist


def test_decode_image_reads_png_and_rejects_junk(mnist):
    _, (x_test, _) = mnist
    _ok, png = cv2.imencode(".png", digit_on_canvas(x_test[0]))
    assert np.abs(to_mnist(decode_image(png.tobytes())) - to_mnist(digit_on_canvas(x_test[0]))).max() < 1e-6
    with pytest.raises(ValueError, match="not a readable"):
        decode_image(b"this is not an image")
    with pytest.raises(ValueError, match="empty"):
        decode_image(b"")


def test_decode_image_reads_jpeg_sizes_and_pixels(mnist):
    _, (x_test, _) = mnist
    _ok, jpeg = cv2.imencode(".jpg", np.dstack([digit_on_canvas(x_test[1], 150)] * 3))
    image = decode_image(jpeg.tobytes())
    assert image.shape == (280, 280, 3)
    assert np.abs(to_mnist(image) - to_mnist(digit_on_canvas(x_test[1], 150))).mean() < 0.02


def test_decompression_bomb_is_refused_before_decoding():
    # 12,000 x 12,000 black pixels compress to a few hundred kilobytes but would unpack to 144 MB.
    _ok, png = cv2.imencode(".png", np.zeros((12_000, 12_000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert len(png) < 2**20
    with pytest.raises(ValueError, match="too large"):
        decode_image(png.tobytes())


def test_truncated_and_foreign_images_are_refused(mnist):
    _, (x_test, _) = mnist
    _ok, png = cv2.imencode(".png", digit_on_canvas(x_test[0]))
    with pytest.raises(ValueError, match="not a readable"):
        decode_image(png.tobytes()[:30])
    _ok, bmp = cv2.imencode(".bmp", digit_on_canvas(x_test[0]))
    with pytest.raises(ValueError, match="not a readable"):
        decode_image(bmp.tobytes())


@pytest.mark.parametrize("channels", [None, 3, 4])
def test_encode_png_round_trips_exactly(channels):
    rng = np.random.default_rng(channels or 1)
    image = rng.integers(0, 256, size=(37, 53) if channels is None else (37, 53, channels), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_png(image)), image)
