"""Message builders: images, camera_info, odometry, transforms, motion visualisation."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.image_encoding import ImageDecodeError
from depth_motion_ros.odometry import OdometryState
from depth_motion_ros.ros.camera_info import (
    CameraInfoError,
    build_camera_info,
    camera_model_from_info,
    intrinsics_from_camera_info,
)
from depth_motion_ros.ros.image_messages import message_to_rgb, numpy_to_image
from depth_motion_ros.ros.odometry_msgs import build_odometry, build_transform, odometry_pose
from depth_motion_ros.transforms import rotvec_to_matrix
from depth_motion_ros.visualisation import motion_colour, moving_mask


@pytest.mark.parametrize("values, encoding, step", [
    (np.ones((2, 3), np.float32), "32FC1", 12),
    (np.ones((2, 3, 3), np.float32), "32FC3", 36),
    (np.ones((2, 3), np.uint8), "mono8", 3),
    (np.ones((2, 3, 3), np.uint8), "rgb8", 9),
])
def test_numpy_to_image_encodings(values, encoding, step):
    msg = numpy_to_image(values, Header(frame_id="cam"))
    assert (msg.encoding, msg.step, msg.height, msg.width, msg.is_bigendian) == (encoding, step, 2, 3, 0)
    assert bytes(msg.data) == values.tobytes() and msg.header.frame_id == "cam"


def test_numpy_to_image_rejects_unknown_layout():
    with pytest.raises(ValueError, match="no ROS encoding"):
        numpy_to_image(np.ones((2, 2), np.float64), Header())


def test_message_to_rgb_dispatches_raw_and_compressed():
    raw = Image(height=1, width=2, encoding="bgr8", step=6, data=[1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(message_to_rgb(raw), [[[3, 2, 1], [6, 5, 4]]])
    with pytest.raises(ImageDecodeError, match="corrupt"):
        message_to_rgb(CompressedImage(format="jpeg", data=[0xFF, 0xD8, 0xFF, 0, 1, 2]))


def _camera_info(**changes) -> CameraInfo:
    msg = CameraInfo(height=480, width=640, k=[500.0, 0, 319.5, 0, 500.0, 239.5, 0, 0, 1])
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


def test_camera_model_is_kept_while_the_calibration_is_unchanged():
    plain = camera_model_from_info(_camera_info())
    assert plain.rectifier is None and plain.rectification_error is None, "no distortion: nothing to remap"
    distorted = _camera_info(d=[-0.28, 0.07, 0.0, 0.0, 0.0], distortion_model="plumb_bob")
    model = camera_model_from_info(distorted, plain)
    assert model is not plain and model.rectifier is not None
    assert camera_model_from_info(_camera_info(d=[-0.28, 0.07, 0.0, 0.0, 0.0], distortion_model="plumb_bob"),
                                  model) is model, "a republished camera_info reuses the maps"
    unsupported = camera_model_from_info(_camera_info(d=[0.1] * 4, distortion_model="kannala_brandt"), model)
    assert unsupported.rectifier is None and "kannala_brandt" in unsupported.rectification_error
    np.testing.assert_allclose(unsupported.k[0], [500, 0, 319.5])


def test_camera_info_validation():
    np.testing.assert_allclose(intrinsics_from_camera_info(_camera_info())[0], [500, 0, 319.5])
    with pytest.raises(CameraInfoError, match="NaN"):
        intrinsics_from_camera_info(_camera_info(k=[float("nan")] + [0.0] * 8))
    with pytest.raises(CameraInfoError, match="zero size"):
        intrinsics_from_camera_info(_camera_info(width=0))
    with pytest.raises(CameraInfoError, match="focal"):
        intrinsics_from_camera_info(_camera_info(k=[0.0] * 9))


def test_resize_intrinsics_keeps_the_image_centre():
    k = intrinsics_from_camera_info(_camera_info())
    small = resize_intrinsics(k, (480, 640), (128, 256))
    np.testing.assert_allclose(small, [[200, 0, 127.5], [0, 500 * 128 / 480, 63.5], [0, 0, 1]])


def test_build_camera_info():
    k = np.array([[200.0, 0, 127.5], [0, 100.0, 63.5], [0, 0, 1]])
    msg = build_camera_info(k, (128, 256), Header(frame_id="cam"))
    assert (msg.height, msg.width, msg.header.frame_id) == (128, 256, "cam")
    np.testing.assert_allclose(np.reshape(msg.p, (3, 4))[:, :3], k)
    assert list(msg.d) == [0.0] * 5


def test_odometry_and_transform_messages():
    pose = np.eye(4)
    pose[:3, :3] = rotvec_to_matrix([0, 0, np.pi / 2])
    pose[:3, 3] = [1.0, 2.0, 0.0]
    state = OdometryState(pose, np.array([0.5, 0, 0]), np.array([0, 0, 0.1]), np.arange(1.0, 7.0),
                          np.full(6, 0.1))
    header = Header(frame_id="odom")
    msg = build_odometry(state, header, "base_link")
    assert msg.header.frame_id == "odom" and msg.child_frame_id == "base_link"
    assert (msg.pose.pose.position.x, msg.pose.pose.position.y) == (1.0, 2.0)
    np.testing.assert_allclose([msg.pose.pose.orientation.z, msg.pose.pose.orientation.w],
                               [np.sqrt(0.5), np.sqrt(0.5)])
    assert msg.twist.twist.linear.x == 0.5 and msg.twist.twist.angular.z == pytest.approx(0.1)
    np.testing.assert_allclose(np.reshape(msg.pose.covariance, (6, 6)), np.diag([1, 2, 3, 4, 5, 6]))
    np.testing.assert_allclose(np.reshape(msg.twist.covariance, (6, 6)), np.diag([0.1] * 6))
    np.testing.assert_allclose(odometry_pose(msg), pose, atol=1e-12)  # a robot's Odometry read back
    transform = build_transform(state, header, "base_link")
    assert transform.child_frame_id == "base_link" and transform.transform.translation.y == 2.0
    assert transform.transform.rotation.w == pytest.approx(np.sqrt(0.5))


def test_motion_mask_and_colour():
    field = np.zeros((2, 2, 3), np.float32)
    field[0, 0] = [0.2, 0.0, 0.0]      # rightwards, fast
    field[0, 1] = [0.0, 0.0, 0.01]     # slow, along the view axis
    field[1, 0] = np.nan
    np.testing.assert_array_equal(moving_mask(field, 0.05), [[255, 0], [0, 0]])
    colour = motion_colour(field, full_scale=0.2)
    np.testing.assert_array_equal(colour[0, 0], [255, 0, 0])        # hue 0 = red at full brightness
    np.testing.assert_array_equal(colour[1, 0], [0, 0, 0])          # NaN -> black
    assert colour[0, 1].max() == colour[0, 1].min() > 0             # view-axis motion is grey/white
