"""Known-answer tests of the loss terms (training/losses.py) and the schedules (training/schedule.py)."""
from __future__ import annotations

import math

import pytest
import torch

from depth_motion_ros.geometry import axis_angle_to_matrix, make_intrinsics
from depth_motion_ros.training import losses
from depth_motion_ros.training.schedule import layer_norm_noise_stddev, motion_field_scale

H, W = 12, 16


def _intrinsics(batch: int, f: float = 10.0) -> torch.Tensor:
    return make_intrinsics(f, f, (W - 1) / 2, (H - 1) / 2).expand(batch, 3, 3).clone()


def _zero_motion(batch: int):
    return torch.zeros(batch, 3), torch.zeros(batch, 3), torch.zeros(batch, 3, H, W)


def _all_losses(rgb1, rgb2, depth1, depth2, rotation=None, translation=None, residual=None, weights=None):
    """Direction-stacked call with the given 1->2 motion and its exact inverse for 2->1."""
    b = rgb1.shape[0]
    rot, trans, res = _zero_motion(b)
    rot = rot if rotation is None else rotation
    trans = trans if translation is None else translation
    res = res if residual is None else residual
    inverse_rot = -rot
    inverse_trans = -(axis_angle_to_matrix(inverse_rot) @ trans.unsqueeze(-1)).squeeze(-1)
    return losses.compute_losses(
        torch.cat([rgb1, rgb2]), torch.cat([rgb2, rgb1]), torch.cat([depth1, depth2]),
        torch.cat([depth2, depth1]), torch.cat([rot, inverse_rot]), torch.cat([trans, inverse_trans]),
        torch.cat([res, -res]), torch.cat([inverse_rot, rot]), torch.cat([inverse_trans, trans]),
        torch.cat([-res, res]), _intrinsics(2 * b), weights or losses.LossWeights())


def test_identical_frames_give_zero_photometric_and_ssim_loss():
    torch.manual_seed(0)
    rgb = torch.rand(2, 3, H, W)
    depth = 1.0 + torch.rand(2, 1, H, W)
    out = _all_losses(rgb, rgb.clone(), depth, depth.clone())
    assert out.terms["rgb_consistency"].item() == pytest.approx(0.0, abs=1e-7)
    assert out.terms["ssim"].item() == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(out.warped_rgb, torch.cat([rgb, rgb]), atol=1e-6)


def test_photometric_l1_known_value_counts_only_in_bounds_pixels():
    torch.manual_seed(1)
    rgb1 = torch.rand(1, 3, H, W) * 0.5
    out = _all_losses(rgb1, rgb1 + 0.1, torch.ones(1, 1, H, W), torch.full((1, 1, H, W), 1.5))
    # Identity motion: the last row and column land on the open upper bound and are masked.
    fraction_in_bounds = (H - 1) * (W - 1) / (H * W)
    # Direction 1->2: frame-1 depth 1 < 1.5 everywhere counts; 2->1: 1.5 > 1 is behind, masked.
    expected_raw = 0.1 * fraction_in_bounds / 2
    assert out.terms["rgb_consistency"].item() == pytest.approx(expected_raw * 2.0, rel=1e-4)


def test_cycle_consistency_of_inverse_motions_is_zero():
    rotation = torch.tensor([[0.02, -0.01, 0.03]])
    translation = torch.tensor([[0.05, 0.01, 0.2]])
    r1, r2 = rotation, -rotation
    t2 = -(axis_angle_to_matrix(r2) @ translation.unsqueeze(-1)).squeeze(-1)
    field1 = translation[:, :, None, None].expand(1, 3, H, W)
    field2 = t2[:, :, None, None].expand(1, 3, H, W)
    moved = losses.transform_depth_map(torch.full((1, 1, H, W), 4.0), r1, translation,
                                       torch.zeros(1, 3, H, W), _intrinsics(1))
    cycle = losses.motion_cycle_consistency(moved, torch.ones(1, H, W), r1, field1, r2, field2)
    assert cycle["rotation_error"].item() == pytest.approx(0.0, abs=1e-8)
    assert cycle["translation_error"].item() == pytest.approx(0.0, abs=1e-8)


def test_cycle_consistency_of_equal_motions_is_positive():
    rotation = torch.tensor([[0.0, 0.05, 0.0]])
    field = torch.tensor([[0.1, 0.0, 0.0]])[:, :, None, None].expand(1, 3, H, W)
    moved = losses.transform_depth_map(torch.full((1, 1, H, W), 4.0), rotation, field[:, :, 0, 0],
                                       torch.zeros(1, 3, H, W), _intrinsics(1))
    cycle = losses.motion_cycle_consistency(moved, torch.ones(1, H, W), rotation, field, rotation, field)
    assert cycle["rotation_error"].item() > 0.5
    assert cycle["translation_error"].item() > 0.5


