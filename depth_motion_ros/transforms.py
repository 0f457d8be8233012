"""Rigid transforms in numpy (float64): 4x4 poses, rotation vectors, quaternions, roll-pitch-yaw.

The one numpy home of this maths for the engine, the node, the sources and the evaluation; the batched,
differentiable torch versions used by the networks and training are in `geometry/rotations.py`. Rotation
vectors (axis times angle) are named `rotvec` here so the two sets of functions never share a name.
Quaternions are `(x, y, z, w)`, as in ROS and TUM files.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Fixed-axis roll (x), pitch (y), yaw (z) as in URDF and tf2: ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    rotation: np.ndarray = rz @ ry @ rx
    return rotation

def invert_rigid(transform: np.ndarray) -> np.ndarray:
    """Inverse of a 4x4 rigid transform without a general matrix inverse."""
    inverse = np.eye(4)
    rotation = transform[:3, :3]
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ transform[:3, 3]
    return inverse

def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula; exact identity for a zero vector."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotation: np.ndarray = np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * (kx @ kx)
    return rotation

def matrix_to_rotvec(rotation: np.ndarray) -> np.ndarray:
    """Inverse of `rotvec_to_matrix` for angles in [0, pi)."""
    cos_angle = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos_angle))
    skew = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                     rotation[1, 0] - rotation[0, 1]])
    if angle < 1e-8:
        return skew / 2.0
    rotvec: np.ndarray = skew * (angle / (2.0 * np.sin(angle)))
    return rotvec

def rigid_from_motion(rotation_axis_angle: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 ``[R | t]`` from the motion network's axis-angle rotation and translation."""
    transform = np.eye(4)
    transform[:3, :3] = rotvec_to_matrix(rotation_axis_angle)
    transform[:3, 3] = np.asarray(translation, dtype=np.float64)
    return transform

def quaternion_to_matrix(qx: float, qy: float, qz: float, qw: float) -> np.ndarray:
    """Unit quaternion (normalised here) -> 3x3 rotation matrix."""
    q = np.array([qx, qy, qz, qw], dtype=np.float64)
    norm = np.linalg.norm(q)
    if norm == 0.0:
        raise ValueError("zero quaternion")
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])

def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion `(x, y, z, w)` with `w >= 0` (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    quat: np.ndarray = np.array(q) / np.linalg.norm(q)
    return -quat if quat[3] < 0 else quat

def pose_matrix(translation: Sequence[float], quaternion_xyzw: Sequence[float]) -> np.ndarray:
    """4x4 homogeneous pose from a translation and an `(x, y, z, w)` quaternion."""
    pose = np.eye(4)
    pose[:3, :3] = quaternion_to_matrix(*quaternion_xyzw)
    pose[:3, 3] = translation
    return pose


def slerp_quaternion(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions `(x, y, z, w)` along the shorter arc."""
    q0, q1 = np.asarray(q0, dtype=np.float64), np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: linear interpolation is exact to float precision
        q = q0 + fraction * (q1 - q0)
        unit: np.ndarray = q / np.linalg.norm(q)
        return unit
    angle = np.arccos(dot)
    between: np.ndarray = (np.sin((1 - fraction) * angle) * q0 + np.sin(fraction * angle) * q1) / np.sin(angle)
    return between


def interpolate_pose(pose0: np.ndarray, pose1: np.ndarray, fraction: float) -> np.ndarray:
    """The 4x4 pose `fraction` of the way from `pose0` (0) to `pose1` (1): translation linearly, rotation by
    slerp (ground-truth tracks and the robot's odometry are both sampled at other times than the images)."""
    pose = np.eye(4)
    pose[:3, 3] = (1 - fraction) * np.asarray(pose0)[:3, 3] + fraction * np.asarray(pose1)[:3, 3]
    q = slerp_quaternion(matrix_to_quaternion(np.asarray(pose0)[:3, :3]),
                         matrix_to_quaternion(np.asarray(pose1)[:3, :3]), fraction)
    pose[:3, :3] = quaternion_to_matrix(*q)
    return pose
