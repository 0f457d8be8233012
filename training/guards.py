"""Visible warnings for the method's known failure modes (the training keeps going; the user decides).

* Depth collapse: the depth map becomes (nearly) constant, a fixed point the official code mentions
  ("when training starts, the depth sometimes tends to collapse to a constant value").
* Exploding translation: camera translation far larger than the scene depth between consecutive
  frames is physically implausible and usually precedes a divergence.
* Motion field explaining the image: once the residual object motion outweighs the camera motion on
  most pixels, the network is explaining parallax with "moving objects" and depth stops learning.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from depth_motion_ros.training.config import GuardConfig


@dataclass(frozen=True)
class FailureIndicators:
    depth_cv: float  # mean per-image std/mean of the predicted depth
    translation_to_depth: float  # largest |t| / mean depth in the batch
    motion_field_fraction: float  # fraction of pixels where |residual| > |t|


def failure_indicators(depth: Tensor, translation: Tensor, residual_translation: Tensor) -> FailureIndicators:
    """depth [B, 1, H, W], translation [B, 3], residual_translation [B, 3, H, W] (as used in the loss)."""
    with torch.no_grad():
        depth = depth.float()
        flat = depth.flatten(1)
        cv = (flat.std(dim=1) / flat.mean(dim=1).clamp_min(1e-12)).mean().item()
        translation_norm = translation.float().norm(dim=1)
        ratio = (translation_norm / flat.mean(dim=1).clamp_min(1e-12)).max().item()
        residual_norm = residual_translation.float().norm(dim=1)
        fraction = (residual_norm > translation_norm[:, None, None]).float().mean().item()
    return FailureIndicators(cv, ratio, fraction)


def failure_warnings(indicators: FailureIndicators, limits: GuardConfig) -> list[str]:
    """Human-readable warnings for every indicator past its limit (empty when all is well)."""
    warnings = []
    if indicators.depth_cv < limits.depth_collapse_cv:
        warnings.append(f"depth collapsing to a constant (std/mean {indicators.depth_cv:.4f} < "
                        f"{limits.depth_collapse_cv})")
    if indicators.translation_to_depth > limits.translation_to_depth:
        warnings.append(f"camera translation exploding ({indicators.translation_to_depth:.2f} x mean depth "
                        f"> {limits.translation_to_depth})")
    if indicators.motion_field_fraction > limits.motion_field_fraction:
        warnings.append(f"object motion field explains {indicators.motion_field_fraction:.0%} of the image "
                        f"(> {limits.motion_field_fraction:.0%})")
    return warnings
