"""Rotation conversions: axis-angle <-> matrix <-> quaternion, batched and differentiable.

Quaternions are (x, y, z, w), the order of ROS messages and TUM trajectory files. Axis-angle is the
rotation vector (unit axis times angle in radians), which is what the motion network predicts. Small
angles are handled with series expansions so that gradients stay finite at the identity, where a freshly
initialised motion network starts.
"""
from __future__ import annotations

import torch
from torch import Tensor

_SMALL_ANGLE_SQ = 1e-8


def skew(v: Tensor) -> Tensor:
    """[..., 3] -> [..., 3, 3] cross-product matrices: skew(a) @ b == cross(a, b)."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([torch.stack([zero, -z, y], -1),
                        torch.stack([z, zero, -x], -1),
                        torch.stack([-y, x, zero], -1)], -2)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues' formula, [..., 3] -> [..., 3, 3]."""
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    safe_sq = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    theta = safe_sq.sqrt()
    sin_term = torch.where(small, 1.0 - theta_sq / 6.0, torch.sin(theta) / theta)
    cos_term = torch.where(small, 0.5 - theta_sq / 24.0, (1.0 - torch.cos(theta)) / safe_sq)
    k = skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(k)
    return eye + sin_term[..., None, None] * k + cos_term[..., None, None] * (k @ k)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """(x, y, z, w) quaternions (normalised here) -> rotation matrices."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Rotation matrices -> unit (x, y, z, w) quaternions with w >= 0.

    Shepperd's method: of the four algebraically equivalent formulas, each sample uses the one whose
    divisor is largest, which keeps the result accurate for every rotation including 180 degrees.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4*w^2, 4*x^2, 4*y^2, 4*z^2 up to the clamp that guards against rounding below zero.
    four_sq = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                           1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1).clamp_min(1e-12)
    r = four_sq.sqrt()  # 2|w|, 2|x|, 2|y|, 2|z|
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s21, s02, s10 = m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1]
    # Each candidate is (x, y, z, w) * 2 * (its pivot component).
    candidates = torch.stack([
        torch.stack([d21, d02, d10, r[..., 0] ** 2], -1) / (2 * r[..., 0:1]),
        torch.stack([r[..., 1] ** 2, s10, s02, d21], -1) / (2 * r[..., 1:2]),
        torch.stack([s10, r[..., 2] ** 2, s21, d02], -1) / (2 * r[..., 2:3]),
        torch.stack([s02, s21, r[..., 3] ** 2, d10], -1) / (2 * r[..., 3:4]),
    ], -2)
    best = r.argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., 3:4] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """(x, y, z, w) -> rotation vector with angle in [0, pi]."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., 3:4] < 0, -q, q)
    v, w = q[..., :3], q[..., 3]
    sin_half_sq = (v * v).sum(-1)
    small = sin_half_sq < _SMALL_ANGLE_SQ
    sin_half = torch.where(small, torch.ones_like(sin_half_sq), sin_half_sq).sqrt()
    angle_over_sin_half = 2.0 * torch.atan2(sin_half, w) / sin_half
    # Near the identity angle ~ 2 * |v| / w, so the factor tends to 2 / w.
    factor = torch.where(small, 2.0 / w, angle_over_sin_half)
    return v * factor[..., None]


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """Rotation vector -> (x, y, z, w) with w >= 0 for angles up to pi."""
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.where(small, torch.ones_like(theta_sq), theta_sq).sqrt()
    half_sinc = torch.where(small, 0.5 - theta_sq / 48.0, torch.sin(theta / 2) / theta)
    w = torch.where(small, 1.0 - theta_sq / 8.0, torch.cos(theta / 2))
    return torch.cat([axis_angle * half_sinc[..., None], w[..., None]], -1)


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """Rotation matrices -> rotation vectors (via the numerically robust quaternion)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))
