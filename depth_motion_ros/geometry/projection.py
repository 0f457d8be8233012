"""Back-projection, rigid-plus-residual motion, projection and view warping on [B, ., H, W] grids.

This is the geometry of the method's photometric loss: the depth of frame 1 lifts each pixel to 3D,
the predicted motion carries it into camera 2 (`p2 = R p1 + t + residual`), and projecting it gives the
place in frame 2 that should look like the pixel of frame 1.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .intrinsics import invert_intrinsics
from .sampling import bilinear_sample

#: Points closer to (or behind) the camera than this are not projected; their pixels are masked.
MIN_PROJECTION_DEPTH = 1e-3


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> Tensor:
    """Homogeneous pixel coordinates [1, 3, H, W]: (u, v, 1) with u the column, v the row."""
    v, u = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                          torch.arange(width, dtype=dtype, device=device), indexing="ij")
    return torch.stack([u, v, torch.ones_like(u)], 0).unsqueeze(0)


def back_project(depth: Tensor, intrinsics: Tensor) -> Tensor:
    """Depth [B, 1, H, W] and intrinsics [B, 3, 3] -> camera-frame points [B, 3, H, W] (optical frame)."""
    batch, _, height, width = depth.shape
    rays = invert_intrinsics(intrinsics) @ pixel_grid(height, width, depth.dtype, depth.device).reshape(1, 3, -1)
    return rays.reshape(batch, 3, height, width) * depth


def transform_points(points: Tensor, rotation_matrix: Tensor, translation: Tensor,
                     residual_translation: Tensor | None = None) -> Tensor:
    """`R @ p + t (+ residual)` for points [B, 3, H, W], R [B, 3, 3], t [B, 3], residual [B, 3, H, W]."""
    batch, _, height, width = points.shape
    moved = rotation_matrix @ points.reshape(batch, 3, -1) + translation.reshape(batch, 3, 1)
    moved = moved.reshape(batch, 3, height, width)
    if residual_translation is not None:
        moved = moved + residual_translation
    return moved


class Projection(NamedTuple):
    pixels: Tensor  # [B, 2, H, W] (u, v) in the target image
    depth: Tensor   # [B, 1, H, W] z of each point in the target camera
    valid: Tensor   # [B, 1, H, W] 1 where z > MIN_PROJECTION_DEPTH


def project(points: Tensor, intrinsics: Tensor) -> Projection:
    """Camera-frame points [B, 3, H, W] -> pixel coordinates, their depth and a validity mask."""
    batch, _, height, width = points.shape
    z = points[:, 2:3]
    valid = z > MIN_PROJECTION_DEPTH
    # Dividing by a clamped depth keeps invalid pixels finite (they are masked, but NaNs would poison
    # the gradients of the whole batch).
    safe_z = torch.where(valid, z, torch.full_like(z, MIN_PROJECTION_DEPTH))
    image_points = (intrinsics @ points.reshape(batch, 3, -1)).reshape(batch, 3, height, width)
    return Projection(image_points[:, :2] / safe_z, z, valid.to(points.dtype))


def reproject(depth1: Tensor, intrinsics: Tensor, rotation_matrix: Tensor, translation: Tensor,
              residual_translation: Tensor | None = None, intrinsics2: Tensor | None = None) -> Projection:
    """Where each pixel of frame 1 lands in frame 2, given depth 1 and the motion camera 1 -> camera 2.

    `intrinsics2` defaults to `intrinsics` (one camera seeing both frames, the monocular case).
    """
    points2 = transform_points(back_project(depth1, intrinsics), rotation_matrix, translation,
                               residual_translation)
    return project(points2, intrinsics if intrinsics2 is None else intrinsics2)


class Warp(NamedTuple):
    image: Tensor      # [B, C, H, W] frame 2 resampled on frame 1's grid
    projection: Projection
    mask: Tensor       # [B, 1, H, W] 1 where the point is in front of camera 2 and lands inside frame 2


def warp_frame(image2: Tensor, depth1: Tensor, intrinsics: Tensor, rotation_matrix: Tensor,
               translation: Tensor, residual_translation: Tensor | None = None) -> Warp:
    """Warp frame 2 into frame 1 (see docs/ARCHITECTURE.md, "Motion"), differentiable in every input."""
    projection = reproject(depth1, intrinsics, rotation_matrix, translation, residual_translation)
    sampled, inside = bilinear_sample(image2, projection.pixels)
    return Warp(sampled, projection, inside * projection.valid)
