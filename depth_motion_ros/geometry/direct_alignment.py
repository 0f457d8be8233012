"""Photometric refinement of the network's camera motion (direct image alignment, as in DVO).

The motion network regresses one frame pair's motion from 96x160 pixels in a single pass; at that size
small rotations are hard to tell from sideways translation, and its per-frame rotation error on the
validation recordings stays near that of standing still (docs/decisions/pose-refinement.md). Given the predicted
depth of frame 1 and the camera intrinsics, the same photometric error the networks were trained with can
be minimised over the six (or three) pose parameters directly: Gauss-Newton on the grey-level residual,
coarse to fine, with Huber weights so that moving objects and occlusions count less. The network's motion
is the starting point, so only the local minimum near it is searched, and a result that explains the
images worse than the network's own motion is thrown away.

Modes: 'rotation' refines only the rotation (keeps the network's translation); 'full' refines rotation
and translation. 'none' returns the network's motion unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .projection import back_project, project
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .sampling import bilinear_sample

#: Refinement modes, e.g. the node's `pose_refinement` parameter.
REFINEMENT_MODES = ("none", "rotation", "full")

#: Fewest usable pixels at a pyramid level for a Gauss-Newton step to be taken there.
MIN_PIXELS = 64

#: A refined motion that leaves fewer than this fraction of the usable pixels inside frame 2 is not trusted
#: (a cost over a much smaller overlap can be lower without the motion being better).
MIN_KEPT_FRACTION = 0.5

#: A level is done when no pose parameter changes by more than this in one step (radians, or depth units
#: for the translation: 1e-5 rad is 0.0006 degrees).
CONVERGED_STEP = 1e-5


@dataclass(frozen=True)
class AlignmentOptions:
    """How the refinement runs (figures per mode: docs/decisions/pose-refinement.md).

    The pyramid, step count and Huber threshold are textbook values set before any measurement; none was
    tuned on the evaluation frames.
    """

    mode: str                            # one of REFINEMENT_MODES
    levels: tuple[int, ...] = (4, 2, 1)  # downsampling factors, coarse to fine
    iterations: int = 5                  # Gauss-Newton steps per level at most
    huber: float = 1.345                 # Huber threshold in robust standard deviations (95 % efficiency)

    def __post_init__(self) -> None:
        if self.mode not in REFINEMENT_MODES:
            raise ValueError(f"unknown pose refinement '{self.mode}': expected one of {', '.join(REFINEMENT_MODES)}")
        if not self.levels or any(int(level) < 1 for level in self.levels):
            raise ValueError(f"pyramid levels must be positive integers, got {self.levels}")
        if self.iterations < 1 or self.huber <= 0:
            raise ValueError("iterations must be at least 1 and huber positive")


def to_grey(image: Tensor) -> Tensor:
    """[B, 3, H, W] RGB -> [B, 1, H, W] luma (ITU-R BT.601 weights)."""
    weights = image.new_tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    return (image * weights).sum(1, keepdim=True)


def image_gradients(image: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences d/du and d/dv of [B, 1, H, W], zero on the border rows and columns."""
    du = torch.zeros_like(image)
    dv = torch.zeros_like(image)
    du[..., 1:-1] = 0.5 * (image[..., 2:] - image[..., :-2])
    dv[..., 1:-1, :] = 0.5 * (image[..., 2:, :] - image[..., :-2, :])
    return du, dv


