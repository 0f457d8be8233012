"""The self-supervised losses of Li et al. 2020, following the official code term by term.

Layout of every tensor here: both directions are stacked along the batch, ``[frames1; frames2]``, and
the "flipped" stacks ``[frames2; frames1]`` are their partners, so one pass computes 1->2 and 2->1
(what the official code does on TPU, and also the cheapest way on CPU).

Weights. The official ``DepthMotionFieldLossAggregator`` multiplies every weighted term by 2 ("to match
the scale of the old code") and the SSIM term additionally by 0.5. ``LossWeights`` holds the official
nominal weights (the numbers of the paper and the gin configs) and ``weight_multiplier`` (default 2.0)
reproduces the EFFECTIVE values of the official code: photometric L1 2.0, SSIM 3.0 (= 3.0 x 2 x 0.5 on
the raw SSIM error), depth smoothing 2e-3, rotation cycle 2e-3, translation cycle 0.1, motion
smoothing 2.0, motion drift 0.4.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor

from depth_motion_ros.geometry import axis_angle_to_matrix, bilinear_sample, reproject

SSIM_C1 = float("inf")
"""The official code drops the luminance part of SSIM (c1 = inf): only structure and contrast count."""
SSIM_C2 = 9e-6
SSIM_WEIGHT_EPSILON = 0.01
DEPTH_PROXIMITY_EPSILON = 1e-4
AUTO_MASK_MARGIN = 1e-4
"""The warp must beat no warp by this much (on [0, 1] intensities, well under one grey level) for the
auto-mask to keep a pixel: ties, as in texture-less areas or the rounding of an identity warp, do not."""


@dataclass(frozen=True)
class LossWeights:
    """Nominal weights as in the official gin configs; see the module docstring for effective values."""

    rgb_consistency: float = 1.0
    ssim: float = 3.0
    depth_consistency: float = 0.0
    depth_smoothing: float = 1e-3
    rotation_cycle_consistency: float = 1e-3
    translation_cycle_consistency: float = 5e-2
    depth_variance: float = 0.0
    motion_smoothing: float = 1.0
    motion_drift: float = 0.2
    weight_multiplier: float = 2.0

    @classmethod
    def from_dict(cls, values: dict) -> LossWeights:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown loss weights {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: float(v) for k, v in values.items()})

    def to_dict(self) -> dict:
        return asdict(self)

    def effective(self, name: str) -> float:
        """The factor actually applied to raw term ``name`` (SSIM's extra 0.5 included)."""
        factor = float(getattr(self, name)) * self.weight_multiplier
        return factor * 0.5 if name == "ssim" else factor


LOSS_TERMS = tuple(f.name for f in fields(LossWeights) if f.name != "weight_multiplier")


@dataclass(frozen=True)
class LossOptions:
    """Departures from the official photometric masking, for short from-scratch runs (defaults: official).

    ``occlusion_aware`` (official): a frame-1 pixel counts in the photometric terms only where its moved
    point is closer to camera 2 than frame 2's depth there. From scratch this has an escape: a pixel
    whose photometric error is high can push its depth far away, fall "behind" frame 2's surface and
    leave the loss; nothing pulls it back (the target depth has no gradient), which grows isolated far
    spikes. False counts every in-bounds pixel (Monodepth2 with one source frame).

    ``auto_mask`` (Monodepth2, Godard et al. 2019): every pixel costs the SMALLER of its warped and its
    unwarped photometric error (the choice made on L1 over channels, for L1 and SSIM alike, SSIM then
    unweighted as in Monodepth2). Pixels that do not move between the frames (static camera, objects
    moving with the camera, texture-less areas) then teach nothing, instead of "infinitely far". A pixel
    the warp cannot use (out of bounds, or behind frame 2's surface with ``occlusion_aware``) costs its
    unwarped error, never zero: a loss that drops such pixels rewards warps that push pixels out of view
    or make them worse than no warp, and from scratch the motion network learns exactly that (a
    constant, input-independent motion; docs/decisions/auto-mask-minimum.md).

    ``auto_mask_leak`` (ours, 0 = Monodepth2): with the auto-mask, a usable pixel that the warp explains
    worse than no warp costs its unwarped error PLUS this fraction of its warped error. Without it a
    badly wrong motion costs exactly what no motion costs and gets no gradient from those pixels, so
    nothing pulls a runaway rotation back (docs/decisions/auto-mask-leak.md).
    """

    occlusion_aware: bool = True
    auto_mask: bool = False
    auto_mask_leak: float = 0.0

    def __post_init__(self) -> None:
        if self.auto_mask_leak < 0.0:
            raise ValueError(f"auto_mask_leak must be >= 0, got {self.auto_mask_leak}")
        if self.auto_mask_leak > 0.0 and not self.auto_mask:
            raise ValueError("auto_mask_leak needs auto_mask: true")

    @classmethod
    def from_dict(cls, values: dict) -> LossOptions:
        return cls(**values)


class TransformedPixels(NamedTuple):
    """Frame-1 pixels moved into frame 2: where they land, at what depth, and whether that is usable.

    ``x``, ``y`` are clamped into the image (so sampling there replicates the border), ``valid`` is
    False where they had to be clamped, were NaN, or the point is behind the camera.
    """

    x: Tensor  # [B, H, W]
    y: Tensor  # [B, H, W]
    depth: Tensor  # [B, H, W] z of the moved point in camera 2
    valid: Tensor  # [B, H, W] bool


class LossOutput(NamedTuple):
    total: Tensor
    terms: dict[str, Tensor]  # weighted (effective) value of every term in LOSS_TERMS
    warped_rgb: Tensor  # [2B, 3, H, W] partner frame resampled onto each frame's grid
    frame1_closer_to_camera: Tensor  # [2B, 1, H, W] the occlusion-aware mask
    disparity: Tensor  # [2B, 1, H, W]


def transform_depth_map(depth: Tensor, rotation: Tensor, background_translation: Tensor,
                        residual_translation: Tensor, intrinsics: Tensor) -> TransformedPixels:
    """Move every pixel's 3D point with ``p2 = R p1 + t + residual(pixel)`` and project it into camera 2.

    depth [B, 1, H, W], rotation [B, 3] axis-angle, background_translation [B, 3], residual_translation
    [B, 3, H, W], intrinsics [B, 3, 3]. Valid means in front of the camera and inside [0, W-1) x [0, H-1)
    (the official bounds).
    """
    _, _, h, w = depth.shape
    projection = reproject(depth, intrinsics, axis_angle_to_matrix(rotation), background_translation,
                           residual_translation)
    x, y = projection.pixels[:, 0], projection.pixels[:, 1]
    finite = torch.isfinite(x) & torch.isfinite(y)
    valid = finite & (projection.valid[:, 0] > 0) & (x >= 0) & (y >= 0) & (x < w - 1) & (y < h - 1)
    x = torch.where(finite, x, torch.zeros_like(x)).clamp(0, w - 1)
    y = torch.where(finite, y, torch.zeros_like(y)).clamp(0, h - 1)
    return TransformedPixels(x, y, projection.depth[:, 0], valid)


def resample(image: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Bilinear sample ``image`` [B, C, H, W] at pixel coordinates x, y [B, H', W'] (already in bounds)."""
    return bilinear_sample(image, torch.stack([x, y], dim=1))[0]


def _avg_pool3x3(x: Tensor) -> Tensor:
    """Mean over 3x3 valid windows, ``F.avg_pool2d(x, 3, stride=1)`` as two separable 3-tap sums.

    Why not avg_pool2d itself: on the CPU its forward and backward are the slowest part of the losses
    (SSIM pools five moments a step); the sums of shifted views and their backward are plain elementwise
    adds, which halved weighted_ssim's forward + backward on a 128x256 batch (40 -> 21 ms, 2026-12-07,
    docs/decisions/training-step-speed.md). Same values to float32 rounding (the nine terms are grouped
    differently): against a float64 reference both are within 7e-6 on every SSIM error.
    """
    rows = x[..., :-2] + x[..., 1:-1] + x[..., 2:]
    return (rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) * (1.0 / 9.0)


def weighted_ssim(x: Tensor, y: Tensor, weight: Tensor, c1: float = SSIM_C1, c2: float = SSIM_C2,
                  weight_epsilon: float = SSIM_WEIGHT_EPSILON) -> tuple[Tensor, Tensor]:
    """SSIM dissimilarity ``(1 - SSIM) / 2`` with moments weighted per pixel, on 3x3 valid windows.

    x, y [B, C, H, W], weight [B, 1, H, W]. Returns the per-pixel error [B, C, H-2, W-2] and the pooled
    weight [B, 1, H-2, W-2] that says how much each error value should count.
    """
    if c1 == float("inf") and c2 == float("inf"):
        raise ValueError("c1 and c2 both infinite make SSIM identically zero")
    pooled_weight = _avg_pool3x3(weight)
    weight_plus_eps = weight + weight_epsilon
    inverse_pooled = 1.0 / (pooled_weight + weight_epsilon)

    def weighted_avg(z: Tensor) -> Tensor:
        return _avg_pool3x3(z * weight_plus_eps) * inverse_pooled

    mu_x, mu_y = weighted_avg(x), weighted_avg(y)
    sigma_x = weighted_avg(x * x) - mu_x * mu_x
    sigma_y = weighted_avg(y * y) - mu_y * mu_y
    sigma_xy = weighted_avg(x * y) - mu_x * mu_y
    if c1 == float("inf"):
        numerator, denominator = 2 * sigma_xy + c2, sigma_x + sigma_y + c2
    elif c2 == float("inf"):
        numerator, denominator = 2 * mu_x * mu_y + c1, mu_x * mu_x + mu_y * mu_y + c1
    else:
        numerator = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
        denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (sigma_x + sigma_y + c2)
    return ((1 - numerator / denominator) / 2).clamp(0, 1), pooled_weight


def _weighted_average(x: Tensor, w: Tensor, epsilon: float = 1.0) -> Tensor:
    """Per-sample weighted mean over H, W of [B, H, W] tensors (epsilon as in the official code)."""
    return (x * w).sum(dim=(1, 2), keepdim=True) / (w.sum(dim=(1, 2), keepdim=True) + epsilon)


def rgbd_consistency(moved: TransformedPixels, rgb1: Tensor, depth2: Tensor, rgb2: Tensor,
                     options: LossOptions = LossOptions()) -> dict[str, Tensor]:
    """Photometric, SSIM and depth errors of frame 1 against frame 2 resampled at the moved pixels.

    Occlusion awareness (official, ``options.occlusion_aware``): a pixel counts only where the moved
    frame-1 point is in bounds and CLOSER to camera 2 than frame 2's own depth there; points that went
    behind a surface are handled by the opposite direction of the stacked batch
    (https://arxiv.org/abs/1904.04998). ``options.auto_mask`` further keeps only pixels that the warp
    explains better than no warp (see `LossOptions`).
    """
    rgbd2 = torch.cat([rgb2, depth2], dim=1)
    resampled = resample(rgbd2, moved.x, moved.y)
    rgb2_resampled, depth2_resampled = resampled[:, :3], resampled[:, 3]
    valid = moved.valid.to(rgb1.dtype)
    closer = (moved.valid & (moved.depth < depth2_resampled)).to(rgb1.dtype)  # [B, H, W]
    photometric_mask = closer if options.occlusion_aware else valid
    depth_gap = depth2_resampled - moved.depth
    depth_error = (depth_gap.abs() * closer).mean()
    if options.auto_mask:
        return _auto_masked_consistency(rgb1, rgb2, rgb2_resampled, photometric_mask, closer, depth_error,
                                        options.auto_mask_leak)
    rgb_error = ((rgb2_resampled - rgb1).abs() * photometric_mask.unsqueeze(1)).mean()

    # SSIM is demanded only between surfaces that are near each other in both frames: the weight peaks
    # at 1 where the depth gap is small compared with its (masked) second moment over the frame.
    second_moment = _weighted_average(depth_gap.square(), closer) + DEPTH_PROXIMITY_EPSILON
    proximity = second_moment / (depth_gap.square() + second_moment) * valid
    # Without the stop-gradient training does not start: the network would push depths apart
    # instead of seeking RGB consistency (official code comment).
    proximity = proximity.detach().unsqueeze(1)
    ssim_error, pooled_weight = weighted_ssim(rgb2_resampled, rgb1, proximity)
    return {
        "depth_error": depth_error,
        "rgb_error": rgb_error,
        "ssim_error": (ssim_error * pooled_weight).mean(),
        "frame1_closer_to_camera": closer,
        "rgb2_resampled": rgb2_resampled,
    }


def _auto_masked_consistency(rgb1: Tensor, rgb2: Tensor, rgb2_resampled: Tensor, usable: Tensor,
                             closer: Tensor, depth_error: Tensor, leak: float = 0.0) -> dict[str, Tensor]:
    """Photometric terms with Monodepth2's auto-mask (see `LossOptions`): per pixel the warped error where
    the warp is usable and beats no warp, else the unwarped error (a constant: no gradient) plus, where
    the warp is usable, ``leak`` times the warped error (a gradient towards a better warp)."""
    warped_l1 = (rgb2_resampled - rgb1).abs()
    unwarped_l1 = (rgb2 - rgb1).abs()
    usable = usable.detach().unsqueeze(1)  # [B, 1, H, W]
    use_warp = (usable * (warped_l1.mean(dim=1, keepdim=True) + AUTO_MASK_MARGIN
                          < unwarped_l1.mean(dim=1, keepdim=True)).to(rgb1.dtype)).detach()
    warped_weight = use_warp + leak * usable * (1 - use_warp)  # [B, 1, H, W]
    rgb_error = (warped_weight * warped_l1 + (1 - use_warp) * unwarped_l1).mean()
    ones = torch.ones_like(use_warp)
    warped_ssim, _ = weighted_ssim(rgb2_resampled, rgb1, ones)
    unwarped_ssim, _ = weighted_ssim(rgb2, rgb1, ones)
    inner = use_warp[:, :, 1:-1, 1:-1]  # the SSIM maps cover the 3x3 windows' centres
    inner_warped_weight = warped_weight[:, :, 1:-1, 1:-1]
    ssim_error = (inner_warped_weight * warped_ssim + (1 - inner) * unwarped_ssim).mean()
    return {"depth_error": depth_error, "rgb_error": rgb_error, "ssim_error": ssim_error,
            "frame1_closer_to_camera": closer, "rgb2_resampled": rgb2_resampled}


def motion_cycle_consistency(moved: TransformedPixels, mask: Tensor, rotation1: Tensor, translation1: Tensor,
                             rotation2: Tensor, translation2: Tensor) -> dict[str, Tensor]:
    """Forward motion followed by the backward motion (sampled where each pixel lands) must be identity.

    rotation* [B, 3], translation* [B, 3, H, W], mask [B, H, W]. Both errors are normalised by the
    motions' own magnitudes so the loss asks for opposite motions, not for small ones.
    """
    translation2_resampled = resample(translation2, moved.x.detach(), moved.y.detach())
    r1 = axis_angle_to_matrix(rotation1)
    r2 = axis_angle_to_matrix(rotation2)
    eye = torch.eye(3, dtype=r1.dtype, device=r1.device)
    combined_rotation = r2 @ r1
    rot_error = (combined_rotation - eye).square().mean(dim=(1, 2))
    rot_scale = (r1 - eye).square().mean(dim=(1, 2)) + (r2 - eye).square().mean(dim=(1, 2))
    rotation_error = (rot_error / (1e-24 + rot_scale)).mean()

    b, _, h, w = translation1.shape
    combined_translation = (r2 @ translation1.reshape(b, 3, -1)).reshape(b, 3, h, w) + translation2_resampled

    def squared_norm(t: Tensor) -> Tensor:
        return t.square().sum(dim=1)

    translation_error = (mask * squared_norm(combined_translation)
                         / (1e-24 + squared_norm(translation1) + squared_norm(translation2_resampled))).mean()
    return {"rotation_error": rotation_error, "translation_error": translation_error}


def edge_aware_smoothness(smoothed: Tensor, reference: Tensor) -> Tensor:
    """Mean |gradient| of ``smoothed`` down-weighted by exp(-|gradient|) of the ``reference`` image."""
    smoothed_dx = smoothed[..., :-1] - smoothed[..., 1:]
    smoothed_dy = smoothed[..., :-1, :] - smoothed[..., 1:, :]
    weights_x = torch.exp(-(reference[..., :-1] - reference[..., 1:]).abs().mean(dim=1, keepdim=True))
    weights_y = torch.exp(-(reference[..., :-1, :] - reference[..., 1:, :]).abs().mean(dim=1, keepdim=True))
    return (smoothed_dx * weights_x).abs().mean() + (smoothed_dy * weights_y).abs().mean()


def normalize_motion_map(residual: Tensor, motion: Tensor) -> Tensor:
    """Residual field divided by the RMS norm of the full translation field (per sample)."""
    norm = motion.square().mean(dim=(1, 2, 3), keepdim=True) * 3.0
    return residual / torch.sqrt(norm + 1e-12)


def motion_field_smoothness(field: Tensor, wrap_around: bool) -> Tensor:
    """Group (L2-over-x/y) total variation. Wrapping around the borders pushes smooth gradients of the
    translation field into the rotation, which explains them better (official code comment)."""
    dx = field - torch.roll(field, 1, dims=2)
    dy = field - torch.roll(field, 1, dims=3)
    if not wrap_around:
        dx = dx[:, :, 1:, 1:]
        dy = dy[:, :, 1:, 1:]
    return torch.sqrt(1e-24 + dx.square() + dy.square()).mean()


def motion_field_sparsity(field: Tensor) -> Tensor:
    """L1/2-like sparsity: L1 near zero, weaker far away; the scale is the field's mean |value|."""
    magnitude = field.abs()
    mean = magnitude.mean(dim=(2, 3), keepdim=True).detach()
    return (2 * mean * torch.sqrt(magnitude / (mean + 1e-24) + 1)).mean()


def depth_variance_penalty(depth: Tensor) -> Tensor:
    """Reciprocal of the relative depth variance: discourages collapse to a constant depth."""
    relative = depth / depth.mean()
    return 1.0 / (relative - 1.0).square().mean()


def compute_losses(rgb: Tensor, flipped_rgb: Tensor, depth: Tensor, flipped_depth: Tensor,
                   rotation: Tensor, background_translation: Tensor, residual_translation: Tensor,
                   flipped_rotation: Tensor, flipped_background_translation: Tensor,
                   flipped_residual_translation: Tensor, intrinsics: Tensor, weights: LossWeights,
                   target_depth_stop_gradient: bool = True, options: LossOptions = LossOptions()) -> LossOutput:
    """All loss terms for a direction-stacked batch (see the module docstring).

    rgb, flipped_rgb [2B, 3, H, W]; depth, flipped_depth [2B, 1, H, W]; rotation [2B, 3];
    background_translation [2B, 3]; residual_translation [2B, 3, H, W] (already scaled by the burn-in
    schedule); intrinsics [2B, 3, 3] at the image size. Computed in float32 whatever the autocast.
    """
    rgb, flipped_rgb = rgb.float(), flipped_rgb.float()
    depth, flipped_depth = depth.float(), flipped_depth.float()
    translation = residual_translation.float() + background_translation.float()[:, :, None, None]
    flipped_translation = (flipped_residual_translation.float()
                           + flipped_background_translation.float()[:, :, None, None])
    rotation, flipped_rotation = rotation.float(), flipped_rotation.float()

    raw: dict[str, Tensor] = {}
    raw["depth_variance"] = depth_variance_penalty(depth) if weights.depth_variance else depth.new_zeros(())
    disparity = 1.0 / depth
    mean_disparity = disparity.mean(dim=(1, 2, 3), keepdim=True)
    raw["depth_smoothing"] = edge_aware_smoothness(disparity / mean_disparity, rgb)

    moved = transform_depth_map(depth, rotation, background_translation.float(), residual_translation.float(),
                                intrinsics.float())
    target_depth = flipped_depth.detach() if target_depth_stop_gradient else flipped_depth
    consistency = rgbd_consistency(moved, rgb, target_depth, flipped_rgb, options)
    cycle = motion_cycle_consistency(moved, consistency["frame1_closer_to_camera"], rotation, translation,
                                     flipped_rotation, flipped_translation)
    normalized_residual = normalize_motion_map(residual_translation.float(), translation)
    raw["motion_smoothing"] = motion_field_smoothness(normalized_residual, wrap_around=weights.motion_drift == 0)
    raw["motion_drift"] = motion_field_sparsity(normalized_residual)
    raw["depth_consistency"] = consistency["depth_error"]
    raw["rgb_consistency"] = consistency["rgb_error"]
    raw["ssim"] = consistency["ssim_error"]
    raw["rotation_cycle_consistency"] = cycle["rotation_error"]
    raw["translation_cycle_consistency"] = cycle["translation_error"]

    terms = {name: raw[name] * weights.effective(name) for name in LOSS_TERMS}
    total = torch.stack(list(terms.values())).sum()
    return LossOutput(total, terms, consistency["rgb2_resampled"],
                      consistency["frame1_closer_to_camera"].unsqueeze(1), disparity)
