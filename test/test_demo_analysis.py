"""Known-answer tests of the demo's decoding, scoring and drawing helpers (no ROS graph needed)."""
from __future__ import annotations

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from depth_motion_ros.cli.bag_player import cdr_stamp_ns, message_class, with_cdr_stamp
from depth_motion_ros.cli.demo_analysis import (
    FrameOutputs,
    cloud_points,
    collect_outputs,
    float_image,
    odometry_pose,
    score,
    stamp_key,
)
from depth_motion_ros.cli.node_session import parameter_arguments
from depth_motion_ros.cli.summary import Alignment, accumulate_points, map_bounds, trajectory_alignment
from depth_motion_ros.cli.topic_recorder import RecordedMessage
from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.transforms import pose_matrix

TS = get_typestore(Stores.ROS2_HUMBLE)
T = TS.types


def _header(stamp_ns: int):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9,
                                                                           nanosec=stamp_ns % 10**9), frame_id="c")


def _image(array: np.ndarray, encoding: str, stamp_ns: int = 5, pad: int = 0, big_endian: bool = False):
    height, width = array.shape[:2]
    dtype = array.dtype.newbyteorder(">" if big_endian else "<")
    rows = np.ascontiguousarray(array.astype(dtype)).view(np.uint8).reshape(height, -1)
    data = np.concatenate([rows, np.zeros((height, pad), np.uint8)], axis=1).reshape(-1)
    return T["sensor_msgs/msg/Image"](header=_header(stamp_ns), height=height, width=width, encoding=encoding,
                                      is_bigendian=int(big_endian), step=rows.shape[1] + pad, data=data)


def _recorded(topic: str, message) -> RecordedMessage:
    data = bytes(TS.serialize_cdr(message, message.__msgtype__))
    return RecordedMessage(topic, 0, cdr_stamp_ns(data), data)


def test_cdr_stamp_is_read_from_the_serialized_header() -> None:
    data = bytes(TS.serialize_cdr(_image(np.zeros((2, 2), np.float32), "32FC1", 1_700_000_000_123_456_789),
                                  "sensor_msgs/msg/Image"))
    assert cdr_stamp_ns(data) == 1_700_000_000_123_456_789


def test_stamp_rewrite_changes_only_the_header_stamp() -> None:
    image = _image(np.arange(4, dtype=np.float32).reshape(2, 2), "32FC1", 1_700_000_000_900_000_000)
    data = bytes(TS.serialize_cdr(image, "sensor_msgs/msg/Image"))
    shifted = with_cdr_stamp(data, 1_700_086_401_100_000_000)
    assert cdr_stamp_ns(shifted) == 1_700_086_401_100_000_000 and len(shifted) == len(data)
    decoded = TS.deserialize_cdr(shifted, "sensor_msgs/msg/Image")
    assert decoded.header.frame_id == "c" and np.array_equal(float_image(decoded), float_image(image))


def test_message_class_resolves_rclpy_types() -> None:
    from sensor_msgs.msg import PointCloud2
    assert message_class("sensor_msgs/msg/PointCloud2") is PointCloud2


@pytest.mark.parametrize("pad,big_endian", [(0, False), (8, False), (4, True)])
def test_float_images_decode_with_padding_and_either_endianness(pad: int, big_endian: bool) -> None:
    depth = np.arange(12, dtype=np.float32).reshape(3, 4) + 0.5
    assert np.array_equal(float_image(_image(depth, "32FC1", pad=pad, big_endian=big_endian)), depth)
    field = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    assert np.array_equal(float_image(_image(field, "32FC3", pad=pad, big_endian=big_endian)), field)
    with pytest.raises(ValueError):
        float_image(_image(np.zeros((2, 2), np.uint8), "mono8"))


