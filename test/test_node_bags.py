"""The node over the real bags in ../shared/data/bags, played by the test like `ros2 bag play` would.

Topics keep their recorded names and reach the node through remapping, as on a robot.
"""
# Fixtures are imported by name from node_harness and then requested as arguments, which pyflakes reads
# as redefinitions:
# ruff: noqa: F811
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_motion_ros.geometry.intrinsics import resize_intrinsics

from node_harness import checkpoint, depth_array, harness_factory, seconds, send_and_wait, wait_until  # noqa: F401 (fixtures used by these tests)

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _read_bag(path: Path, image_topic: str, info_topic: str, limit: int) -> list[tuple[object, object]]:
    """(image, camera_info) rosbags messages in recording order, pairing each image with the latest info."""
    from rosbags.highlevel import AnyReader

    pairs, info = [], None
    with AnyReader([path]) as reader:
        connections = [c for c in reader.connections if c.topic in (image_topic, info_topic)]
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == info_topic:
                info = msg
            elif info is not None:
                pairs.append((msg, info))
                if len(pairs) == limit:
                    break
    return pairs


def _header(target, source) -> None:
    target.header.stamp.sec, target.header.stamp.nanosec = source.header.stamp.sec, source.header.stamp.nanosec
    target.header.frame_id = source.header.frame_id


def _to_ros_image(msg) -> Image | CompressedImage:
    if hasattr(msg, "format"):
        out = CompressedImage(format=msg.format, data=bytes(msg.data))
    else:
        out = Image(height=msg.height, width=msg.width, encoding=msg.encoding, is_bigendian=msg.is_bigendian,
                    step=msg.step, data=bytes(msg.data))
    _header(out, msg)
    return out


def _to_ros_info(msg) -> CameraInfo:
    out = CameraInfo(height=msg.height, width=msg.width, distortion_model=msg.distortion_model,
                     d=[float(v) for v in msg.d], k=[float(v) for v in msg.k])
    _header(out, msg)
    return out


# EuRoC's first camera_info follows its first image, and its lens is distorted: the first frame reaches the
# networks as recorded, the others rectified, so the first pair is not used for odometry.
@pytest.mark.parametrize("bag, image_topic, info_topic, transport, frames, odometry_steps", [
    ("7scenes_redkitchen_25f_ros2_mcap", "/camera/rgb/image_raw", "/camera/rgb/camera_info", "compressed", 8, 7),
    ("euroc_v101_5f_ros2_mcap", "/cam0/image_raw", "/cam0/camera_info", "raw", 4, 2),
])
def test_node_runs_over_a_real_bag(harness_factory, shared_data, bag, image_topic, info_topic, transport, frames,
                                   odometry_steps):
    bag_path = Path(shared_data) / "bags" / bag
    if not bag_path.exists():
        pytest.skip(f"{bag_path} not present")
    recorded = _read_bag(bag_path, image_topic + ("/compressed" if transport == "compressed" else ""),
                         info_topic, frames)
    assert len(recorded) == frames
    # Only 'image' is remapped: the compressed subscription follows it (image_transport's naming).
    h = harness_factory(input_transport=transport, remap={"image": image_topic, "camera_info": info_topic})
    depth_out = h.subscribe(Image, "/depth/image")
    info_out = h.subscribe(CameraInfo, "/depth/camera_info")
    points_out = h.subscribe(PointCloud2, "/points")
    odom_out = h.subscribe(Odometry, "/odom")
    image_type = CompressedImage if transport == "compressed" else Image
    camera = h.publisher(image_type, image_topic + ("/compressed" if transport == "compressed" else ""))
    info_pub = h.publisher(CameraInfo, info_topic)
    for image_msg, info_msg in recorded:
        info_pub.publish(_to_ros_info(info_msg))
        out = send_and_wait(camera, _to_ros_image(image_msg), depth_out)
        assert seconds(out.header.stamp) == pytest.approx(seconds(_to_ros_image(image_msg).header.stamp))
        assert out.header.frame_id == info_msg.header.frame_id
        depth = depth_array(out)
        assert depth.shape == (64, 96) and np.all(np.isfinite(depth)) and depth.min() > 0
    odom_out.wait_for(odometry_steps)
    points_out.wait_for(frames)
    info = recorded[-1][1]
    expected_k = resize_intrinsics(np.reshape(info.k, (3, 3)), (info.height, info.width), (64, 96))
    wait_until(lambda: len(info_out) >= frames, "depth/camera_info for every frame")
    np.testing.assert_allclose(np.reshape(info_out.messages[-1].k, (3, 3)), expected_k, rtol=1e-9)