def test_smoothness_of_constant_fields_is_zero():
    rgb = torch.rand(1, 3, H, W)
    assert losses.edge_aware_smoothness(torch.full((1, 1, H, W), 3.0), rgb).item() == 0.0
    constant_field = torch.full((1, 3, H, W), 0.7)
    assert losses.motion_field_smoothness(constant_field, wrap_around=True).item() == pytest.approx(0, abs=1e-11)
    assert losses.motion_field_smoothness(constant_field, wrap_around=False).item() == pytest.approx(0, abs=1e-11)


def test_edge_aware_smoothness_known_value_and_edge_weighting():
    ramp = torch.arange(W, dtype=torch.float32).expand(1, 1, H, W)  # |dx| = 1, dy = 0
    flat_image = torch.zeros(1, 3, H, W)
    assert losses.edge_aware_smoothness(ramp, flat_image).item() == pytest.approx(1.0)
    striped = (torch.arange(W) % 2).float().expand(1, 3, H, W)  # an image edge between every column
    assert losses.edge_aware_smoothness(ramp, striped).item() == pytest.approx(math.exp(-1.0), rel=1e-6)


def test_motion_field_sparsity_known_value():
    field = torch.full((1, 3, H, W), 0.3)
    # mean |x| = 0.3: 2 * 0.3 * sqrt(1 + 1)
    assert losses.motion_field_sparsity(field).item() == pytest.approx(0.6 * math.sqrt(2.0), rel=1e-6)
    assert losses.motion_field_sparsity(torch.zeros(1, 3, H, W)).item() == 0.0


def test_occlusion_mask_on_hand_made_scene():
    # Camera moves 0.1 right at depth 1, f = 10: every point appears exactly 1 pixel further LEFT in frame 2.
    depth1 = torch.ones(1, 1, H, W)
    translation = torch.tensor([[-0.1, 0.0, 0.0]])
    moved = losses.transform_depth_map(depth1, torch.zeros(1, 3), translation, torch.zeros(1, 3, H, W),
                                       _intrinsics(1))
    assert torch.allclose(moved.x[0, 0, 1:], torch.arange(W - 1, dtype=torch.float32), atol=1e-5)
    assert moved.x[0, 0, 0].item() == 0.0  # x = -1 clamped into the image (and marked invalid)
    depth2 = torch.full((1, 1, H, W), 2.0)
    depth2[..., 2:5, 6] = 0.5  # a near object in frame 2 hides the frame-1 points landing on column 6
    rgb = torch.rand(1, 3, H, W)
    mask = losses.rgbd_consistency(moved, rgb, depth2, rgb)["frame1_closer_to_camera"][0]
    expected = torch.ones(H, W)
    expected[:, 0] = 0  # lands at x = -1: out of the image
    expected[H - 1, :] = 0  # y = H - 1 is on the open upper bound
    expected[2:5, 7] = 0  # lands on column 6 behind the near object
    assert torch.equal(mask, expected)


def test_weighted_ssim_zero_for_equal_and_positive_for_inverted_images():
    x = torch.rand(1, 3, H, W)
    weight = torch.ones(1, 1, H, W)
    same, pooled = losses.weighted_ssim(x, x.clone(), weight)
    assert same.abs().max().item() < 1e-5
    assert pooled.shape == (1, 1, H - 2, W - 2)
    inverted, _ = losses.weighted_ssim(x, 1.0 - x, weight)
    assert inverted.mean().item() > 0.5  # anti-correlated structure: SSIM near -1, error near 1


def test_ssim_window_mean_is_avg_pool_to_float32_rounding():
    """The SSIM's 3x3 window mean is computed as separable sums for speed; it must be avg_pool2d's mean.
    Known answer: on a plane a x + b y + c every 3x3 mean is the centre value. Tolerance 1e-6 relative
    (float32 epsilon 1.2e-7 over nine terms grouped differently)."""
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(7.0), indexing="ij")
    plane = (0.5 * cols + 2.0 * rows + 1.0)[None, None]
    torch.testing.assert_close(losses._avg_pool3x3(plane), plane[..., 1:-1, 1:-1], rtol=1e-6, atol=0.0)
    x = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.avg_pool2d(x, kernel_size=3, stride=1)
    torch.testing.assert_close(losses._avg_pool3x3(x), expected, rtol=1e-6, atol=1e-7)


