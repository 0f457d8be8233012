"""Known-answer tests of ROS image decoding: every encoding, padding, byte order, compressed payloads, errors."""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from depth_motion_ros.image_encoding import (
    ImageDecodeError,
    compressed_depth_to_metres,
    compressed_image_to_rgb,
    raw_image_to_rgb,
)

H, W = 3, 4
RGB = (np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3) * 7).astype(np.uint8)


def _padded(rows: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Payload with ``pad`` junk bytes after every row, as drivers with aligned strides send it."""
    flat = rows.reshape(rows.shape[0], -1).view(np.uint8)
    junk = np.full((flat.shape[0], pad), 0xAB, dtype=np.uint8)
    padded = np.concatenate([flat, junk], axis=1)
    return padded.tobytes(), padded.shape[1]


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    "encoding, make_payload",
    [
        ("rgb8", lambda rgb: rgb),
        ("bgr8", lambda rgb: rgb[:, :, ::-1]),
        ("rgba8", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])),
    ],
)
def test_colour_encodings_decode_to_the_same_rgb(encoding, make_payload, pad):
    data, step = _padded(np.ascontiguousarray(make_payload(RGB)), pad)
    out = raw_image_to_rgb(encoding, H, W, step, False, data)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("pad", [0, 3])
def test_mono8_is_replicated_to_three_channels(pad):
    grey = RGB[:, :, 0].copy()
    data, step = _padded(grey, pad)
    out = raw_image_to_rgb("mono8", H, W, step, False, data)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], grey)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("pad", [0, 2])
def test_mono16_either_byte_order_scales_full_range_to_8_bit(big_endian, pad):
    values = np.array([[0, 257, 65535, 32768]], dtype=np.uint16)
    wire = values.astype(">u2" if big_endian else "<u2")
    data, step = _padded(wire, pad)
    out = raw_image_to_rgb("mono16", 1, 4, step, big_endian, data)
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 128])
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])


def test_bytes_beyond_height_times_step_are_ignored():
    data = RGB.tobytes() + b"extra"
    np.testing.assert_array_equal(raw_image_to_rgb("rgb8", H, W, W * 3, False, data), RGB)


@pytest.mark.parametrize(
    "args, message",
    [
        (("yuv422", H, W, W * 2, False, bytes(H * W * 2)), "unsupported image encoding 'yuv422'"),
        (("rgb8", H, W, W * 3, False, bytes(H * W * 3 - 1)), "shorter than height*step"),
        (("rgb8", 0, W, W * 3, False, b""), "zero size"),
        (("rgb8", H, 0, 0, False, b""), "zero size"),
        (("rgb8", H, W, W * 3 - 1, False, bytes(H * W * 3)), "step 11 is smaller than one row"),
    ],
)
def test_malformed_raw_images_raise_a_named_error(args, message):
    with pytest.raises(ImageDecodeError, match=message.replace("*", r"\*").replace("(", r"\(")):
        raw_image_to_rgb(*args)


def _encode(ext: str, bgr: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, bgr, params or [])
    assert ok
    return buf.tobytes()


def _smooth_rgb(h: int = 32, w: int = 48) -> np.ndarray:
    """A smooth image, so JPEG reproduces it to within a few grey levels."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 5, yy * 7, np.full_like(xx, 200)]).astype(np.uint8)


def test_png_compressed_round_trips_exactly_and_swaps_bgr_to_rgb():
    rgb = _smooth_rgb()
    out = compressed_image_to_rgb("png", _encode(".png", rgb[:, :, ::-1].copy()))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("fmt", ["rgb8; jpeg compressed bgr8", "jpeg", ""])
def test_jpeg_compressed_decodes_to_rgb(fmt):
    rgb = _smooth_rgb()
    out = compressed_image_to_rgb(fmt, _encode(".jpg", rgb[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 95]))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 3.0
    assert out[:, :, 2].mean() > 190  # blue stays in the blue channel


def test_grey_png_becomes_three_equal_channels():
    grey = _smooth_rgb()[:, :, 0]
    out = compressed_image_to_rgb("mono8; png compressed", _encode(".png", grey))
    np.testing.assert_array_equal(out[:, :, 1], grey)


@pytest.mark.parametrize(
    "fmt, data, message",
    [
        ("jpeg", b"", "empty"),
        ("jpeg", b"\xff\xd8\xff\xe0 definitely not a jpeg", "corrupt"),
        ("tiff", b"II*\x00", "unsupported compressed format 'tiff'"),
        ("", b"GIF89a", "neither JPEG nor PNG"),
    ],
)
def test_bad_compressed_images_raise_a_named_error(fmt, data, message):
    with pytest.raises(ImageDecodeError, match=message):
        compressed_image_to_rgb(fmt, data)


def test_plain_16_bit_depth_png_in_millimetres_with_invalid_pixels():
    raw = np.array([[0, 1000, 2500], [65535, 1, 40000]], dtype=np.uint16)
    depth = compressed_depth_to_metres("16UC1; png compressed", _encode(".png", raw), 0.001)
    assert depth.dtype == np.float32 and depth.shape == (2, 3)
    assert np.isnan(depth[0, 0]) and np.isnan(depth[1, 0])
    np.testing.assert_allclose(depth[0, 1:], [1.0, 2.5])
    np.testing.assert_allclose(depth[1, 1:], [0.001, 40.0], rtol=1e-6)


def test_compressed_depth_transport_header_is_skipped():
    raw = np.array([[500, 0]], dtype=np.uint16)
    payload = struct.pack("<iff", 0, 0.0, 0.0) + _encode(".png", raw)
    depth = compressed_depth_to_metres("16UC1; compressedDepth png", payload, 0.001)
    np.testing.assert_allclose(depth[0, 0], 0.5)
    assert np.isnan(depth[0, 1])


def test_compressed_depth_32fc1_inverse_quantisation():
    quant_a, quant_b = 100.0, 10.0
    metres = np.array([2.0, 5.0])
    stored = np.round(quant_a / metres + quant_b).astype(np.uint16)[None, :]
    payload = struct.pack("<iff", 0, quant_a, quant_b) + _encode(".png", stored)
    depth = compressed_depth_to_metres("32FC1; compressedDepth png", payload, 1.0)
    np.testing.assert_allclose(depth[0], metres, rtol=1e-6)


@pytest.mark.parametrize(
    "fmt, data, scale, message",
    [
        ("16UC1; png", b"\x89PNG\r\n\x1a\n broken", 0.001, "corrupt"),
        ("16UC1; png", b"not a png at all", 0.001, "not a PNG payload"),
        ("16UC1; png", None, 0.0, "depth scale must be positive"),
        ("16UC1; png", "colour", 0.001, "single-channel 16 bit"),
    ],
)
def test_bad_compressed_depth_raises_a_named_error(fmt, data, scale, message):
    if data is None:
        data = _encode(".png", np.ones((2, 2), np.uint16))
    elif data == "colour":
        data = _encode(".png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ImageDecodeError, match=message):
        compressed_depth_to_metres(fmt, data, scale)


def test_real_bag_payloads_decode(shared_data):
    """The 7-Scenes bag's JPEG colour and millimetre depth PNG give plausible indoor images and depth."""
    from pathlib import Path

    from rosbags.highlevel import AnyReader

    bag = Path(shared_data) / "bags" / "7scenes_redkitchen_25f_ros2_mcap"
    if not bag.exists():
        pytest.skip("7-Scenes bag not present")
    decoded: dict[str, np.ndarray] = {}
    with AnyReader([bag]) as reader:
        for connection, _, raw in reader.messages():
            if connection.topic in decoded or "compressed" not in connection.topic:
                continue
            msg = reader.deserialize(raw, connection.msgtype)
            if "depth" in connection.topic:
                decoded["depth"] = compressed_depth_to_metres(msg.format, msg.data, 0.001)
            else:
                decoded["rgb"] = compressed_image_to_rgb(msg.format, msg.data)
            if len(decoded) == 2:
                break
    assert decoded["rgb"].shape == (480, 640, 3)
    assert decoded["depth"].shape == (480, 640)
    valid = decoded["depth"][np.isfinite(decoded["depth"])]
    assert valid.size > 0.5 * decoded["depth"].size
    assert 0.3 < float(np.median(valid)) < 6.0