def test_point_cloud_fields_are_found_by_offset_and_nan_points_dropped() -> None:
    fields = [T["sensor_msgs/msg/PointField"](name=n, offset=o, datatype=7, count=1)
              for n, o in (("x", 0), ("y", 4), ("z", 8), ("rgb", 16))]
    points = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("pad", "<f4"), ("rgb", "<u4"),
                                ("rest", "V12")])
    points["x"], points["y"], points["z"] = [1, np.nan, 3], [4, 5, 6], [7, 8, 9]
    points["rgb"] = [(10 << 16) | (20 << 8) | 30, 0, (255 << 16)]
    cloud = T["sensor_msgs/msg/PointCloud2"](header=_header(1), height=1, width=3, fields=fields,
                                             is_bigendian=False, point_step=32, row_step=96,
                                             data=np.frombuffer(points.tobytes(), np.uint8), is_dense=False)
    xyz, rgb = cloud_points(cloud)
    assert xyz.tolist() == [[1, 4, 7], [3, 6, 9]]
    assert rgb.tolist() == [[10, 20, 30], [255, 0, 0]]


def _odometry(stamp_ns: int, pose: np.ndarray):
    from depth_motion_ros.transforms import matrix_to_quaternion
    qx, qy, qz, qw = matrix_to_quaternion(pose[:3, :3])
    x, y, z = pose[:3, 3]
    return T["nav_msgs/msg/Odometry"](
        header=_header(stamp_ns), child_frame_id="base_link",
        pose=T["geometry_msgs/msg/PoseWithCovariance"](
            pose=T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=x, y=y, z=z),
                                            orientation=T["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)),
            covariance=np.zeros(36)),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](
            twist=T["geometry_msgs/msg/Twist"](linear=T["geometry_msgs/msg/Vector3"](x=0, y=0, z=0),
                                              angular=T["geometry_msgs/msg/Vector3"](x=0, y=0, z=0)),
            covariance=np.zeros(36)))


def test_odometry_of_base_link_becomes_the_optical_camera_trajectory() -> None:
    # The camera drives 2 m forward along its optical z; base_link (x forward) sees 2 m along x.
    mount = camera_mount([0.0] * 6)
    camera_step = pose_matrix((0.0, 0.0, 2.0), (0.0, 0.0, 0.0, 1.0))
    odom_T_base = mount @ camera_step @ np.linalg.inv(mount)
    assert np.allclose(odom_T_base[:3, 3], [2.0, 0.0, 0.0])
    assert np.allclose(odometry_pose(_odometry(7, odom_T_base)), odom_T_base)
    messages = [_recorded("/ns/depth/image", _image(np.ones((2, 2), np.float32), "32FC1", stamp_ns=3)),
                _recorded("/ns/depth/image", _image(np.ones((2, 2), np.float32), "32FC1", stamp_ns=7)),
                _recorded("/ns/odom", _odometry(7, odom_T_base))]
    frames = collect_outputs(messages, "/ns", mount)
    assert [f.stamp_ns for f in frames] == [3, 7]
    assert np.allclose(frames[0].camera_pose, np.eye(4)), "odometry starts at the first processed frame"
    assert np.allclose(frames[1].camera_pose, camera_step)