def test_effective_weights_match_official_code():
    w = losses.LossWeights()
    assert w.effective("rgb_consistency") == 2.0
    assert w.effective("ssim") == 3.0
    assert w.effective("depth_smoothing") == pytest.approx(2e-3)
    assert w.effective("rotation_cycle_consistency") == pytest.approx(2e-3)
    assert w.effective("translation_cycle_consistency") == pytest.approx(0.1)
    assert w.effective("motion_smoothing") == 2.0
    assert w.effective("motion_drift") == pytest.approx(0.4)
    assert w.effective("depth_consistency") == 0.0
    with pytest.raises(ValueError, match="unknown loss weights"):
        losses.LossWeights.from_dict({"rgb": 1.0})


def test_total_is_finite_and_differentiable_with_random_inputs():
    torch.manual_seed(3)
    depth1 = (1.0 + torch.rand(1, 1, H, W)).requires_grad_()
    out = _all_losses(torch.rand(1, 3, H, W), torch.rand(1, 3, H, W), depth1, 1.0 + torch.rand(1, 1, H, W),
                      rotation=torch.tensor([[0.01, 0.02, 0.0]]), translation=torch.tensor([[0.05, 0.0, 0.1]]),
                      residual=0.01 * torch.randn(1, 3, H, W))
    assert torch.isfinite(out.total)
    out.total.backward()
    assert depth1.grad is not None and torch.isfinite(depth1.grad).all() and depth1.grad.abs().sum() > 0


def test_layer_norm_noise_ramp_is_quadratic_and_saturates():
    assert layer_norm_noise_stddev(0, 10_000) == 0.0
    assert layer_norm_noise_stddev(5_000, 10_000) == pytest.approx(0.125)
    assert layer_norm_noise_stddev(10_000, 10_000) == 0.5
    assert layer_norm_noise_stddev(50_000, 10_000) == 0.5
    assert layer_norm_noise_stddev(7, 0) == 0.5


def test_motion_field_burn_in_is_zero_then_linear():
    assert motion_field_scale(0, 20_000) == 0.0
    assert motion_field_scale(10_000, 20_000) == 0.0
    assert motion_field_scale(15_000, 20_000) == pytest.approx(0.5)
    assert motion_field_scale(20_000, 20_000) == 1.0
    assert motion_field_scale(30_000, 20_000) == 1.0
    assert motion_field_scale(0, 0) == 1.0


def test_without_occlusion_awareness_every_in_bounds_pixel_counts_in_both_directions():
    torch.manual_seed(1)
    rgb1 = torch.rand(1, 3, H, W) * 0.5
    options = losses.LossOptions(occlusion_aware=False)
    b = 1
    rot, trans, res = _zero_motion(2 * b)
    out = losses.compute_losses(torch.cat([rgb1, rgb1 + 0.1]), torch.cat([rgb1 + 0.1, rgb1]),
                                torch.cat([torch.ones(1, 1, H, W), torch.full((1, 1, H, W), 1.5)]),
                                torch.cat([torch.full((1, 1, H, W), 1.5), torch.ones(1, 1, H, W)]),
                                rot, trans, res, rot, trans, res, _intrinsics(2 * b), losses.LossWeights(),
                                options=options)
    # The official mask drops the 2->1 direction (depth 1.5 behind 1); without it both directions count.
    fraction_in_bounds = (H - 1) * (W - 1) / (H * W)
    assert out.terms["rgb_consistency"].item() == pytest.approx(0.1 * fraction_in_bounds * 2.0, rel=1e-4)


def _column_stripes() -> torch.Tensor:
    rgb = torch.full((1, 3, H, W), 0.2)
    rgb[..., 1::2] = 0.8
    return rgb


def test_auto_mask_charges_pixels_the_warp_does_not_explain_their_unwarped_error():
    rgb1 = _column_stripes()
    no_motion = losses.transform_depth_map(torch.ones(1, 1, H, W), torch.zeros(1, 3), torch.zeros(1, 3),
                                           torch.zeros(1, 3, H, W), _intrinsics(1))
    far = torch.full((1, 1, H, W), 2.0)
    # A brightness change with no motion: the identity warp is no better than no warp, so every pixel
    # (the border ones the warp cannot use included) costs its unwarped error, 0.1, and never zero.
    brighter = rgb1 + 0.1
    official = losses.rgbd_consistency(no_motion, rgb1, far, brighter)
    masked = losses.rgbd_consistency(no_motion, rgb1, far, brighter, losses.LossOptions(auto_mask=True))
    assert official["rgb_error"].item() == pytest.approx(0.1 * (H - 1) * (W - 1) / (H * W), rel=1e-5)
    assert masked["rgb_error"].item() == pytest.approx(0.1, rel=1e-5)
    # SSIM without luminance (c1 = inf) does not see a uniform brightness change.
    assert masked["ssim_error"].item() == pytest.approx(0.0, abs=1e-6)


