"""Bag sources: the real bags of ../shared/data, damaged copies, and small generated bags with known content."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_motion_ros.sources import DamagedBagWarning, SourceError, open_source
from depth_motion_ros.sources.poses import read_tum

SEVEN_SCENES_BAGS = ("7scenes_redkitchen_25f_ros2_db3", "7scenes_redkitchen_25f_ros2_mcap",
                     "7scenes_redkitchen_25f_ros1.bag")


@pytest.mark.parametrize("bag", SEVEN_SCENES_BAGS)
def test_seven_scenes_bag_gives_frames_intrinsics_depth_and_poses(shared_data: Path, bag: str) -> None:
    source = open_source("bag", str(shared_data / "bags" / bag))
    assert source.image_topic == "/camera/rgb/image_raw/compressed"
    assert source.depth_topic == "/camera/depth/image_raw/compressed"
    assert source.camera_info_topic == "/camera/rgb/camera_info"
    assert source.pose_topic == "/groundtruth/pose"
    assert len(source) == 25 and source.rate_hz == pytest.approx(30.0, rel=1e-3)
    frames = list(source)
    assert [f.index for f in frames] == list(range(25))
    # The bag holds frames 0-24 of the 7scenes_redkitchen sequence at full resolution (640x480).
    _, sequence_poses = read_tum(shared_data / "7scenes_redkitchen" / "poses.txt")
    assert np.allclose(source.intrinsics, [[585, 0, 320], [0, 585, 240], [0, 0, 1]])
    for frame in frames:
        assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
        assert np.allclose(frame.intrinsics, [[585, 0, 320], [0, 585, 240], [0, 0, 1]])
        assert frame.depth is not None and frame.depth.shape == (480, 640) and frame.depth.dtype == np.float32
        expected = sequence_poses[frame.index]
        assert np.allclose(frame.pose[:3, 3], expected[:3, 3], atol=1e-6)
        # The bag's and the text file's quaternions were converted separately from KinectFusion's slightly
        # non-orthonormal matrices; they agree to well under a degree.
        cos_angle = (np.trace(expected[:3, :3].T @ frame.pose[:3, :3]) - 1) / 2
        assert np.degrees(np.arccos(min(cos_angle, 1.0))) < 1.0
    halved = next(iter(open_source("sequence", str(shared_data / "7scenes_redkitchen"), end=1)))
    assert np.nanmean(frames[0].depth) == pytest.approx(np.nanmean(halved.depth), rel=0.01)
    assert source.skipped_messages == 0


def test_euroc_mono8_bag_needs_a_topic_and_reads_raw_grey_images(shared_data: Path) -> None:
    path = str(shared_data / "bags" / "euroc_v101_5f_ros2_mcap")
    with pytest.raises(SourceError, match="/cam0/image_raw.*\n.*/cam1/image_raw"):
        open_source("bag", path)
    frames = list(open_source("bag", path, topic="/cam0/image_raw"))
    assert len(frames) == 5
    first = frames[0]
    assert first.rgb.shape == (480, 752, 3)
    assert np.array_equal(first.rgb[..., 0], first.rgb[..., 2]), "mono8 is replicated to grey RGB"
    assert first.intrinsics[0, 0] == pytest.approx(458.654) and first.intrinsics[1, 2] == pytest.approx(248.375)
    assert first.depth is None
    assert np.diff([f.timestamp for f in frames]) == pytest.approx([0.05] * 4, abs=1e-6)
    assert all(f.pose is not None for f in frames), "200 Hz ground truth is interpolated at each image"


def test_euroc_frames_are_rectified_with_their_camera_info(shared_data: Path) -> None:
    """EuRoC's cam0 has strong barrel distortion (k1 = -0.28): frames come rectified unless asked otherwise."""
    from depth_motion_ros.image_rectification import Calibration, Rectifier

    path = str(shared_data / "bags" / "euroc_v101_5f_ros2_mcap")
    rectified = next(iter(open_source("bag", path, topic="/cam0/image_raw", end=1)))
    raw = next(iter(open_source("bag", path, topic="/cam0/image_raw", end=1, image_rectified=True)))
    k = [458.654, 0.0, 367.215, 0.0, 457.296, 248.375, 0.0, 0.0, 1.0]
    calibration = Calibration.from_fields(k, [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, 0.0],
                                          "plumb_bob", np.eye(3), np.hstack([np.reshape(k, (3, 3)), np.zeros((3, 1))]),
                                          (480, 752))
    expected = Rectifier(calibration).rectify(raw.rgb)
    assert np.abs(rectified.rgb.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(rectified.rgb.astype(int) - raw.rgb.astype(int)).mean() > 5, "the remap moved the pixels"
    np.testing.assert_allclose(rectified.intrinsics, np.reshape(k, (3, 3)))  # P = K in this calibration


def test_unknown_topic_error_lists_the_image_topics(shared_data: Path) -> None:
    with pytest.raises(SourceError) as error:
        open_source("bag", str(shared_data / "bags" / "7scenes_redkitchen_25f_ros2_mcap"), topic="/camera/rgb")
    text = str(error.value)
    assert "/camera/rgb/image_raw/compressed (sensor_msgs/msg/CompressedImage, 25 messages)" in text
    assert "/camera/depth/image_raw/compressed" in text


def _truncated_copy(source: Path, tmp_path: Path, fraction: float) -> Path:
    copy = tmp_path / source.name
    if source.is_dir():
        shutil.copytree(source, copy)
        storage = next(p for p in copy.iterdir() if p.suffix in (".mcap", ".db3"))
    else:
        shutil.copy(source, copy)
        storage = copy
    os.chmod(storage, 0o644)
    os.truncate(storage, int(storage.stat().st_size * fraction))
    return copy


@pytest.mark.parametrize("bag", ["7scenes_redkitchen_25f_ros2_mcap", "7scenes_redkitchen_25f_ros1.bag"])
def test_truncated_bag_is_read_up_to_the_damage_with_a_warning(shared_data: Path, tmp_path: Path, bag: str) -> None:
    original = shared_data / "bags" / bag
    damaged = _truncated_copy(original, tmp_path, 0.5)
    with pytest.warns(DamagedBagWarning, match="damage"):
        source = open_source("bag", str(damaged))
        frames = list(source)
    assert 0 < len(frames) < 25
    intact = list(open_source("bag", str(original), end=len(frames)))
    for got, expected in zip(frames, intact, strict=True):
        assert got.index == expected.index and np.array_equal(got.rgb, expected.rgb)
        assert np.array_equal(got.depth, expected.depth, equal_nan=True)


def test_bag_corrupt_in_the_middle_is_read_up_to_the_damage(shared_data: Path, tmp_path: Path) -> None:
    damaged = _truncated_copy(shared_data / "bags" / "7scenes_redkitchen_25f_ros1.bag", tmp_path, 1.0)
    with damaged.open("r+b") as stream:  # the index is intact; a chunk header in the middle is not
        stream.seek(int(damaged.stat().st_size * 0.6))
        stream.write(bytes(5000))
    with pytest.warns(DamagedBagWarning, match="damage"):
        frames = list(open_source("bag", str(damaged)))
    assert 0 < len(frames) < 25 and [f.index for f in frames] == list(range(len(frames)))


def test_damaged_sqlite_bag_is_a_clear_error(shared_data: Path, tmp_path: Path) -> None:
    damaged = _truncated_copy(shared_data / "bags" / "7scenes_redkitchen_25f_ros2_db3", tmp_path, 0.5)
    with pytest.raises(SourceError, match="recover"):
        open_source("bag", str(damaged))


TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
T = TYPESTORE.types
EPOCH_NS = 1_700_000_000 * 10**9


def _header(stamp_ns: int):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9,
                                                                             nanosec=stamp_ns % 10**9),
                                    frame_id="camera")


