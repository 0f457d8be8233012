"""Organised PointCloud2 with x, y, z and packed rgb, laid out as depth_image_proc's point_cloud_xyzrgb.

Same layout (float32 x y z at 0, 4, 8; rgb at 16; 32-byte points) means RViz, PCL and every tool that
reads depth_image_proc clouds read ours unchanged. Invalid or too-far pixels stay in the grid as NaN
(organised cloud, ``is_dense = False``) so pixel (u, v) of the strided depth is point (u, v).
"""
from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from depth_motion_ros.ros.image_messages import to_byte_array

POINT_DTYPE = np.dtype({"names": ["x", "y", "z", "rgb"],
                        "formats": ["<f4", "<f4", "<f4", "<u4"],
                        "offsets": [0, 4, 8, 16],
                        "itemsize": 32})

POINT_FIELDS = [
    PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
    PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
    PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
    PointField(name="rgb", offset=16, datatype=PointField.FLOAT32, count=1),
]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 ``[..., 3]`` -> uint32 ``0x00RRGGBB`` (the bits PCL reads back as its float 'rgb' field)."""
    rgb = rgb.astype(np.uint32)
    packed: np.ndarray = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed


def organised_points(depth: np.ndarray, intrinsics: np.ndarray, rgb: np.ndarray, stride: int,
                     max_range: float) -> np.ndarray:
    """Structured ``[h, w]`` array of POINT_DTYPE from every ``stride``-th pixel of depth and colour.

    ``rgb`` must have the depth's resolution. Pixels with NaN/non-positive depth or a Euclidean range
    beyond ``max_range`` (when > 0) get NaN coordinates.
    """
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"colour {rgb.shape[:2]} and depth {depth.shape} resolutions differ")
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride].astype(np.float32)
    z = depth[::stride, ::stride].astype(np.float32)
    fx, fy, cx, cy = (np.float32(intrinsics[0, 0]), np.float32(intrinsics[1, 1]),
                      np.float32(intrinsics[0, 2]), np.float32(intrinsics[1, 2]))
    points = np.zeros(z.shape, dtype=POINT_DTYPE)
    x = (u - cx) / fx * z
    y = (v - cy) / fy * z
    with np.errstate(invalid="ignore"):
        invalid = ~(z > 0)
        if max_range > 0:
            invalid |= (x * x + y * y + z * z) > np.float32(max_range) ** 2
    for name, values in (("x", x), ("y", y), ("z", z)):
        values[invalid] = np.nan
        points[name] = values
    points["rgb"] = pack_rgb(rgb[::stride, ::stride])
    return points


def build_point_cloud(points: np.ndarray, header: Header) -> PointCloud2:
    """PointCloud2 message for a structured ``[h, w]`` POINT_DTYPE array."""
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = int(points.shape[0]), int(points.shape[1])
    msg.fields = POINT_FIELDS
    msg.is_bigendian = False
    msg.point_step = POINT_DTYPE.itemsize
    msg.row_step = POINT_DTYPE.itemsize * msg.width
    msg.is_dense = False
    msg.data = to_byte_array(points)
    return msg