def test_auto_mask_gives_no_reward_for_pushing_pixels_out_of_view():
    # The warp that moves every pixel out of the image must cost exactly what no warp costs: a loss that
    # dropped those pixels (the earlier version) rewarded it with zero.
    rgb1 = _column_stripes()
    rgb2 = torch.roll(rgb1, shifts=-1, dims=3)
    away = losses.transform_depth_map(torch.ones(1, 1, H, W), torch.zeros(1, 3), torch.tensor([[-100.0, 0.0, 0.0]]),
                                      torch.zeros(1, 3, H, W), _intrinsics(1))
    assert not away.valid.any()
    out = losses.rgbd_consistency(away, rgb1, torch.full((1, 1, H, W), 2.0), rgb2, losses.LossOptions(auto_mask=True))
    unwarped_ssim, _ = losses.weighted_ssim(rgb2, rgb1, torch.ones(1, 1, H, W))
    assert out["rgb_error"].item() == pytest.approx((rgb2 - rgb1).abs().mean().item(), rel=1e-6)
    assert out["ssim_error"].item() == pytest.approx(unwarped_ssim.mean().item(), rel=1e-6)
    assert out["rgb_error"].item() > 0.1


def test_auto_mask_uses_the_warp_where_it_explains_the_pixel():
    # Camera 0.1 right at depth 1, f = 10: frame-1 pixel x appears at x - 1 in frame 2.
    rgb1 = _column_stripes()
    rgb2 = torch.roll(rgb1, shifts=-1, dims=3) + 0.02  # shifted scene, slightly brighter
    moved = losses.transform_depth_map(torch.ones(1, 1, H, W), torch.zeros(1, 3), torch.tensor([[-0.1, 0.0, 0.0]]),
                                       torch.zeros(1, 3, H, W), _intrinsics(1))
    out = losses.rgbd_consistency(moved, rgb1, torch.full((1, 1, H, W), 2.0), rgb2,
                                  losses.LossOptions(auto_mask=True))
    # Usable: columns 1..W-1 (column 0 lands outside) and rows 0..H-2, residual error 0.02 there; the
    # other pixels cost their unwarped error (the stripes differ by 0.6 +- 0.02).
    usable = moved.valid.unsqueeze(1).float()
    unwarped = (rgb2 - rgb1).abs()
    expected = (usable * 0.02 + (1 - usable) * unwarped).mean().item()
    assert out["rgb_error"].item() == pytest.approx(expected, rel=1e-4)
    assert out["rgb_error"].item() < unwarped.mean().item() / 3


def test_auto_mask_leak_gives_a_wrong_motion_a_gradient_back_to_no_motion():
    # A static scene (frame 2 = frame 1) warped with a half-pixel shift (camera 0.05 right at depth 1,
    # f = 10): every usable pixel samples between two stripes, 0.5, an error of 0.3, worse than no warp.
    rgb1 = _column_stripes()
    depth2 = torch.full((1, 1, H, W), 2.0)

    def photometric(leak: float) -> tuple[float, torch.Tensor, torch.Tensor]:
        translation = torch.tensor([[-0.05, 0.0, 0.0]], requires_grad=True)
        moved = losses.transform_depth_map(torch.ones(1, 1, H, W), torch.zeros(1, 3), translation,
                                           torch.zeros(1, 3, H, W), _intrinsics(1))
        out = losses.rgbd_consistency(moved, rgb1, depth2, rgb1.clone(),
                                      losses.LossOptions(auto_mask=True, auto_mask_leak=leak))
        out["rgb_error"].backward()
        return out["rgb_error"].item(), translation.grad, moved.valid

    plain, plain_grad, _ = photometric(0.0)
    leaky, leaky_grad, valid = photometric(0.1)
    # Monodepth2: every pixel costs its unwarped error, 0, and the wrong motion gets no gradient at all.
    assert plain == 0.0
    assert plain_grad is None or torch.count_nonzero(plain_grad) == 0
    # Leaky: 0.1 x the warped error on the usable pixels, and the gradient pulls the shift back to 0.
    assert leaky == pytest.approx(0.1 * 0.3 * valid.float().mean().item(), rel=1e-4)
    assert leaky_grad[0, 0] < 0


def test_auto_mask_leak_is_refused_without_the_auto_mask():
    with pytest.raises(ValueError, match="auto_mask"):
        losses.LossOptions(auto_mask=False, auto_mask_leak=0.1)
    with pytest.raises(ValueError, match=">= 0"):
        losses.LossOptions(auto_mask=True, auto_mask_leak=-0.1)


def test_default_loss_options_are_the_official_masking():
    assert losses.LossOptions() == losses.LossOptions(occlusion_aware=True, auto_mask=False, auto_mask_leak=0.0)
