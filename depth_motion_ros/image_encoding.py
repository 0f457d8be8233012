"""ROS image payloads (sensor_msgs/Image fields, CompressedImage payloads) to numpy, without rclpy.

The node, the bag reader and the CLIs all receive images as the raw fields of a ROS message. Decoding them
here, in one place with no ROS import, means every consumer accepts exactly the same encodings, handles
row padding and byte order the same way, and reports a malformed message with the same clear error
instead of a numpy reshape traceback.
"""
from __future__ import annotations

import numpy as np

try:  # OpenCV is only needed for compressed payloads; raw images decode without it.
    import cv2
except ImportError:  # pragma: no cover - exercised only on machines without OpenCV
    cv2 = None  # type: ignore[assignment]  # None marks the optional module as missing


class ImageDecodeError(ValueError):
    """A message that cannot be turned into an image; the text names the problem."""


# encoding -> (channels, numpy dtype of one channel, channel order of the payload)
_RAW_LAYOUTS: dict[str, tuple[int, str, str]] = {
    "rgb8": (3, "u1", "rgb"),
    "bgr8": (3, "u1", "bgr"),
    "rgba8": (4, "u1", "rgba"),
    "bgra8": (4, "u1", "bgra"),
    "mono8": (1, "u1", "mono"),
    "8UC1": (1, "u1", "mono"),
    "mono16": (1, "u2", "mono"),
    "16UC1": (1, "u2", "mono"),
}

SUPPORTED_ENCODINGS = tuple(_RAW_LAYOUTS)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# compressed_depth_image_transport prefixes its PNG with a 12-byte ConfigHeader
# (int32 format, float32 depthQuantA, float32 depthQuantB).
_COMPRESSED_DEPTH_HEADER_BYTES = 12


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"image has zero size ({width}x{height})")


