"""Known answers for the odometry scale (odometry_scale.py): matching the robot's odometry to image stamps,
recovering the scale on synthetic trajectories, ignoring standstill, and the uncertainty it measures."""
from __future__ import annotations

import math

import numpy as np
import pytest

from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.odometry_scale import OdometryMatchError, OdometryScaleEstimator, RobotOdometryBuffer
from depth_motion_ros.transforms import invert_rigid, rigid_from_motion, rpy_to_matrix


def planar_pose(x: float, y: float, yaw: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rpy_to_matrix(0.0, 0.0, yaw)
    pose[:3, 3] = (x, y, 0.0)
    return pose


def test_the_pose_at_an_image_stamp_is_interpolated_between_the_two_odometry_messages():
    buffer = RobotOdometryBuffer()
    buffer.add(10.0, planar_pose(0.0, 0.0, 0.0))
    buffer.add(10.2, planar_pose(1.0, 0.0, math.pi / 2))
    pose = buffer.pose_at(10.05)
    np.testing.assert_allclose(pose[:3, 3], [0.25, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], rpy_to_matrix(0.0, 0.0, math.pi / 8), atol=1e-12)  # slerp
    np.testing.assert_allclose(buffer.pose_at(10.2), planar_pose(1.0, 0.0, math.pi / 2), atol=1e-12)


def test_stamps_outside_the_buffer_are_refused_with_a_reason_never_extrapolated():
    buffer = RobotOdometryBuffer(span_s=1.0)
    with pytest.raises(OdometryMatchError) as empty:
        buffer.pose_at(0.0)
    assert empty.value.reason == "no robot odometry yet"
    for i in range(31):  # 0 .. 3 s at 10 Hz; a 1 s span keeps 2.0 .. 3.0
        buffer.add(i * 0.1, planar_pose(i * 0.1, 0.0, 0.0))
    assert len(buffer) == 11
    with pytest.raises(OdometryMatchError) as old:
        buffer.pose_at(1.5)
    assert old.value.reason == "image older than the buffered robot odometry"
    with pytest.raises(OdometryMatchError) as new:
        buffer.pose_at(3.05)
    assert new.value.reason == "image newer than the latest robot odometry" and "3.050" in str(new.value)
    assert not buffer.add(3.0, planar_pose(9.0, 0.0, 0.0))  # a repeated stamp changes nothing
    assert buffer.add(0.5, planar_pose(0.0, 0.0, 0.0))      # time went back (a bag loop): start again
    assert len(buffer) == 1
    assert not buffer.add(0.6, np.full((4, 4), np.nan))


def test_the_camera_motion_is_the_optical_frames_including_the_mount_lever_arm():
    """A robot turning on the spot moves a camera mounted 0.5 m ahead of its base: 90 degrees left takes the
    camera from (0.5, 0) to (0, 0.5), a chord of 0.5 sqrt(2) m, and the optical frame yaws about its -y."""
    buffer = RobotOdometryBuffer()
    buffer.add(0.0, planar_pose(0.0, 0.0, 0.0))
    buffer.add(1.0, planar_pose(0.0, 0.0, math.pi / 2))
    mount = camera_mount([0.5, 0.0, 0.3, 0.0, 0.0, 0.0])
    motion = buffer.camera_motion(0.0, 1.0, mount)
    assert np.linalg.norm(motion[:3, 3]) == pytest.approx(0.5 * math.sqrt(2))
    np.testing.assert_allclose(motion[:3, :3], rigid_from_motion(np.array([0.0, -math.pi / 2, 0.0]),
                                                                 np.zeros(3))[:3, :3], atol=1e-12)


def forward_pairs(units_per_metre: float, steps: int, step_m: float = 0.1):
    """(robot motion in metres, network motion in model units) of a camera driving forward along optical z."""
    for _ in range(steps):
        robot = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, step_m]))
        network = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, step_m * units_per_metre]))
        yield robot, network


def test_the_scale_is_recovered_from_a_synthetic_trajectory_with_outliers():
    estimator = OdometryScaleEstimator(window=30, min_speed=0.05, min_pairs=3)
    assert estimator.scale is None and estimator.uncertainty() is None
    rng = np.random.default_rng(0)
    for i, (robot, network) in enumerate(forward_pairs(units_per_metre=4.0, steps=30)):
        network = network.copy()
        network[:3, 3] *= 1.0 + rng.normal(0.0, 0.05)  # the network's 5 % per-step noise
        if i % 10 == 0:
            network[:3, 3] *= 3.0                       # a wild pair (a moving object filling the view)
        assert estimator.add(robot, network, dt=0.1)
    scale = estimator.scale
    assert scale is not None and scale == pytest.approx(0.25, rel=0.03)
    uncertainty = estimator.uncertainty()
    assert uncertainty is not None
    assert 0.02 < uncertainty.step < 0.10  # the 5 % per-step noise, robustly (the wild pairs barely count)
    assert uncertainty.scale == pytest.approx(1.2533 * uncertainty.step / math.sqrt(30))
    assert uncertainty.rotation == 0.0 and uncertainty.rotation_bias == 0.0  # both say: no rotation