def test_score_matches_outputs_to_ground_truth_by_stamp() -> None:
    depth = np.full((4, 4), 2.0, np.float32)
    gt = [Frame(index=i, timestamp=1.7e9 + 0.1 * i, rgb=np.zeros((4, 4, 3), np.uint8), depth=depth * 3,
                pose=pose_matrix((0.0, 0.0, float(i)), (0.0, 0.0, 0.0, 1.0))) for i in range(4)]
    inputs = {stamp_key(f.timestamp): f for f in gt}
    outputs = [FrameOutputs(stamp_ns=round(f.timestamp * 1e9), depth=depth,
                            camera_pose=pose_matrix((0.0, 0.0, 0.5 * i), (0.0, 0.0, 0.0, 1.0)))
               for i, f in enumerate(gt)]
    report = score(outputs, inputs)
    assert report.depth_images == 4 and report.depth["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert report.median_scale == pytest.approx(3.0)
    assert report.trajectory_ate == pytest.approx(0.0, abs=1e-6), "a scaled copy of the path is perfect"
    assert score(outputs, {}) is None
    outputs[2].camera_pose = None  # an odometry message that never arrived
    partial = score(outputs, inputs)
    assert partial.depth_images == 4 and partial.pose_frames == 3


def test_score_rates_the_node_field_against_the_truth_in_the_frame_s_own_camera() -> None:
    # The camera yaws 90 degrees between frames; a car moves 1 m along the next camera's x, which is the
    # first camera's -z. Frame 2 was dropped, so the pair (1, 3) has no one-step truth and is not scored.
    yaw = pose_matrix((0.0, 0.0, 0.0), (0.0, np.sin(np.pi / 4), 0.0, np.cos(np.pi / 4)))
    truth = np.zeros((4, 4, 3), np.float32)
    truth[1:3, 1:3] = (1.0, 0.0, 0.0)
    gt = [Frame(index=i, timestamp=1.7e9 + 0.1 * i, rgb=np.zeros((4, 4, 3), np.uint8),
                depth=np.full((4, 4), 5.0, np.float32), pose=yaw if i % 2 else np.eye(4), object_motion=truth)
          for i in range(4)]
    own = (yaw[:3, :3] @ [1.0, 0.0, 0.0]).astype(np.float32)
    assert np.allclose(own, [0.0, 0.0, -1.0], atol=1e-6)
    field = np.zeros((4, 4, 3), np.float32)
    field[1:3, 1:3] = own / 0.1  # the node publishes metres per second; the frames are 0.1 s apart
    processed = [gt[0], gt[1], gt[3]]
    outputs = [FrameOutputs(stamp_ns=round(f.timestamp * 1e9), depth=f.depth, motion_field=field) for f in processed]
    report = score(outputs, {stamp_key(f.timestamp): f for f in processed})
    assert report.object_motion["pairs"] == 1, "only (0, 1) is a one-step pair"
    assert report.object_motion["relative_epe"] == pytest.approx(0.0, abs=1e-6)
    assert report.object_motion["mover_iou"] == 1.0
    outputs[0].motion_field = np.tile(np.float32([10.0, 0.0, 0.0]), (4, 4, 1)) * (truth > 0)  # not rotated
    assert score(outputs, {stamp_key(f.timestamp): f for f in processed}).object_motion["relative_epe"] > 1.0


def test_sim3_alignment_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(10, 3)) * 5
    angle = 0.3
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    estimated = (truth - 1.0) @ rotation / 4.0       # so truth = 4 * estimated @ rotation.T + 1
    alignment = trajectory_alignment(estimated, truth)
    assert np.allclose(alignment.apply(estimated), truth, atol=1e-9)
    assert alignment.scale == pytest.approx(4.0)
    assert trajectory_alignment(estimated, None).scale == 1.0


def test_points_are_accumulated_in_the_aligned_world_and_the_map_follows_the_true_path() -> None:
    pose = pose_matrix((1.0, 0.0, 10.0), (0.0, 0.0, 0.0, 1.0))
    frame = FrameOutputs(stamp_ns=1, camera_pose=pose,
                         points=(np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 500.0]]), np.array([[1, 2, 3], [4, 5, 6]],
                                                                                         np.uint8)))
    xyz, rgb = accumulate_points([frame], Alignment(scale=2.0), max_range=40.0, rng=np.random.default_rng(0))
    assert xyz.tolist() == [[2.0, 0.0, 24.0]] and rgb.tolist() == [[1, 2, 3]]
    truth = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 40.0]])
    lo, hi = map_bounds(np.array([[1e4, 0.0, 1e4]]), truth * 0.01, truth)
    assert lo.tolist() == [-12.0, -12.0] and hi.tolist() == [12.0, 52.0]


def test_node_parameters_are_written_in_ros_argument_syntax() -> None:
    assert parameter_arguments({"checkpoint": "/m.pt", "publish_tf": False, "camera_mount": [0.0, 1.5],
                                "output_depth": 20}) == [
        "-p", "checkpoint:=/m.pt", "-p", "publish_tf:=false", "-p", "camera_mount:=[0.0, 1.5]",
        "-p", "output_depth:=20"]
