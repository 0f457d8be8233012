"""Bilinear resampling at arbitrary pixel coordinates, with a mask of where the samples are valid."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def bilinear_sample(image: Tensor, pixels: Tensor) -> tuple[Tensor, Tensor]:
    """Sample `image` [B, C, H, W] at `pixels` [B, 2, h, w] (u, v in pixel units, centres at integers).

    Returns the samples [B, C, h, w] and a float mask [B, 1, h, w] that is 1 where (u, v) lies on the
    image, i.e. within the area of its pixels ([-0.5, W - 0.5] x [-0.5, H - 0.5]), and 0 elsewhere. Between
    the outermost pixel centres and the image edge the border pixel's value is used (that pixel saw this
    area); this also keeps the edge pixels of an identity warp valid despite rounding. Samples off the
    image are clamped to the border so that values and gradients stay finite; the mask says not to trust
    them. Differentiable with respect to both the image and the coordinates.
    """
    height, width = image.shape[-2:]
    u, v = pixels[:, 0], pixels[:, 1]
    # align_corners=True maps -1 and +1 onto the centres of the first and last pixels, which is exactly
    # the integer-centre convention used throughout the package.
    grid = torch.stack([2.0 * u / max(width - 1, 1) - 1.0, 2.0 * v / max(height - 1, 1) - 1.0], dim=-1)
    sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)
    inside = (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
    return sampled, inside.unsqueeze(1).to(image.dtype)