def _downsample(grey1: Tensor, depth1: Tensor, grey2: Tensor, intrinsics: Tensor,
                factor: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One pyramid level: images averaged, depth averaged as inverse depth (edges stay near the foreground)."""
    if factor == 1:
        return grey1, depth1, grey2, intrinsics
    scaled = intrinsics.clone()
    scaled[:, :2, :2] = intrinsics[:, :2, :2] / factor
    scaled[:, :2, 2] = (intrinsics[:, :2, 2] + 0.5) / factor - 0.5
    return (F.avg_pool2d(grey1, factor), 1.0 / F.avg_pool2d(1.0 / depth1, factor),
            F.avg_pool2d(grey2, factor), scaled)


class _Residuals:
    """Grey-level residuals of frame 2 warped into frame 1 and their Jacobian at one pyramid level."""

    def __init__(self, grey1: Tensor, depth1: Tensor, grey2: Tensor, intrinsics: Tensor) -> None:
        self.shape = grey1.shape[-2:]
        self.points = back_project(depth1, intrinsics)[0].reshape(3, -1)  # [3, N] in camera 1
        self.target = grey1.reshape(-1)
        self.intrinsics = intrinsics
        self.stack = torch.cat([grey2, *image_gradients(grey2)], 1)       # value, d/du, d/dv of frame 2

    def evaluate(self, rotation: Tensor, translation: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Residuals [N], usable mask [N], moved points q [3, N] and dI/dq [N, 3] at the motion (R, t)."""
        moved = rotation @ self.points + translation[:, None]
        projection = project(moved.reshape(1, 3, *self.shape), self.intrinsics)
        sampled, inside = bilinear_sample(self.stack, projection.pixels)
        sampled = sampled[0].reshape(3, -1)
        mask = (inside * projection.valid).reshape(-1)
        fx, fy = self.intrinsics[0, 0, 0], self.intrinsics[0, 1, 1]
        x, y, z = moved[0], moved[1], moved[2].clamp_min(1e-3)
        grad_u, grad_v = sampled[1], sampled[2]
        # Chain rule through the pinhole projection u = fx x / z + cx, v = fy y / z + cy.
        d_point = torch.stack([grad_u * fx / z, grad_v * fy / z,
                               -(grad_u * fx * x + grad_v * fy * y) / (z * z)], 1)
        return sampled[0] - self.target, mask, moved, d_point


def huber_threshold(residuals: Tensor, mask: Tensor, huber: float) -> Tensor:
    """`huber` robust standard deviations of the usable residuals (1.4826 x their median absolute value)."""
    usable = residuals[mask > 0].abs()
    sigma = 1.4826 * usable.median() if usable.numel() else residuals.new_tensor(1.0)
    return huber * sigma.clamp_min(1e-4)


def huber_weights(residuals: Tensor, mask: Tensor, threshold: Tensor) -> Tensor:
    """IRLS weights [N] of the Huber cost: 1 inside the threshold, threshold/|r| outside, 0 where unusable."""
    magnitude = residuals.abs()
    return mask * torch.where(magnitude <= threshold, torch.ones_like(magnitude),
                              threshold / magnitude.clamp_min(1e-12))


def huber_cost(residuals: Tensor, mask: Tensor, threshold: Tensor) -> Tensor:
    """Mean Huber cost of the usable residuals."""
    magnitude = residuals.abs()
    cost = torch.where(magnitude <= threshold, 0.5 * magnitude ** 2, threshold * (magnitude - 0.5 * threshold))
    return (cost * mask).sum() / mask.sum().clamp_min(1.0)


def _refine_one(grey1: Tensor, depth1: Tensor, grey2: Tensor, intrinsics: Tensor, rotation: Tensor,
                translation: Tensor, options: AlignmentOptions) -> tuple[Tensor, Tensor]:
    """One pair (batch of 1): rotation matrix [3, 3] and translation [3] after refinement."""
    start_rotation, start_translation = rotation, translation
    parameters = 6 if options.mode == "full" else 3
    finest = None
    for factor in options.levels:
        level = _Residuals(*_downsample(grey1, depth1, grey2, intrinsics, int(factor)))
        if int(factor) == 1:
            finest = level  # reused by the final check below
        for _ in range(options.iterations):
            residuals, mask, moved, d_point = level.evaluate(rotation, translation)
            if mask.sum() < MIN_PIXELS:
                break
            weights = huber_weights(residuals, mask, huber_threshold(residuals, mask, options.huber))
            # p2 = exp(w) (R p1 + t) + dt: d p2 / d w = -[q]x, so dI/dw = q x dI/dq; dI/d(dt) = dI/dq.
            jacobian = torch.cat([torch.linalg.cross(moved.T, d_point), d_point], 1)[:, :parameters]
            weighted = jacobian * weights[:, None]
            # Sums over pixels in float32 (fast), the 6x6 solve in float64 (well conditioned by the damping).
            hessian = (weighted.T @ jacobian).double()
            hessian = hessian + 1e-6 * hessian.diagonal().mean().clamp_min(1e-12) * torch.eye(
                parameters, dtype=hessian.dtype, device=hessian.device)
            step = -torch.linalg.solve(hessian, (weighted.T @ residuals).double()).to(rotation.dtype)
            if not torch.isfinite(step).all():
                break
            step_rotation = axis_angle_to_matrix(step[:3])
            rotation = step_rotation @ rotation
            translation = step_rotation @ translation + (step[3:] if parameters == 6 else 0.0)
            if step.abs().max() < CONVERGED_STEP:
                break
    # Keep the result only if it explains the full-resolution images better than the network's motion
    # (the same robust cost, with the scale of the network's residuals, for both).
    finest = finest or _Residuals(grey1, depth1, grey2, intrinsics)
    start_residuals, start_mask, _, _ = finest.evaluate(start_rotation, start_translation)
    if start_mask.sum() < MIN_PIXELS:
        return start_rotation, start_translation
    threshold = huber_threshold(start_residuals, start_mask, options.huber)
    end_residuals, end_mask, _, _ = finest.evaluate(rotation, translation)
    refined_cost = huber_cost(end_residuals, end_mask, threshold)
    start_cost = huber_cost(start_residuals, start_mask, threshold)
    kept_enough = end_mask.sum() >= MIN_KEPT_FRACTION * start_mask.sum()
    if not (torch.isfinite(rotation).all() and torch.isfinite(translation).all() and kept_enough
            and refined_cost <= start_cost):
        return start_rotation, start_translation
    return rotation, translation


@torch.no_grad()
def refine_motion(image1: Tensor, depth1: Tensor, image2: Tensor, intrinsics: Tensor, rotation: Tensor,
                  translation: Tensor, options: AlignmentOptions) -> tuple[Tensor, Tensor]:
    """Refine the motion camera 1 -> camera 2 so that frame 2, warped into frame 1, matches it best.

    Arguments follow docs/ARCHITECTURE.md: images [B, 3, H, W] in [0, 1], depth of frame 1 [B, 1, H, W],
    intrinsics [B, 3, 3] at that size, rotation [B, 3] (axis-angle) and translation [B, 3] with
    `p2 = R p1 + t`. Returns the refined (rotation, translation) in the same form. Depth scale does not
    matter for the rotation; the refined translation is in the depth's units.
    """
    if options.mode == "none":
        return rotation, translation
    grey1, grey2 = to_grey(image1.float()), to_grey(image2.float())
    rotations, translations = [], []
    for b in range(image1.shape[0]):
        matrix, refined_translation = _refine_one(
            grey1[b:b + 1], depth1[b:b + 1].float(), grey2[b:b + 1], intrinsics[b:b + 1].float(),
            axis_angle_to_matrix(rotation[b].float()), translation[b].float(), options)
        rotations.append(matrix_to_axis_angle(matrix))
        translations.append(refined_translation)
    return (torch.stack(rotations).to(rotation.dtype), torch.stack(translations).to(translation.dtype))
