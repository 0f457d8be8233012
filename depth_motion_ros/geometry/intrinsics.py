"""Pinhole intrinsics and how they change when an image is resized, cropped or flipped.

Convention (docs/ARCHITECTURE.md): pixel centres sit at integer coordinates, so resizing maps the
*edges* of the image onto each other: `cx' = (cx + 0.5) * W2 / W1 - 0.5`. Every function accepts a
torch tensor or a numpy array of shape [..., 3, 3] and returns the same type, because data loaders work
in numpy and the networks in torch.
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

Matrix = TypeVar("Matrix", Tensor, np.ndarray)


def _copy(matrix: Matrix) -> Matrix:
    return matrix.clone() if isinstance(matrix, Tensor) else np.array(matrix, dtype=np.float64, copy=True)


def make_intrinsics(fx: Tensor | float, fy: Tensor | float, cx: Tensor | float, cy: Tensor | float) -> Tensor:
    """[..., 3, 3] matrices from batched (or scalar) parameters; differentiable in all four.

    Python numbers become float32; tensors keep their dtype and device."""
    fx_, fy_, cx_, cy_ = torch.broadcast_tensors(
        *(v if isinstance(v, Tensor) else torch.as_tensor(v, dtype=torch.float32) for v in (fx, fy, cx, cy)))
    zero = torch.zeros_like(fx_)
    one = torch.ones_like(fx_)
    rows = [torch.stack([fx_, zero, cx_], -1), torch.stack([zero, fy_, cy_], -1), torch.stack([zero, zero, one], -1)]
    return torch.stack(rows, -2)


def invert_intrinsics(intrinsics: Tensor) -> Tensor:
    """Closed-form inverse of [..., 3, 3] pinhole matrices (cheaper and exact compared with a solve)."""
    fx = intrinsics[..., 0, 0]
    fy = intrinsics[..., 1, 1]
    cx = intrinsics[..., 0, 2]
    cy = intrinsics[..., 1, 2]
    return make_intrinsics(1.0 / fx, 1.0 / fy, -cx / fx, -cy / fy)


def resize_intrinsics(intrinsics: Matrix, from_size: tuple[int, int], to_size: tuple[int, int]) -> Matrix:
    """Intrinsics of an image resized from `from_size` to `to_size` (both (height, width))."""
    (h1, w1), (h2, w2) = from_size, to_size
    sx, sy = w2 / w1, h2 / h1
    out = _copy(intrinsics)
    out[..., 0, 0] = intrinsics[..., 0, 0] * sx
    out[..., 1, 1] = intrinsics[..., 1, 1] * sy
    out[..., 0, 1] = intrinsics[..., 0, 1] * sx
    out[..., 0, 2] = (intrinsics[..., 0, 2] + 0.5) * sx - 0.5
    out[..., 1, 2] = (intrinsics[..., 1, 2] + 0.5) * sy - 0.5
    return out


def square_pixel_intrinsics(intrinsics: Matrix, at_size: tuple[int, int], image_size: tuple[int, int]) -> Matrix:
    """`intrinsics` of the image `image_size` (height, width) seen resized to `at_size`, with fy replaced so
    that the camera's pixels are square at `image_size` (fx = fy there); fx, cx and cy are kept.

    Why: a network that sees every image resized to one input size cannot tell which aspect ratio the
    image had (a 1241x376 KITTI frame and a 640x480 one both arrive as 160x96), so the fy it predicts at
    that size is not observable from the pixels, while fx (the horizontal field of view) is. The motion
    network's learned fy was 28 % off on 7-Scenes and 46 % on KITTI against 7 % and 9 % for fx
    (docs/decisions/square-pixel-intrinsics.md). Nearly every camera has square pixels, so fy follows from fx
    and the original size, which the caller knows.
    """
    (h_at, w_at), (height, width) = at_size, image_size
    out = _copy(intrinsics)
    out[..., 1, 1] = intrinsics[..., 0, 0] * (width / w_at) * (h_at / height)
    return out


def crop_intrinsics(intrinsics: Matrix, x0: float, y0: float) -> Matrix:
    """Intrinsics of the crop whose top-left pixel is (x0, y0) of the original image."""
    out = _copy(intrinsics)
    out[..., 0, 2] = intrinsics[..., 0, 2] - x0
    out[..., 1, 2] = intrinsics[..., 1, 2] - y0
    return out


def flip_intrinsics_horizontally(intrinsics: Matrix, width: int) -> Matrix:
    """Intrinsics of the mirrored image (u -> width - 1 - u); the focal length keeps its sign because the
    flipped image is treated as a new, ordinary camera (the usual augmentation)."""
    out = _copy(intrinsics)
    out[..., 0, 2] = (width - 1) - intrinsics[..., 0, 2]
    return out
