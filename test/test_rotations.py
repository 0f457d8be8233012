"""Rotation conversions: known values and round trips, including the small-angle and 180-degree cases."""
from __future__ import annotations

import math

import torch

from depth_motion_ros.geometry import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
)


def _random_axis_angles(n: int, max_angle: float = math.pi * 0.999) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    axes = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator, dtype=torch.float64), dim=-1)
    angles = torch.rand(n, 1, generator=generator, dtype=torch.float64) * max_angle
    return axes * angles


def test_known_values():
    quarter_z = torch.tensor([0.0, 0.0, math.pi / 2])
    R = axis_angle_to_matrix(quarter_z)
    assert torch.allclose(R, torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), atol=1e-7)
    q = axis_angle_to_quaternion(quarter_z)
    s = math.sqrt(0.5)
    assert torch.allclose(q, torch.tensor([0.0, 0.0, s, s]), atol=1e-7)  # (x, y, z, w)
    # 180 degrees about x.
    half_x = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    assert torch.allclose(matrix_to_quaternion(half_x).abs(), torch.tensor([1.0, 0.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(matrix_to_axis_angle(half_x).abs(), torch.tensor([math.pi, 0.0, 0.0]), atol=1e-5)


def test_identity_everywhere():
    zero = torch.zeros(3)
    assert torch.equal(axis_angle_to_matrix(zero), torch.eye(3))
    assert torch.allclose(axis_angle_to_quaternion(zero), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert torch.allclose(matrix_to_axis_angle(torch.eye(3)), zero)


def test_round_trips():
    v = _random_axis_angles(500)
    R = axis_angle_to_matrix(v)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3, dtype=v.dtype).expand_as(R), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500, dtype=v.dtype))
    assert torch.allclose(matrix_to_axis_angle(R), v, atol=1e-9)
    q = matrix_to_quaternion(R)
    assert torch.allclose(q, axis_angle_to_quaternion(v), atol=1e-9)
    assert torch.allclose(quaternion_to_matrix(q), R, atol=1e-12)
    assert torch.allclose(quaternion_to_axis_angle(q), v, atol=1e-9)


def test_quaternion_sign_and_scale_do_not_matter():
    q = torch.nn.functional.normalize(torch.tensor([0.1, -0.4, 0.3, 0.8], dtype=torch.float64), dim=0)
    R = quaternion_to_matrix(q)
    assert torch.allclose(quaternion_to_matrix(-3.0 * q), R)
    assert torch.allclose(matrix_to_quaternion(R), q)


def test_small_angles_are_accurate_with_finite_gradients():
    v = torch.tensor([[1e-6, -2e-6, 3e-7], [0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    R = axis_angle_to_matrix(v)
    expected = torch.eye(3, dtype=torch.float64) + torch.tensor(
        [[0.0, -3e-7, -2e-6], [3e-7, 0.0, -1e-6], [2e-6, 1e-6, 0.0]], dtype=torch.float64)
    assert torch.allclose(R[0], expected, atol=1e-11)
    R.sum().backward()
    assert torch.isfinite(v.grad).all()
    back = matrix_to_axis_angle(R.detach())
    assert torch.allclose(back, v.detach(), atol=1e-11)


def test_float32_batched_shapes():
    v = _random_axis_angles(12).float().reshape(3, 4, 3)
    assert axis_angle_to_matrix(v).shape == (3, 4, 3, 3)
    assert matrix_to_quaternion(axis_angle_to_matrix(v)).shape == (3, 4, 4)
    assert torch.allclose(matrix_to_axis_angle(axis_angle_to_matrix(v)), v, atol=1e-4)