def test_standstill_pairs_are_ignored_and_the_window_follows_a_new_scale():
    estimator = OdometryScaleEstimator(window=5, min_speed=0.05, min_pairs=3)
    still = np.eye(4)
    jitter = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, 0.3]))  # the network's noise at standstill
    slow = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, 0.004]))  # 0.04 m/s over 0.1 s: too slow
    assert not estimator.add(still, jitter, dt=0.1)
    assert not estimator.add(slow, jitter, dt=0.1)
    assert not estimator.add(slow, jitter, dt=0.0)
    assert not estimator.add(rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, 0.1])), still, dt=0.1)
    assert estimator.pairs == 0 and estimator.scale is None
    for robot, network in forward_pairs(2.0, 5):
        estimator.add(robot, network, dt=0.1)
    assert estimator.scale == pytest.approx(0.5)
    for robot, network in forward_pairs(4.0, 3):  # e.g. another scene: three of five pairs say 0.25
        estimator.add(robot, network, dt=0.1)
    assert estimator.scale == pytest.approx(0.25)
    estimator.configure(window=2, min_speed=0.05)
    assert estimator.pairs == 2 and estimator.scale is None  # 2 pairs < min_pairs
    estimator.reset()
    assert estimator.pairs == 0


def test_the_rotation_uncertainty_is_the_disagreement_with_the_robot_repeated_and_random():
    """Network rotations off by +-0.01 rad in turn: no repeated part, random deviation per axis
    sqrt(median angle^2 / 2.366); always off by +0.01 rad: all of it repeated, none random."""
    robot = rigid_from_motion(np.array([0.0, 0.2, 0.0]), np.array([0.0, 0.0, 0.5]))

    def network(error: float) -> np.ndarray:
        return rigid_from_motion(np.array([0.0, 0.2 + error, 0.0]), np.array([0.0, 0.0, 1.0]))

    alternating = OdometryScaleEstimator(window=10, min_speed=0.0, min_pairs=1)
    for error in (0.01, -0.01, 0.01, -0.01):
        alternating.add(robot, network(error), dt=0.1)
    uncertainty = alternating.uncertainty()
    assert uncertainty is not None and alternating.scale == pytest.approx(0.5)
    assert uncertainty.rotation == pytest.approx(0.01 / math.sqrt(2.366), rel=1e-6)
    assert uncertainty.rotation_bias == pytest.approx(0.0, abs=1e-12)
    assert uncertainty.step == 0.0 and uncertainty.scale == 0.0

    steady = OdometryScaleEstimator(window=10, min_speed=0.0, min_pairs=1)
    for _ in range(4):
        steady.add(robot, network(0.01), dt=0.1)
    uncertainty = steady.uncertainty()
    assert uncertainty is not None
    assert uncertainty.rotation_bias == pytest.approx(0.01, rel=1e-6)
    assert uncertainty.rotation == pytest.approx(0.0, abs=1e-9)


def test_a_trajectory_played_through_the_buffer_gives_the_scale_at_the_image_stamps():
    """Odometry at 50 Hz, images at 15 Hz in between: the pairs' distances come from interpolation and the
    scale from their ratio to the network's; a camera 1.2 m up on a robot driving an arc."""
    mount = camera_mount([0.2, 0.0, 1.2, 0.0, 0.0, 0.0])
    buffer = RobotOdometryBuffer()
    speed, yaw_rate = 1.0, 0.3

    def robot_pose(t: float) -> np.ndarray:  # an exact arc
        yaw = yaw_rate * t
        radius = speed / yaw_rate
        return planar_pose(radius * math.sin(yaw), radius * (1 - math.cos(yaw)), yaw)

    for i in range(101):
        buffer.add(i * 0.02, robot_pose(i * 0.02))
    estimator = OdometryScaleEstimator(window=30, min_speed=0.05, min_pairs=3)
    stamps = np.arange(0.01, 1.9, 1 / 15)
    for previous, stamp in zip(stamps[:-1], stamps[1:], strict=True):
        truth = invert_rigid(mount) @ invert_rigid(robot_pose(previous)) @ robot_pose(stamp) @ mount
        network = truth.copy()
        network[:3, 3] *= 7.0  # model units: 7 per metre
        assert estimator.add(buffer.camera_motion(previous, stamp, mount), network, dt=stamp - previous)
    # Linear interpolation along the 0.02 s chords of the arc shortens nothing measurable at this curvature.
    assert estimator.scale == pytest.approx(1 / 7.0, rel=1e-4)
