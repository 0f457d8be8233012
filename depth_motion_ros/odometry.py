"""Visual odometry integration in numpy, in REP 103/105 frames.

The networks measure the camera (optical frame: x right, y down, z forward). Robots want the pose of
``base_link`` in ``odom``. With the camera mount ``B = base_T_optical`` and the per-frame camera motion
``T_prev_cur`` (pose of the current optical frame in the previous one), the base moves by
``B @ T_prev_cur @ inv(B)``; ``odom`` is where ``base_link`` was at start-up (or at the last reset).
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


@dataclass(frozen=True)
class OdometryState:
    """Pose of ``base_link`` in ``odom`` and its body-frame velocity (REP 105 twist in the child frame)."""

    odom_T_base: np.ndarray       # 4x4
    linear_velocity: np.ndarray   # m/s in base_link
    angular_velocity: np.ndarray  # rad/s in base_link


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

    def set_mount(self, base_T_optical: np.ndarray) -> None:
        """A new camera mount applies to the motions integrated from now on."""
        self._mount = np.array(base_T_optical, dtype=np.float64)
        self._mount_inverse = invert_rigid(self._mount)

    def update(self, prev_T_cur: np.ndarray, dt: float) -> OdometryState:
        """Add one camera motion (current optical frame expressed in the previous one) taking ``dt`` seconds."""
        base_step = self._mount @ prev_T_cur @ self._mount_inverse
        self._odom_T_base = self._odom_T_base @ base_step
        if dt > 0:
            # Velocity of the current base frame, written in that frame (the rotation axis is the same in
            # the previous and current frames, the translation is rotated into the current one).
            self._linear = base_step[:3, :3].T @ base_step[:3, 3] / dt
            self._angular = matrix_to_rotvec(base_step[:3, :3]) / dt
        return self.state

    @property
    def state(self) -> OdometryState:
        return OdometryState(self._odom_T_base.copy(), self._linear.copy(), self._angular.copy())


def up_in_camera(base_T_optical: np.ndarray) -> np.ndarray:
    """The base's up axis (REP 103: z) written in the optical frame of a camera mounted as ``base_T_optical``."""
    up: np.ndarray = np.asarray(base_T_optical)[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    return up
