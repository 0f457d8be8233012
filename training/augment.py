"""Pair augmentation: random crop-and-resize, horizontal flip, colour jitter, with intrinsics kept exact.

Both frames of a pair always get the SAME geometric and photometric change: the photometric loss
compares them pixel by pixel, and a different jitter per frame would be an error no depth can explain.
The crop follows the official `random_crop_and_resize_pipeline`: a crop size drawn uniformly between
the output size and the full (cached) frame, at a uniform offset, then resized to the output size.
Random crops of different sizes are also what lets the network see different focal lengths, which
matters when intrinsics are learned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch

from depth_motion_ros.geometry import crop_intrinsics, flip_intrinsics_horizontally, resize_intrinsics


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = True
    crop: bool = True
    flip: bool = True
    #: Largest relative change of brightness, contrast and saturation (0 disables colour jitter).
    colour_jitter: float = 0.2

    @classmethod
    def from_dict(cls, values: dict) -> AugmentConfig:
        return cls(**values)


class PairGeometry(NamedTuple):
    """The geometric change applied to a pair: crop ``(x0, y0, width, height)`` of the cached frame, resize to
    the output size, then mirror if ``flip``. Ground-truth maps of the pair follow it (`geometry_of_map`)."""

    crop_box: tuple[int, int, int, int]
    flip: bool


class AugmentedPair(NamedTuple):
    rgb1: torch.Tensor  # float [3, H, W] in [0, 1]
    rgb2: torch.Tensor
    intrinsics: np.ndarray  # 3x3 of the output
    geometry: PairGeometry


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 [3, H, W] in [0, 1]."""
    rgb = np.ascontiguousarray(rgb)
    if not rgb.flags.writeable:  # a slice of the read-only cache memmap: torch wants writable memory
        rgb = rgb.copy()
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)


def _resize(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == tuple(hw):
        return np.ascontiguousarray(rgb)
    shrinking = rgb.shape[0] >= hw[0] and rgb.shape[1] >= hw[1]
    return cv2.resize(np.ascontiguousarray(rgb), (hw[1], hw[0]),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_pair(rgb1: np.ndarray, rgb2: np.ndarray, intrinsics: np.ndarray, output_hw: tuple[int, int]
                ) -> AugmentedPair:
    """No augmentation: both frames resized to ``output_hw`` (validation, or augmentation disabled)."""
    k = resize_intrinsics(np.asarray(intrinsics, dtype=np.float64), rgb1.shape[:2], output_hw)
    whole = PairGeometry((0, 0, rgb1.shape[1], rgb1.shape[0]), False)
    return AugmentedPair(_to_tensor(_resize(rgb1, output_hw)), _to_tensor(_resize(rgb2, output_hw)), k, whole)


def geometry_of_map(values: np.ndarray, geometry: PairGeometry, output_hw: tuple[int, int]) -> np.ndarray:
    """A per-pixel ground-truth map (e.g. depth [H, W]) of a cached frame given the pair's geometric change.

    Nearest-neighbour resizing: averaging across a depth edge would invent surfaces that do not exist.
    """
    x0, y0, crop_w, crop_h = geometry.crop_box
    out = cv2.resize(np.ascontiguousarray(values[y0:y0 + crop_h, x0:x0 + crop_w]), (output_hw[1], output_hw[0]),
                     interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(out[:, ::-1]) if geometry.flip else out


def mirror_rigid_motion(motion: np.ndarray) -> np.ndarray:
    """A 4x4 camera motion as seen in horizontally mirrored images: x -> -x on both sides (F T F)."""
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    mirrored: np.ndarray = mirror @ motion @ mirror
    return mirrored


def crop_resize_flip(rgb1: np.ndarray, rgb2: np.ndarray, intrinsics: np.ndarray, output_hw: tuple[int, int],
                     crop_box: tuple[int, int, int, int], flip: bool
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic geometric part: crop ``(x0, y0, width, height)``, resize to ``output_hw``, mirror."""
    x0, y0, crop_w, crop_h = crop_box
    k = crop_intrinsics(np.asarray(intrinsics, dtype=np.float64), x0, y0)
    k = resize_intrinsics(k, (crop_h, crop_w), output_hw)
    out1 = _resize(rgb1[y0:y0 + crop_h, x0:x0 + crop_w], output_hw)
    out2 = _resize(rgb2[y0:y0 + crop_h, x0:x0 + crop_w], output_hw)
    if flip:
        out1, out2 = out1[:, ::-1], out2[:, ::-1]
        k = flip_intrinsics_horizontally(k, output_hw[1])
    return out1, out2, k


def colour_jitter(rgb1: torch.Tensor, rgb2: torch.Tensor, strength: float, rng: np.random.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random brightness, contrast and saturation change on both [3, H, W] frames."""
    brightness, contrast, saturation = 1.0 + rng.uniform(-strength, strength, size=3)

    def apply(rgb: torch.Tensor, mean_grey: torch.Tensor) -> torch.Tensor:
        rgb = rgb * brightness
        rgb = (rgb - mean_grey * brightness) * contrast + mean_grey * brightness
        grey = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]).unsqueeze(0)
        adjusted: torch.Tensor = ((rgb - grey) * saturation + grey).clamp_(0.0, 1.0)
        return adjusted

    # One contrast pivot for both frames, so their relative brightness is preserved exactly.
    pivot = (0.299 * rgb1[0] + 0.587 * rgb1[1] + 0.114 * rgb1[2]).mean()
    return apply(rgb1, pivot), apply(rgb2, pivot)


def augment_pair(rgb1: np.ndarray, rgb2: np.ndarray, intrinsics: np.ndarray, output_hw: tuple[int, int],
                 rng: np.random.Generator, config: AugmentConfig) -> AugmentedPair:
    """Random crop-and-resize, flip and colour jitter of one pair (uint8 HxWx3 frames of equal size).

    Returns float [3, H, W] tensors at ``output_hw``, the intrinsics of the result and the geometric change.
    """
    height, width = rgb1.shape[:2]
    out_h, out_w = output_hw
    if config.crop and height >= out_h and width >= out_w:
        crop_h = int(rng.integers(out_h, height + 1))
        crop_w = int(rng.integers(out_w, width + 1))
        y0 = int(rng.integers(0, height - crop_h + 1))
        x0 = int(rng.integers(0, width - crop_w + 1))
    else:
        crop_h, crop_w, y0, x0 = height, width, 0, 0
    flip = bool(config.flip and rng.integers(0, 2))
    out1, out2, k = crop_resize_flip(rgb1, rgb2, intrinsics, output_hw, (x0, y0, crop_w, crop_h), flip)
    t1, t2 = _to_tensor(out1), _to_tensor(out2)
    if config.colour_jitter > 0:
        t1, t2 = colour_jitter(t1, t2, config.colour_jitter, rng)
    return AugmentedPair(t1, t2, k, PairGeometry((x0, y0, crop_w, crop_h), flip))
