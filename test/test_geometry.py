"""Known-answer tests of the camera geometry (intrinsics, projection, warping, sampling)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.geometry import (
    axis_angle_to_matrix,
    back_project,
    bilinear_sample,
    crop_intrinsics,
    flip_intrinsics_horizontally,
    invert_intrinsics,
    make_intrinsics,
    pixel_grid,
    project,
    reproject,
    resize_intrinsics,
    transform_points,
    warp_frame,
)
from depth_motion_ros.geometry.intrinsics import square_pixel_intrinsics

H, W = 24, 32


def _intrinsics(batch: int = 1) -> torch.Tensor:
    return make_intrinsics(30.0, 28.0, 15.5, 11.5).expand(batch, 3, 3).clone()


def _identity(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.eye(3).expand(batch, 3, 3).clone(), torch.zeros(batch, 3)


def test_make_and_invert_intrinsics():
    K = make_intrinsics(torch.tensor([100.0, 50.0]), 80.0, 31.5, 23.5)
    assert K.shape == (2, 3, 3)
    assert torch.allclose(invert_intrinsics(K) @ K, torch.eye(3).expand(2, 3, 3), atol=1e-6)


def test_resize_intrinsics_keeps_image_edges_fixed():
    # Halving a 4-pixel-wide image: old centres 0..3, new centres 0..1. Old pixel edge -0.5 must map to the
    # new edge -0.5, and the old u = 0.5 (boundary between pixels 0 and 1) to the new u = -0.25 + ... :
    # u' = (u + 0.5) * 0.5 - 0.5.
    K = np.array([[100.0, 0.0, 1.5], [0.0, 80.0, 1.5], [0.0, 0.0, 1.0]])
    K2 = resize_intrinsics(K, (4, 4), (2, 2))
    np.testing.assert_allclose(K2, [[50.0, 0.0, 0.5], [0.0, 40.0, 0.5], [0.0, 0.0, 1.0]])
    # A 3D point keeps mapping onto the same image location (in relative coordinates).
    point = np.array([0.3, -0.2, 2.0])
    u1 = (K @ point)[:2] / point[2]
    u2 = (K2 @ point)[:2] / point[2]
    np.testing.assert_allclose((u2 + 0.5) / 2, (u1 + 0.5) / 4)


def test_resize_intrinsics_anisotropic_torch():
    K = make_intrinsics(200.0, 200.0, 319.5, 239.5)[None]
    K2 = resize_intrinsics(K, (480, 640), (128, 256))
    assert isinstance(K2, torch.Tensor)
    assert torch.allclose(K2[0], torch.tensor([[80.0, 0, 127.5], [0, 200 * 128 / 480, 63.5], [0, 0, 1]]))


def test_square_pixel_intrinsics_derive_fy_from_fx_and_the_original_size():
    # A KITTI-like 1241 x 376 camera (f = 718.9 on both axes) seen at a 96 x 160 network input.
    truth_at_input = resize_intrinsics(np.array([[718.9, 0.0, 607.2], [0.0, 718.9, 185.2], [0.0, 0.0, 1.0]]),
                                       (376, 1241), (96, 160))
    learned = truth_at_input.copy()
    learned[1, 1] *= 0.5  # what a network guesses for fy when it cannot see the aspect ratio
    np.testing.assert_allclose(square_pixel_intrinsics(learned, (96, 160), (376, 1241)), truth_at_input)
    assert learned[1, 1] == truth_at_input[1, 1] * 0.5  # not modified in place
    batch = torch.as_tensor(np.stack([learned, learned]), dtype=torch.float32)
    fixed = square_pixel_intrinsics(batch, (96, 160), (376, 1241))
    assert isinstance(fixed, torch.Tensor) and fixed.shape == (2, 3, 3)
    assert torch.allclose(fixed[1], torch.as_tensor(truth_at_input, dtype=torch.float32))


def test_crop_and_flip_intrinsics():
    K = np.array([[100.0, 0.0, 60.0], [0.0, 90.0, 40.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(crop_intrinsics(K, 10, 5)[:2, 2], [50.0, 35.0])
    np.testing.assert_allclose(flip_intrinsics_horizontally(K, 120)[0, 2], 59.0)
    assert K[0, 2] == 60.0  # inputs are never modified in place


def test_back_project_then_project_round_trip():
    torch.manual_seed(0)
    depth = torch.rand(2, 1, H, W) * 9 + 1
    K = _intrinsics(2)
    points = back_project(depth, K)
    projection = project(points, K)
    grid = pixel_grid(H, W)[:, :2].expand(2, 2, H, W)
    assert torch.allclose(projection.pixels, grid, atol=1e-4)
    assert torch.allclose(projection.depth, depth)
    assert projection.valid.all()


def test_back_project_known_point():
    depth = torch.full((1, 1, H, W), 2.0)
    points = back_project(depth, _intrinsics())
    # Pixel (u=30, v=3): x = (30 - 15.5) / 30 * 2, y = (3 - 11.5) / 28 * 2, z = 2.
    assert torch.allclose(points[0, :, 3, 30], torch.tensor([29 / 30, -17 / 28, 2.0]))


def test_identity_motion_reproduces_the_image():
    torch.manual_seed(1)
    image = torch.rand(2, 3, H, W)
    depth = torch.rand(2, 1, H, W) + 1
    R, t = _identity(2)
    warp = warp_frame(image, depth, _intrinsics(2), R, t)
    assert torch.allclose(warp.image, image, atol=1e-5)
    assert warp.mask.all()


def test_pure_translation_moves_a_fronto_parallel_plane_by_hand_computed_shift():
    # Plane at z = 4 m, camera 2 sits 0.4 m to the right of camera 1: points move by t = (-0.4, 0, 0) in
    # camera-2 coordinates and every pixel shifts by fx * tx / z = 30 * -0.4 / 4 = -3 pixels.
    depth = torch.full((1, 1, H, W), 4.0)
    R, _ = _identity()
    t = torch.tensor([[-0.4, 0.0, 0.0]])
    projection = reproject(depth, _intrinsics(), R, t)
    u_shift = projection.pixels[0, 0] - pixel_grid(H, W)[0, 0]
    v_shift = projection.pixels[0, 1] - pixel_grid(H, W)[0, 1]
    assert torch.allclose(u_shift, torch.full((H, W), -3.0), atol=1e-4)
    assert torch.allclose(v_shift, torch.zeros(H, W), atol=1e-4)
    # Warping an image whose content is a horizontal ramp: the value at u in frame 1 is frame 2's u - 3.
    ramp = pixel_grid(H, W)[:, :1].clone()
    warp = warp_frame(ramp, depth, _intrinsics(), R, t)
    assert torch.allclose(warp.image[0, 0, :, 3:], ramp[0, 0, :, :-3], atol=1e-4)
    assert not warp.mask[0, 0, :, :3].any() and warp.mask[0, 0, :, 3:].all()  # u - 3 < -0.5 is off frame 2


def test_forward_translation_scales_pixels_about_the_principal_point():
    # Moving 1 m towards a plane at 4 m: z' = 3 and u' - cx = (u - cx) * 4 / 3.
    depth = torch.full((1, 1, H, W), 4.0)
    R, _ = _identity()
    projection = reproject(depth, _intrinsics(), R, torch.tensor([[0.0, 0.0, -1.0]]))
    assert torch.allclose(projection.depth, torch.full_like(depth, 3.0))
    expected_u = (pixel_grid(H, W)[0, 0] - 15.5) * 4 / 3 + 15.5
    assert torch.allclose(projection.pixels[0, 0], expected_u, atol=1e-4)


def test_residual_translation_moves_only_its_pixels():
    depth = torch.full((1, 1, H, W), 2.0)
    R, t = _identity()
    residual = torch.zeros(1, 3, H, W)
    residual[0, 0, 5, 7] = 0.2  # x += 0.2 m at 2 m -> 3 pixels at fx = 30
    projection = reproject(depth, _intrinsics(), R, t, residual)
    shift = projection.pixels[0, 0] - pixel_grid(H, W)[0, 0]
    assert shift[5, 7].item() == pytest.approx(3.0, abs=1e-4)
    shift[5, 7] = 0
    assert torch.allclose(shift, torch.zeros_like(shift), atol=1e-5)


def test_rotation_about_the_optical_axis():
    points = torch.tensor([[1.0, 0.0, 5.0]]).reshape(1, 3, 1, 1)
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, np.pi / 2]]))
    moved = transform_points(points, R, torch.zeros(1, 3))
    assert torch.allclose(moved.flatten(), torch.tensor([0.0, 1.0, 5.0]), atol=1e-6)


def test_points_behind_the_camera_are_masked_and_finite():
    depth = torch.full((1, 1, H, W), 1.0)
    R, _ = _identity()
    warp = warp_frame(torch.rand(1, 3, H, W), depth, _intrinsics(), R, torch.tensor([[0.0, 0.0, -2.0]]))
    assert not warp.mask.any()
    assert torch.isfinite(warp.image).all() and torch.isfinite(warp.projection.pixels).all()


def test_bilinear_sample_interpolates_and_masks():
    image = torch.arange(12.0).reshape(1, 1, 3, 4)
    pixels = torch.tensor([[1.5, 0.25], [-1.0, 1.0], [3.0, 2.0], [3.4, -0.4], [1.0, 2.6]]).T.reshape(1, 2, 1, 5)
    sampled, valid = bilinear_sample(image, pixels)
    # (u=1.5, v=0.25): row-interpolate 1.5 and 5.5 -> 1.5 + 0.25 * 4 = 2.5; (3, 2) is the last pixel = 11.
    assert sampled[0, 0, 0, 0].item() == pytest.approx(2.5)
    assert sampled[0, 0, 0, 2].item() == pytest.approx(11.0)
    # (3.4, -0.4) is off the last pixel centre but still on the image: clamped to the corner pixel 3.
    assert sampled[0, 0, 0, 3].item() == pytest.approx(3.0)
    assert valid.flatten().tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_gradients_flow_through_warping_to_depth_and_motion():
    torch.manual_seed(2)
    image1 = torch.rand(1, 3, H, W)
    image2 = torch.nn.functional.avg_pool2d(torch.rand(1, 3, H, W), 3, 1, 1)  # smooth: nonzero gradients
    depth = (torch.rand(1, 1, H, W) + 2).requires_grad_()
    axis_angle = torch.tensor([[0.01, -0.02, 0.005]], requires_grad=True)
    translation = torch.tensor([[0.05, 0.01, 0.1]], requires_grad=True)
    residual = torch.zeros(1, 3, H, W, requires_grad=True)
    K = _intrinsics().requires_grad_()
    warp = warp_frame(image2, depth, K, axis_angle_to_matrix(axis_angle), translation, residual)
    loss = ((warp.image - image1).abs() * warp.mask).mean()
    loss.backward()
    for name, tensor in [("depth", depth), ("rotation", axis_angle), ("translation", translation),
                         ("residual", residual), ("intrinsics", K)]:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all(), name
        assert tensor.grad.abs().sum() > 0, name