def _jpeg_message(stamp_ns: int, payload: bytes):
    return T["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns), format="jpeg",
                                               data=np.frombuffer(payload, dtype=np.uint8))


def _depth_message(stamp_ns: int, depth_mm: np.ndarray):
    data = depth_mm.astype("<u2").view(np.uint8).reshape(-1)
    return T["sensor_msgs/msg/Image"](header=_header(stamp_ns), height=depth_mm.shape[0], width=depth_mm.shape[1],
                                     encoding="16UC1", is_bigendian=0, step=depth_mm.shape[1] * 2, data=data)


def _pose_message(stamp_ns: int, x: float):
    return T["geometry_msgs/msg/PoseStamped"](
        header=_header(stamp_ns),
        pose=T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=x, y=0.0, z=0.0),
                                         orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)))


def _camera_info_at_double_size(stamp_ns: int):
    """Calibration of a 32x24 sensor (fx 20, cx 15.5) whose images are published binned to 16x12."""
    K = np.array([20.0, 0, 15.5, 0, 20.0, 11.5, 0, 0, 1])
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns), height=24, width=32, distortion_model="plumb_bob", d=np.zeros(5), k=K,
        r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0, binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


@pytest.fixture
def generated_bag(tmp_path: Path) -> Path:
    """4 JPEG frames at 10 Hz (the third corrupt), 16UC1 depth 4 ms late, poses at 5 Hz moving 1 m/s in x,
    and a CameraInfo calibrated at twice the image size."""
    path = tmp_path / "generated"
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage",
                                      typestore=TYPESTORE)
        depth = writer.add_connection("/cam/depth/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        pose = writer.add_connection("/gt/pose", "geometry_msgs/msg/PoseStamped", typestore=TYPESTORE)
        info = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE)
        messages = [(EPOCH_NS, info, _camera_info_at_double_size(EPOCH_NS))]
        for i in range(4):
            stamp = EPOCH_NS + i * 100_000_000
            rgb = np.full((12, 16, 3), 40 * i, dtype=np.uint8)
            payload = cv2.imencode(".jpg", rgb)[1].tobytes() if i != 2 else b"\xff\xd8\xffnot a jpeg"
            messages.append((stamp, image, _jpeg_message(stamp, payload)))
            depth_stamp = stamp + 4_000_000
            messages.append((depth_stamp, depth, _depth_message(depth_stamp, np.full((12, 16), 1000 + i, np.uint16))))
        for k in range(3):
            stamp = EPOCH_NS + k * 200_000_000
            messages.append((stamp, pose, _pose_message(stamp, 0.2 * k)))
        for stamp, connection, message in sorted(messages, key=lambda m: m[0]):
            writer.write(connection, stamp, TYPESTORE.serialize_cdr(message, message.__msgtype__))
    return path


