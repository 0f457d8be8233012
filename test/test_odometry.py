"""Known answers for camera mounts, rotation conversions and odometry integration in REP 103/105 frames."""
from __future__ import annotations

import numpy as np
import pytest

from depth_motion_ros.odometry import TWIST_LINEAR_VARIANCE_FLOOR, MotionUncertainty, OdometryIntegrator, camera_mount
from depth_motion_ros.transforms import (
    invert_rigid,
    matrix_to_quaternion,
    matrix_to_rotvec,
    rigid_from_motion,
    rotvec_to_matrix,
    rpy_to_matrix,
)

#: Motions without error: the pose arithmetic does not depend on the covariances.
CERTAIN = MotionUncertainty(scale=0.0, step=0.0, rotation=0.0)


def test_forward_camera_mount_maps_optical_axes_to_base_axes():
    mount = camera_mount([0.2, 0.0, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(mount[:3, :3] @ [0, 0, 1], [1, 0, 0], atol=1e-12)   # optical z = forward
    np.testing.assert_allclose(mount[:3, :3] @ [1, 0, 0], [0, -1, 0], atol=1e-12)  # optical x = right
    np.testing.assert_allclose(mount[:3, :3] @ [0, 1, 0], [0, 0, -1], atol=1e-12)  # optical y = down
    np.testing.assert_allclose(mount[:3, 3], [0.2, 0.0, 1.0])


def test_mount_with_yaw_looks_left():
    mount = camera_mount([0, 0, 0, 0, 0, np.pi / 2])
    np.testing.assert_allclose(mount[:3, :3] @ [0, 0, 1], [0, 1, 0], atol=1e-12)


def test_mount_rejects_wrong_length():
    with pytest.raises(ValueError, match="6 values"):
        camera_mount([0, 0, 0])


def test_rpy_matches_z_y_x_composition():
    roll, pitch, yaw = 0.1, -0.2, 0.3
    expected = rotvec_to_matrix([0, 0, yaw]) @ rotvec_to_matrix([0, pitch, 0]) @ rotvec_to_matrix(
        [roll, 0, 0])
    np.testing.assert_allclose(rpy_to_matrix(roll, pitch, yaw), expected, atol=1e-12)


@pytest.mark.parametrize("rotvec", [[0, 0, 0], [0.3, -0.2, 0.1], [0, 0, 3.0], [2.5, 1.0, -1.0]])
def test_axis_angle_round_trip(rotvec):
    np.testing.assert_allclose(matrix_to_rotvec(rotvec_to_matrix(rotvec)), rotvec, atol=1e-9)


@pytest.mark.parametrize("rotvec", [[0, 0, 0], [0, 0, np.pi / 2], [np.pi, 0, 0], [0, 3.1, 0], [1, 2, 0.5]])
def test_quaternion_known_answers(rotvec):
    rotvec = np.asarray(rotvec, dtype=float)
    angle = np.linalg.norm(rotvec)
    axis = rotvec / angle if angle > 0 else np.array([1.0, 0, 0])
    expected = np.concatenate([axis * np.sin(angle / 2), [np.cos(angle / 2)]])
    q = matrix_to_quaternion(rotvec_to_matrix(rotvec))
    assert q[3] >= 0
    np.testing.assert_allclose(q, expected if expected[3] >= 0 else -expected, atol=1e-9)


def test_invert_rigid():
    transform = rigid_from_motion(np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(invert_rigid(transform) @ transform, np.eye(4), atol=1e-12)


def test_camera_moving_forward_drives_base_link_along_x_with_body_twist():
    integrator = OdometryIntegrator(camera_mount([0.3, 0, 1.2, 0, 0, 0]))
    step = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, 0.5]))  # optical z forward, 0.5 m per frame
    for _ in range(4):
        state = integrator.update(step, dt=0.1, uncertainty=CERTAIN)
    np.testing.assert_allclose(state.odom_T_base[:3, 3], [2.0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(state.odom_T_base[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(state.linear_velocity, [5.0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(state.angular_velocity, 0, atol=1e-12)


def test_camera_yawing_left_turns_base_link_left_and_arcs():
    """Optical y points down, so a left turn of the robot is a rotation of -angle about optical y."""
    integrator = OdometryIntegrator(camera_mount([0, 0, 0, 0, 0, 0]))
    step = rigid_from_motion(np.array([0.0, -np.pi / 2, 0.0]), np.array([0.0, 0.0, 1.0]))
    state = integrator.update(step, dt=1.0, uncertainty=CERTAIN)
    np.testing.assert_allclose(state.angular_velocity, [0, 0, np.pi / 2], atol=1e-9)
    state = integrator.update(step, dt=1.0, uncertainty=CERTAIN)
    # 1 m forward, turn left, 1 m forward (now along +y), turn left: at (1, 1) facing -x.
    np.testing.assert_allclose(state.odom_T_base[:3, 3], [1.0, 1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(state.odom_T_base[:3, :3] @ [1, 0, 0], [-1, 0, 0], atol=1e-9)
    # Linear velocity is in the current base frame: the last 1 m was straight ahead before the turn,
    # i.e. to the robot's right after it (-y).
    np.testing.assert_allclose(state.linear_velocity, [0, -1, 0], atol=1e-9)


def test_reset_returns_to_origin_and_zero_dt_keeps_previous_twist():
    integrator = OdometryIntegrator(np.eye(4))
    step = rigid_from_motion(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    integrator.update(step, dt=0.5, uncertainty=CERTAIN)
    state = integrator.update(step, dt=0.0, uncertainty=CERTAIN)
    np.testing.assert_allclose(state.linear_velocity, [2.0, 0, 0])
    np.testing.assert_allclose(state.odom_T_base[:3, 3], [2.0, 0, 0])
    integrator.reset()
    np.testing.assert_allclose(integrator.state.odom_T_base, np.eye(4))
    np.testing.assert_allclose(integrator.state.linear_velocity, 0)


def test_pose_covariance_grows_as_a_random_walk_with_distance_and_frames():
    """Known answers: step errors add per step (sum of (step x length)^2), the shared scale error multiplies
    the whole distance, and a heading error at step j turns the rest of the path (sum of sigma^2 (D - D_j)^2);
    rotation variance grows by sigma^2 per frame pair, also standing still."""
    forward = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, 1.0]))  # 1 m per pair
    still = np.eye(4)
    only_steps = OdometryIntegrator(camera_mount([0.0] * 6))
    for _ in range(4):
        state = only_steps.update(forward, dt=0.5, uncertainty=MotionUncertainty(0.0, 0.1, 0.0))
    np.testing.assert_allclose(state.pose_variance, [4 * 0.01] * 3 + [0.0] * 3, atol=1e-15)
    # Twist: (0.1 x 2 m/s)^2 per linear axis, no rotation error.
    np.testing.assert_allclose(state.twist_variance, [0.04] * 3 + [0.0] * 3, atol=1e-15)

    only_scale = OdometryIntegrator(camera_mount([0.0] * 6))
    for _ in range(4):
        state = only_scale.update(forward, dt=0.5, uncertainty=MotionUncertainty(0.05, 0.0, 0.0))
    np.testing.assert_allclose(state.pose_variance[:3], (0.05 * 4.0) ** 2)  # correlated: grows with D^2
    state = only_scale.update(forward, dt=0.5, uncertainty=MotionUncertainty(0.0, 0.0, 0.0))
    # A scale known from now on does not undo the earlier steps' error.
    np.testing.assert_allclose(state.pose_variance[:3], (0.05 * 4.0) ** 2)

    heading = OdometryIntegrator(camera_mount([0.0] * 6))
    for _ in range(3):
        state = heading.update(forward, dt=0.5, uncertainty=MotionUncertainty(0.0, 0.0, 0.01))
    # The errors before steps 1, 2, 3 turn 3, 2 and 1 m of path: 1e-4 x (9 + 4 + 1).
    np.testing.assert_allclose(state.pose_variance, [14e-4] * 3 + [3e-4] * 3, rtol=1e-12)
    state = heading.update(still, dt=0.5, uncertainty=MotionUncertainty(0.0, 0.0, 0.01))
    np.testing.assert_allclose(state.pose_variance, [14e-4] * 3 + [4e-4] * 3, rtol=1e-12)
    # Standing still: the linear twist variance keeps its floor, the angular one is sigma^2 / dt^2.
    np.testing.assert_allclose(state.twist_variance, [TWIST_LINEAR_VARIANCE_FLOOR] * 3 + [4e-4] * 3)
    heading.reset()
    np.testing.assert_allclose(heading.state.pose_variance, 0.0)

    steady = OdometryIntegrator(camera_mount([0.0] * 6))
    for _ in range(3):
        state = steady.update(forward, dt=0.5, uncertainty=MotionUncertainty(0.0, 0.0, 0.0, rotation_bias=0.01))
    # A repeated error turns 3, 2 and 1 m of path the same way: (0.01 x 6)^2, and the rotation (3 x 0.01)^2.
    np.testing.assert_allclose(state.pose_variance, [0.0036] * 3 + [9e-4] * 3, rtol=1e-12)
    np.testing.assert_allclose(state.twist_variance[3:], 0.01 ** 2 / 0.5 ** 2)  # one pair's error over dt
