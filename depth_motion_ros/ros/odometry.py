"""Visual odometry integration in numpy, in REP 103/105 frames.

The networks measure the camera (optical frame: x right, y down, z forward). Robots want the pose of
``base_link`` in ``odom``. With the camera mount ``B = base_T_optical`` and the per-frame camera motion
``T_prev_cur`` (pose of the current optical frame in the previous one), the base moves by
``B @ T_prev_cur @ inv(B)``; ``odom`` is where ``base_link`` was at start-up (or at the last reset).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Columns: the optical axes (x right, y down, z forward) written in the REP 103 camera body frame
# (x forward, y left, z up).
BODY_R_OPTICAL = np.array([[0.0, 0.0, 1.0],
                           [-1.0, 0.0, 0.0],
                           [0.0, -1.0, 0.0]])


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Fixed-axis roll (x), pitch (y), yaw (z) as in URDF and tf2: ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


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


def invert_rigid(transform: np.ndarray) -> np.ndarray:
    """Inverse of a 4x4 rigid transform without a general matrix inverse."""
    inverse = np.eye(4)
    rotation = transform[:3, :3]
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ transform[:3, 3]
    return inverse


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula; exact identity for a zero vector."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * (kx @ kx)


def matrix_to_axis_angle(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`axis_angle_to_matrix` for angles in [0, pi)."""
    cos_angle = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos_angle))
    skew = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                     rotation[1, 0] - rotation[0, 1]])
    if angle < 1e-8:
        return skew / 2.0
    return skew * (angle / (2.0 * np.sin(angle)))



def rigid_from_motion(rotation_axis_angle: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 ``[R | t]`` from the motion network's axis-angle rotation and translation."""
    transform = np.eye(4)
    transform[:3, :3] = axis_angle_to_matrix(rotation_axis_angle)
    transform[:3, 3] = np.asarray(translation, dtype=np.float64)
    return transform


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
            self._angular = matrix_to_axis_angle(base_step[:3, :3]) / dt
        return self.state

    @property
    def state(self) -> OdometryState:
        return OdometryState(self._odom_T_base.copy(), self._linear.copy(), self._angular.copy())