def _distorted_bag(tmp_path: Path, image_topic: str, image_size: tuple[int, int]) -> tuple[Path, dict]:
    """Two rgb8 frames of `image_size` and same-size depth (mm, with a hole), and a camera_info of a 48 x 64
    camera with barrel distortion and a rectified camera P that differs from K."""
    from depth_motion_ros.image_rectification import Calibration

    k = np.array([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]])
    p = np.hstack([k @ np.diag([0.8, 0.8, 1.0]), np.zeros((3, 1))])
    d = np.array([-0.25, 0.06, 0.0, 0.0, 0.0])
    rng = np.random.default_rng(7)
    height, width = image_size
    rgb = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2)]
    depth_mm = np.tile(np.linspace(1000, 3000, width, dtype=np.uint16), (height, 1))
    depth_mm[:3, :3] = 0
    info = T["sensor_msgs/msg/CameraInfo"](
        header=_header(EPOCH_NS), height=48, width=64, distortion_model="plumb_bob", d=d, k=k.reshape(-1),
        r=np.eye(3).reshape(-1), p=p.reshape(-1), binning_x=0, binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    path = tmp_path / "distorted"
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection(image_topic, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        depth = writer.add_connection("/cam/depth/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        info_connection = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE)
        writer.write(info_connection, EPOCH_NS, TYPESTORE.serialize_cdr(info, info.__msgtype__))
        for i, frame in enumerate(rgb):
            stamp = EPOCH_NS + (i + 1) * 100_000_000
            message = T["sensor_msgs/msg/Image"](header=_header(stamp), height=height, width=width, encoding="rgb8",
                                                 is_bigendian=0, step=width * 3, data=frame.reshape(-1))
            writer.write(image, stamp, TYPESTORE.serialize_cdr(message, message.__msgtype__))
            writer.write(depth, stamp, TYPESTORE.serialize_cdr(_depth_message(stamp, depth_mm),
                                                               "sensor_msgs/msg/Image"))
    calibration = Calibration.from_fields(k, d, "plumb_bob", np.eye(3), p, (48, 64))
    return path, {"calibration": calibration, "rgb": rgb, "depth": depth_mm.astype(np.float32) / 1000}


@pytest.mark.parametrize("image_size", [(48, 64), (24, 32)])
def test_raw_frames_and_depth_are_rectified_to_p_at_any_binning(tmp_path: Path, image_size: tuple[int, int]) -> None:
    from depth_motion_ros.geometry.intrinsics import resize_intrinsics
    from depth_motion_ros.image_rectification import Rectifier

    path, truth = _distorted_bag(tmp_path, "/cam/image_raw", image_size)
    frames = list(open_source("bag", str(path)))
    rectifier = Rectifier(truth["calibration"].at_size(image_size))
    assert len(frames) == 2
    for frame, rgb in zip(frames, truth["rgb"], strict=True):
        np.testing.assert_array_equal(frame.rgb, rectifier.rectify(rgb))
        np.testing.assert_allclose(frame.intrinsics, resize_intrinsics(truth["calibration"].p[:, :3], (48, 64),
                                                                       image_size))
        expected_depth = rectifier.rectify(np.where(truth["depth"] > 0, truth["depth"], np.nan).astype(np.float32),
                                           nearest=True)
        np.testing.assert_array_equal(np.isnan(frame.depth), np.isnan(expected_depth))
        np.testing.assert_allclose(frame.depth[~np.isnan(frame.depth)], expected_depth[~np.isnan(expected_depth)],
                                   rtol=1e-6)
        assert np.isnan(frame.depth).sum() > 9, "beyond the raw image is unknown, not 0 m"


def test_an_image_rect_topic_is_used_as_recorded_with_p(tmp_path: Path) -> None:
    path, truth = _distorted_bag(tmp_path, "/cam/image_rect", (48, 64))
    source = open_source("bag", str(path))
    assert source.image_rectified
    frame = next(iter(source))
    np.testing.assert_array_equal(frame.rgb, truth["rgb"][0])
    np.testing.assert_allclose(frame.intrinsics, truth["calibration"].p[:, :3])
    raw = next(iter(open_source("bag", str(path), image_rectified=False)))
    assert not np.array_equal(raw.rgb, truth["rgb"][0]), "declared raw, it is rectified"


def test_depth_and_pose_are_matched_by_time_and_corrupt_images_skipped(generated_bag: Path) -> None:
    source = open_source("bag", str(generated_bag))
    assert (source.depth_topic, source.pose_topic) == ("/cam/depth/image_raw", "/gt/pose")
    assert source.camera_info_topic == "/cam/camera_info"
    # Rescaled to the 16x12 images: fx' = 20 / 2, cx' = (15.5 + 0.5) / 2 - 0.5.
    assert np.allclose(source.intrinsics, [[10, 0, 7.5], [0, 10, 5.5], [0, 0, 1]])
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 3], "the corrupt JPEG (index 2) is skipped, numbering kept"
    assert source.skipped_messages == 1
    for frame in frames:
        assert np.allclose(frame.depth, 1.0 + 0.001 * frame.index), "16UC1 millimetres of the same frame"
        assert frame.pose[0, 3] == pytest.approx(0.1 * frame.index, abs=1e-5), "interpolated between 5 Hz poses"
    assert frames[2].rgb.mean() == pytest.approx(120, abs=2)


def test_frame_range_and_tight_sync_tolerance(generated_bag: Path) -> None:
    frames = list(open_source("bag", str(generated_bag), start=1, end=4, stride=2, sync_tolerance=0.001))
    assert [f.index for f in frames] == [1, 3]
    assert all(f.depth is None for f in frames), "depth 4 ms away is outside a 1 ms tolerance"
