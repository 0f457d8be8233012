"""ROS message objects (as deserialised by `rosbags`) -> numpy: images, depth, camera matrices, poses.

Field names differ between ROS 1 and ROS 2 definitions (`K` / `k`), so lookups accept both. Payload
decoding itself lives in `depth_motion_ros.image_encoding`, shared with the node.
`rosbags` builds its message classes at run time from the bag's definitions, so a message has no static
type here: `RosMessage` (Any) marks those duck-typed arguments.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from depth_motion_ros.image_encoding import (
    ImageDecodeError,
    compressed_depth_to_metres,
    compressed_image_to_rgb,
    raw_image_to_rgb,
)
from depth_motion_ros.image_rectification import Calibration
from depth_motion_ros.transforms import pose_matrix

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
POSE_TYPES = (
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/PoseWithCovarianceStamped",
    "geometry_msgs/msg/TransformStamped",
    "nav_msgs/msg/Odometry",
)
RosMessage = Any


def _field(message: RosMessage, *names: str) -> Any:
    for name in names:
        if hasattr(message, name):
            return getattr(message, name)
    raise AttributeError(f"{type(message).__name__} has none of the fields {names}")


def header_stamp(message: RosMessage) -> float | None:
    """The header stamp in seconds, None when the message has no header or a zero stamp (unset)."""
    header = getattr(message, "header", None)
    if header is None:
        return None
    stamp = header.stamp
    seconds = float(_field(stamp, "sec", "secs")) + 1e-9 * float(_field(stamp, "nanosec", "nsecs"))
    return seconds if seconds > 0 else None


def image_to_rgb(msgtype: str, message: RosMessage) -> np.ndarray:
    """Image or CompressedImage -> uint8 [H, W, 3] RGB (raises ImageDecodeError)."""
    if msgtype == COMPRESSED_IMAGE_TYPE:
        return compressed_image_to_rgb(message.format, bytes(message.data))
    return raw_image_to_rgb(message.encoding, message.height, message.width, message.step,
                            bool(message.is_bigendian), bytes(message.data))


def depth_to_metres(msgtype: str, message: RosMessage, metres_per_unit: float = 0.001) -> np.ndarray:
    """Depth Image (16UC1/mono16 in units, 32FC1 in metres) or 16-bit PNG CompressedImage -> float32 metres.

    Missing measurements (0, 65535 for 16 bit, NaN/inf/0 for float) become NaN (REP 117).
    `metres_per_unit` applies to integer depth only; REP 118 makes 16-bit depth millimetres (0.001).
    """
    if msgtype == COMPRESSED_IMAGE_TYPE:
        return compressed_depth_to_metres(message.format, bytes(message.data), metres_per_unit)
    encoding = message.encoding
    dtypes = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}
    if encoding not in dtypes:
        raise ImageDecodeError(f"unsupported depth encoding '{encoding}' (supported: {', '.join(dtypes)})")
    dtype = np.dtype(dtypes[encoding]).newbyteorder(">" if message.is_bigendian else "<")
    height, width, step = int(message.height), int(message.width), int(message.step)
    row_bytes = width * dtype.itemsize
    data = bytes(message.data)
    if height <= 0 or width <= 0 or step < row_bytes or len(data) < height * step:
        raise ImageDecodeError(f"depth image {width}x{height} step {step} does not fit {len(data)} bytes")
    rows = np.frombuffer(data, dtype=np.uint8, count=height * step).reshape(height, step)[:, :row_bytes]
    values: np.ndarray = np.ascontiguousarray(rows).view(dtype).reshape(height, width).astype(np.float32)
    if dtype.kind == "u":
        invalid = (values == 0) | (values == 65535)
        values *= np.float32(metres_per_unit)
    else:
        invalid = ~np.isfinite(values) | (values <= 0)
    values[invalid] = np.nan
    return values


def camera_info_calibration(message: RosMessage) -> Calibration:
    """CameraInfo (ROS 2 or ROS 1 field names) -> its Calibration: K, D and model, R, P, (height, width)."""
    return Calibration.from_fields(_field(message, "k", "K"), _field(message, "d", "D"), message.distortion_model,
                                   _field(message, "r", "R"), _field(message, "p", "P"),
                                   (int(message.height), int(message.width)))


def pose_message_to_matrix(msgtype: str, message: RosMessage) -> np.ndarray:
    """PoseStamped / PoseWithCovarianceStamped / Odometry / TransformStamped -> 4x4 pose as recorded."""
    if msgtype == "geometry_msgs/msg/TransformStamped":
        translation, rotation = message.transform.translation, message.transform.rotation
    else:
        pose = message.pose
        if msgtype != "geometry_msgs/msg/PoseStamped":  # the ...WithCovariance wrapper
            pose = pose.pose
        translation, rotation = pose.position, pose.orientation
    return pose_matrix((translation.x, translation.y, translation.z), (rotation.x, rotation.y, rotation.z, rotation.w))
