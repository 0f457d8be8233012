"""TensorBoard images: input frame, depth (as normalised disparity), object motion field, warped frame."""
from __future__ import annotations

from torch import Tensor


def disparity_image(depth: Tensor) -> Tensor:
    """[1, H, W] depth -> [1, H, W] disparity scaled to [0, 1] (near is bright, as in the paper's figures)."""
    disparity = 1.0 / depth.float().clamp_min(1e-6)
    low, high = disparity.min(), disparity.max()
    return (disparity - low) / (high - low).clamp_min(1e-12)


def motion_field_image(residual_translation: Tensor) -> Tensor:
    """[3, H, W] residual translation -> RGB in [0, 1]: 0.5 grey is no motion, |x, y, z| map to R, G, B."""
    scale = residual_translation.abs().max().clamp_min(1e-12)
    return (0.5 + 0.5 * residual_translation.float() / scale).clamp(0.0, 1.0)


def training_images(rgb: Tensor, depth: Tensor, residual_translation: Tensor, warped: Tensor) -> dict[str, Tensor]:
    """The first sample of a batch as CHW images keyed by their TensorBoard tag."""
    return {
        "images/input": rgb[0].float().clamp(0, 1),
        "images/disparity": disparity_image(depth[0]),
        "images/motion_field": motion_field_image(residual_translation[0]),
        "images/warped_partner": warped[0].float().clamp(0, 1),
    }