def _raw_pixels(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                data: bytes) -> tuple[np.ndarray, str]:
    """View the payload as ``[H, W, C]`` in native byte order, dropping any row padding in ``step``."""
    _check_size(height, width)
    layout = _RAW_LAYOUTS.get(encoding)
    if layout is None:
        raise ImageDecodeError(
            f"unsupported image encoding '{encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, kind, order = layout
    dtype = np.dtype(kind).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageDecodeError(
            f"step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} bytes)")
    needed = height * step
    if len(data) < needed:
        raise ImageDecodeError(
            f"image data has {len(data)} bytes, shorter than height*step = {height}*{step} = {needed}")
    buffer = np.frombuffer(data, dtype=np.uint8, count=needed).reshape(height, step)
    rows = np.ascontiguousarray(buffer[:, :row_bytes])
    pixels = rows.view(dtype).reshape(height, width, channels)
    return pixels.astype(dtype.newbyteorder("="), copy=False), order


def _to_rgb(pixels: np.ndarray, order: str) -> np.ndarray:
    """Channel reorder to RGB; 16-bit grey maps its full range onto 0..255 (divide by 257, rounded)."""
    if pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if order == "mono":
        return np.repeat(pixels, 3, axis=2)
    if order in ("bgr", "bgra"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def raw_image_to_rgb(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                     data: bytes) -> np.ndarray:
    """sensor_msgs/Image fields -> ``uint8 [H, W, 3]`` RGB.

    Accepts rgb8, bgr8, rgba8, bgra8 (alpha dropped), mono8/8UC1 and mono16/16UC1 (either byte order,
    scaled to 8 bit over the full 16-bit range, as cv_bridge's mono16 -> rgb8 conversion does). Rows may
    carry padding beyond ``width * bytes_per_pixel``; ``step`` says where each row starts.
    """
    pixels, order = _raw_pixels(encoding, int(height), int(width), int(step), bool(is_bigendian),
                                bytes(data))
    return _to_rgb(pixels, order)


def _require_opencv() -> None:
    if cv2 is None:
        raise ImageDecodeError("decoding compressed images needs OpenCV (pip install opencv-python-headless)")


def _decode_with_opencv(payload: bytes, flags: int, what: str) -> np.ndarray:
    if len(payload) == 0:
        raise ImageDecodeError(f"{what} payload is empty")
    try:
        image = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise ImageDecodeError(f"{what} payload is corrupt: {exc}") from exc
    if image is None or image.size == 0:
        raise ImageDecodeError(f"{what} payload is corrupt ({len(payload)} bytes could not be decoded)")
    return image


def _compressed_kind(format: str, data: bytes) -> str:
    """'jpeg' or 'png' from the CompressedImage ``format`` field, falling back to the payload's magic bytes.

    image_transport writes formats such as ``"rgb8; jpeg compressed bgr8"`` or plain ``"png"``; older
    drivers leave it empty, so the signature of the payload decides then.
    """
    text = format.lower()
    if "jpeg" in text or "jpg" in text:
        return "jpeg"
    if "png" in text:
        return "png"
    if text.strip():
        raise ImageDecodeError(f"unsupported compressed format '{format}' (supported: jpeg, png)")
    if data.startswith(_JPEG_SIGNATURE):
        return "jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    raise ImageDecodeError("compressed image has an empty format and a payload that is neither JPEG nor PNG")


def compressed_image_to_rgb(format: str, data: bytes) -> np.ndarray:
    """CompressedImage (JPEG or PNG, colour or grey, 8 or 16 bit) -> ``uint8 [H, W, 3]`` RGB.

    The compressed_image_transport stores correctly coloured JPEG/PNG whatever the source encoding was
    (its ``format`` names it only for information), so decoding with OpenCV and swapping BGR to RGB is
    always right.
    """
    _require_opencv()
    payload = bytes(data)
    kind = _compressed_kind(format, payload)
    image = _decode_with_opencv(payload, cv2.IMREAD_UNCHANGED, f"{kind.upper()} image")
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageDecodeError(f"{kind.upper()} image has unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _split_compressed_depth_header(format: str, payload: bytes) -> tuple[bytes, tuple[float, float] | None]:
    """Separate compressed_depth_image_transport's 12-byte header from the PNG, when there is one.

    Returns the PNG bytes and, for 32FC1 'compressedDepth' payloads, the inverse-depth quantisation
    parameters (depthQuantA, depthQuantB) needed to recover metres.
    """
    if payload.startswith(_PNG_SIGNATURE):
        return payload, None
    if payload[_COMPRESSED_DEPTH_HEADER_BYTES:].startswith(_PNG_SIGNATURE):
        quant = np.frombuffer(payload[4:_COMPRESSED_DEPTH_HEADER_BYTES], dtype="<f4")
        inverse = format.lower().startswith("32fc1")
        return payload[_COMPRESSED_DEPTH_HEADER_BYTES:], (float(quant[0]), float(quant[1])) if inverse else None
    raise ImageDecodeError(f"compressed depth '{format}' is not a PNG payload")


def compressed_depth_to_metres(format: str, data: bytes, scale: float) -> np.ndarray:
    """16-bit depth PNG (plain, or compressed_depth_image_transport) -> ``float32 [H, W]`` metres.

    ``scale`` is metres per stored unit (0.001 for the usual millimetre depth). 0 and 65535 mark missing
    measurements (Kinect and 7-Scenes conventions) and become NaN, as REP 117 asks. A 32FC1
    'compressedDepth' payload carries quantised inverse depth and is decoded with its own header
    (``scale`` does not apply to it).
    """
    _require_opencv()
    if not scale > 0:
        raise ImageDecodeError(f"depth scale must be positive metres per unit, got {scale}")
    png, inverse_quant = _split_compressed_depth_header(format, bytes(data))
    raw = _decode_with_opencv(png, cv2.IMREAD_UNCHANGED, "depth PNG")
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise ImageDecodeError(
            f"depth PNG must be single-channel 16 bit, got {raw.dtype} with shape {raw.shape}")
    invalid = (raw == 0) | (raw == np.iinfo(np.uint16).max)
    if inverse_quant is not None:
        quant_a, quant_b = inverse_quant
        depth = quant_a / (raw.astype(np.float32) - quant_b)
    else:
        depth = raw.astype(np.float32) * np.float32(scale)
    depth[invalid] = np.nan
    return depth.astype(np.float32, copy=False)
