"""The organised cloud has depth_image_proc's layout and exact back-projected coordinates and colours."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import PointField
from std_msgs.msg import Header

from depth_motion_ros.ros.pointcloud import build_point_cloud, organised_points, pack_rgb

K = np.array([[10.0, 0, 2.0], [0, 20.0, 1.0], [0, 0, 1]])


def _depth_and_rgb():
    depth = np.full((4, 6), 2.0, dtype=np.float32)
    depth[0, 0] = np.nan
    depth[3, 5] = 100.0
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    return depth, rgb


def test_coordinates_colour_and_invalid_points():
    depth, rgb = _depth_and_rgb()
    points = organised_points(depth, K, rgb, stride=1, max_range=50.0)
    assert points.shape == (4, 6)
    # pixel (u=4, v=3): x = (4-2)/10*2, y = (3-1)/20*2, z = 2
    np.testing.assert_allclose([points["x"][3, 4], points["y"][3, 4], points["z"][3, 4]], [0.4, 0.2, 2.0],
                               rtol=1e-6)
    assert np.isnan(points["x"][0, 0]) and np.isnan(points["z"][0, 0])  # NaN depth
    assert np.isnan(points["z"][3, 5])  # beyond max range
    assert points["rgb"][1, 1] == (10 << 16) | (20 << 8) | 30


def test_zero_max_range_keeps_far_points_and_stride_subsamples():
    depth, rgb = _depth_and_rgb()
    assert organised_points(depth, K, rgb, stride=1, max_range=0.0)["z"][3, 5] == 100.0
    strided = organised_points(depth, K, rgb, stride=2, max_range=0.0)
    assert strided.shape == (2, 3)
    np.testing.assert_allclose(strided["x"][1, 2], (4 - 2) / 10 * 2.0, rtol=1e-6)  # pixel (u=4, v=2)


def test_colour_resolution_must_match():
    depth, rgb = _depth_and_rgb()
    with pytest.raises(ValueError, match="resolutions differ"):
        organised_points(depth, K, rgb[:2], stride=1, max_range=0.0)


def test_message_layout_is_depth_image_proc_xyzrgb():
    depth, rgb = _depth_and_rgb()
    msg = build_point_cloud(organised_points(depth, K, rgb, 1, 50.0), Header(frame_id="cam"))
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (4, 6, 32, 192)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1), ("rgb", 16, PointField.FLOAT32, 1)]
    assert not msg.is_dense and not msg.is_bigendian and len(msg.data) == 4 * 6 * 32
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(4, 6, 32)
    z = raw[2, 3, 8:12].view("<f4")[0]
    colour = raw[2, 3, 16:20].view("<u4")[0]
    assert z == 2.0 and colour == pack_rgb(np.array([10, 20, 30], np.uint8))
