"""Image files: PNG or JPEG bytes to pixels and back, refusing what is too large before decoding it."""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.preprocess import MAX_SIDE, check_image

MAX_FILE_BYTES = 20 * 2**20
MAX_PIXELS = 40_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8"
# JPEG markers that start a frame and carry its size (SOF0-SOF15 but DHT, JPG and DAC).
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("not a readable PNG or JPEG image (broken PNG header)")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's first frame header."""
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            break
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in JPEG_FRAME_MARKERS:
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    raise ValueError("not a readable PNG or JPEG image (no JPEG frame header)")


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of PNG or JPEG bytes, read from the header without decoding the pixels."""
    if data.startswith(PNG_SIGNATURE):
        return _png_size(data)
    if data.startswith(JPEG_SIGNATURE):
        return _jpeg_size(data)
    raise ValueError("not a readable PNG or JPEG image")


def decode_image(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG bytes into an RGB(A) or grey uint8 array; ValueError if it is not a usable image."""
    if len(data) == 0:
        raise ValueError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(
            f"the file is too large ({len(data) / 2**20:.1f} MiB, at most {MAX_FILE_BYTES // 2**20} MiB)"
        )
    width, height = image_size(data)
    # Checked before decoding: a few kilobytes of PNG can unpack to gigabytes (a decompression bomb).
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise ValueError(f"the image is too large ({width}x{height} px, at most {MAX_SIDE} px a side)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a readable PNG or JPEG image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    check_image(image)
    return image


def check_uint8_image(image: np.ndarray) -> None:
    """ValueError unless `image` is a grey, RGB or RGBA uint8 array, as decode_image gives."""
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or (image.ndim == 3 and image.shape[2] not in (1, 3, 4))
    ):
        raise ValueError(
            f"expected a uint8 (H, W), (H, W, 3) or (H, W, 4) image, got {image.dtype} {image.shape}"
        )


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a grey, RGB or RGBA uint8 image."""
    check_uint8_image(image)
    to_bgr = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(image.shape[2] if image.ndim == 3 else 1)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, to_bgr) if to_bgr is not None else image)
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} canvas as PNG")
    return png.tobytes()
