"""sensor_msgs Image/CompressedImage <-> numpy for the node (decoding rules live in image_encoding)."""
from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from depth_motion_ros.image_encoding import ImageDecodeError, compressed_image_to_rgb, raw_image_to_rgb

# numpy array layout -> (ROS encoding, channels)
_OUTPUT_ENCODINGS = {
    ("float32", 1): "32FC1",
    ("float32", 3): "32FC3",
    ("uint8", 1): "mono8",
    ("uint8", 3): "rgb8",
}


#: Encodings that depth cameras publish: taken as a grey camera image they would give the networks a depth
#: map to read as a scene, so they are refused. mono16 is here too: depth drivers (openni, some RealSense
#: set-ups) publish depth under it, and no RGB camera used here sends it.
DEPTH_ENCODINGS = ("16UC1", "16SC1", "32FC1", "64FC1", "mono16")


def depth_encoding_problem(encoding: str) -> str | None:
    """Why an image with `encoding` (a raw encoding, or a CompressedImage's format) is not a camera image, or
    None. compressed_depth_image_transport's formats ('16UC1; compressedDepth png') count as depth."""
    text = encoding.strip()
    head = text.split(";")[0].strip()
    if head in DEPTH_ENCODINGS or "compresseddepth" in text.lower():
        return (f"'{text}' is a depth encoding, not a camera image: connect 'image' to a colour or grey "
                "camera (rgb8, bgr8, rgba8, bgra8, mono8, or jpeg/png compressed)")
    return None


def message_to_rgb(msg: Image | CompressedImage) -> np.ndarray:
    """Decode either input type to ``uint8 [H, W, 3]`` RGB; raises ImageDecodeError naming the problem
    (depth encodings included)."""
    problem = depth_encoding_problem(msg.format if isinstance(msg, CompressedImage) else msg.encoding)
    if problem is not None:
        raise ImageDecodeError(problem)
    if isinstance(msg, CompressedImage):
        return compressed_image_to_rgb(msg.format, msg.data)
    return raw_image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data)


def to_byte_array(values: np.ndarray) -> array.array:
    """Message ``uint8[]`` field from numpy without per-element checks (rclpy's fast path is array('B'))."""
    out = array.array("B")
    out.frombytes(np.ascontiguousarray(values).tobytes())
    return out


def numpy_to_image(values: np.ndarray, header: Header) -> Image:
    """Image message for float32 1/3-channel or uint8 1/3-channel arrays, little-endian, unpadded rows."""
    channels = 1 if values.ndim == 2 else values.shape[2]
    encoding = _OUTPUT_ENCODINGS.get((values.dtype.name, channels))
    if encoding is None:
        raise ValueError(f"no ROS encoding for {values.dtype} with {channels} channels")
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(values.shape[0]), int(values.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(values.shape[1] * channels * values.dtype.itemsize)
    msg.data = to_byte_array(values.astype(values.dtype.newbyteorder("<"), copy=False))
    return msg
