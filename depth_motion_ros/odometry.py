"""Visual odometry integration in numpy, in REP 103/105 frames.

The networks measure the camera (optical frame: x right, y down, z forward). Robots want the pose of
``base_link`` in ``odom``. With the camera mount ``B = base_T_optical`` and the per-frame camera motion
``T_prev_cur`` (pose of the current optical frame in the previous one), the base moves by
``B @ T_prev_cur @ inv(B)``; ``odom`` is where ``base_link`` was at start-up (or at the last reset).

The covariances published with the pose come from the estimate (`MotionUncertainty`, per frame pair) and
are accumulated as a random walk, so the pose's uncertainty grows with the distance travelled and the
frames integrated, as a dead-reckoning estimate's does (robot_localization and Nav2 weigh it by that).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_motion_ros.transforms import invert_rigid, matrix_to_rotvec, rpy_to_matrix

# Columns: the optical axes (x right, y down, z forward) written in the REP 103 camera body frame
# (x forward, y left, z up).
BODY_R_OPTICAL = np.array([[0.0, 0.0, 1.0],
                           [-1.0, 0.0, 0.0],
                           [0.0, -1.0, 0.0]])


def camera_mount(xyz_rpy: list[float] | tuple[float, ...]) -> np.ndarray:
    """``base_T_optical`` (4x4) from the camera body pose in ``base_link``: ``[x, y, z, roll, pitch, yaw]``.

    Users describe mounts as in URDF (camera body frame, x forward); the optical rotation is added here so
    nobody has to get it right by hand.
    """
    if len(xyz_rpy) != 6:
        raise ValueError(f"camera mount needs 6 values [x, y, z, roll, pitch, yaw], got {len(xyz_rpy)}")
    x, y, z, roll, pitch, yaw = (float(v) for v in xyz_rpy)
    mount = np.eye(4)
    mount[:3, :3] = rpy_to_matrix(roll, pitch, yaw) @ BODY_R_OPTICAL
    mount[:3, 3] = (x, y, z)
    return mount


#: Linear-velocity variance (m^2/s^2) below which the twist covariance never goes: at a standstill the
#: relative errors give zero, yet a network does not measure "not moving" exactly (0.01 m/s).
TWIST_LINEAR_VARIANCE_FLOOR = 1e-4


@dataclass(frozen=True)
class MotionUncertainty:
    """How uncertain one frame pair's camera motion is, as the scale estimate knows it.

    ``scale``: relative standard deviation of metres per model unit, an error shared by every step (it
    multiplies the whole path); 1.0 or more says the scale is unknown (not metric). ``step``: relative
    standard deviation of one step's length, independent from step to step. ``rotation``: standard
    deviation of one step's rotation about each axis, radians, independent from step to step.
    ``rotation_bias``: a rotation error every step repeats (radians, about any axis), which turns the path
    steadily and grows the error far faster than independent ones; only the robot's odometry measures it.
    """

    scale: float
    step: float
    rotation: float
    rotation_bias: float = 0.0


@dataclass(frozen=True)
class OdometryState:
    """Pose of ``base_link`` in ``odom`` and its body-frame velocity (REP 105 twist in the child frame), with
    the diagonals of their covariances (x y z roll pitch yaw; vx vy vz wx wy wz)."""

    odom_T_base: np.ndarray       # 4x4
    linear_velocity: np.ndarray   # m/s in base_link
    angular_velocity: np.ndarray  # rad/s in base_link
    pose_variance: np.ndarray     # [6]
    twist_variance: np.ndarray    # [6]


class OdometryIntegrator:
    """Chains per-frame camera motions into a ``base_link`` pose; reset puts ``base_link`` back at the origin."""

    def __init__(self, base_T_optical: np.ndarray) -> None:
        self._mount = np.array(base_T_optical, dtype=np.float64)
        self._mount_inverse = invert_rigid(self._mount)
        self.reset()

    def reset(self) -> None:
        self._odom_T_base = np.eye(4)
        self._linear = np.zeros(3)
        self._angular = np.zeros(3)
        self._distance = 0.0
        self._step_variance = 0.0      # sum of (step deviation x step length)^2
        # Heading random walk: sums of sigma_j^2, sigma_j^2 D_(j-1) and sigma_j^2 D_(j-1)^2 over the steps j,
        # with D the distance travelled before step j (see `_position_variance`).
        self._rotation_sums = np.zeros(3)
        self._scale_error = 0.0        # sum of (scale deviation x step length): one shared error, added linearly
        # Repeated rotation error: sums of b_j and b_j D_(j-1) (see `_position_variance`).
        self._bias_sums = np.zeros(2)
        self._twist_variance = np.zeros(6)

    def set_mount(self, base_T_optical: np.ndarray) -> None:
        """A new camera mount applies to the motions integrated from now on."""
        self._mount = np.array(base_T_optical, dtype=np.float64)
        self._mount_inverse = invert_rigid(self._mount)

    def update(self, prev_T_cur: np.ndarray, dt: float, uncertainty: MotionUncertainty) -> OdometryState:
        """Add one camera motion (current optical frame expressed in the previous one) taking ``dt`` seconds,
        with its uncertainty."""
        base_step = self._mount @ prev_T_cur @ self._mount_inverse
        self._odom_T_base = self._odom_T_base @ base_step
        length = float(np.linalg.norm(base_step[:3, 3]))
        rotation_variance = uncertainty.rotation ** 2
        self._rotation_sums += rotation_variance * np.array([1.0, self._distance, self._distance ** 2])
        self._bias_sums += uncertainty.rotation_bias * np.array([1.0, self._distance])
        self._distance += length
        self._step_variance += (uncertainty.step * length) ** 2
        self._scale_error += uncertainty.scale * length
        if dt > 0:
            # Velocity of the current base frame, written in that frame (the rotation axis is the same in
            # the previous and current frames, the translation is rotated into the current one).
            self._linear = base_step[:3, :3].T @ base_step[:3, 3] / dt
            self._angular = matrix_to_rotvec(base_step[:3, :3]) / dt
            linear = max((uncertainty.step ** 2 + uncertainty.scale ** 2) * (length / dt) ** 2,
                         TWIST_LINEAR_VARIANCE_FLOOR)
            angular = (rotation_variance + uncertainty.rotation_bias ** 2) / dt ** 2
            self._twist_variance = np.array([linear] * 3 + [angular] * 3)
        return self.state

    def _position_variance(self) -> float:
        """Variance of each position coordinate after the steps so far (isotropic, so it bounds the error in
        any direction): the steps' own length errors, the shared scale error (each step's length times the
        scale's deviation when it was integrated, added up as one error: a later, better scale does not
        undo the earlier steps), and the rotation errors. A rotation error e_j at step j turns the rest of
        the path, D - D_(j-1), so the sideways error is sum_j e_j (D - D_(j-1)): for independent errors its
        variance expands to the three running sums of `_rotation_sums` (a random walk of the heading); a
        repeated error b_j adds up linearly, to D sum b_j - sum b_j D_(j-1), squared."""
        total, weighted, squared = self._rotation_sums
        heading = self._distance ** 2 * total - 2.0 * self._distance * weighted + squared
        bias_total, bias_weighted = self._bias_sums
        steady_turn = self._distance * bias_total - bias_weighted
        return self._step_variance + self._scale_error ** 2 + max(heading, 0.0) + steady_turn ** 2

    @property
    def state(self) -> OdometryState:
        rotation_variance = self._rotation_sums[0] + self._bias_sums[0] ** 2
        pose_variance = np.array([self._position_variance()] * 3 + [rotation_variance] * 3)
        return OdometryState(self._odom_T_base.copy(), self._linear.copy(), self._angular.copy(),
                             pose_variance, self._twist_variance.copy())


def up_in_camera(base_T_optical: np.ndarray) -> np.ndarray:
    """The base's up axis (REP 103: z) written in the optical frame of a camera mounted as ``base_T_optical``."""
    up: np.ndarray = np.asarray(base_T_optical)[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    return up
