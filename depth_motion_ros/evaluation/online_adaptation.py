"""Online adaptation: the depth network keeps learning, self-supervised, from the frames it has just seen.

Why. The bundled depth network was trained on a few recordings; on a new scene it falls back on priors
(on the 7-Scenes validation frames it cannot be told from a fixed ramp, docs/decisions/figure-intervals.md). The
frames a robot has just recorded are exactly the data that would teach it this scene, and the pose
refinement (geometry/direct_alignment.py) already gives the camera motion between them. So, as in
test-time adaptation (struct2depth's online refinement, Casser et al. 2019; CoMoDA, Kuznietsov et al.
2021), each new frame is first predicted with the current weights (the output is never trained on its
own frame first: causal), and then the depth network takes a few gradient steps on pairs of recent
frames.

Each step draws pairs (a, b) of frames `stride` apart from a window of the newest frames. The camera
motion a -> b starts from the chain of consecutive motions the caller passed in and is refined (`full`
direct alignment) against the current depth of frame a, so it is in that depth's units and explains the
pair as well as this depth allows; then frame b is warped into frame a with the depth of a (with gradient)
and Monodepth2's photometric error (0.85 SSIM + 0.15 L1, per-pixel minimum against no warp) plus a small
edge-aware smoothness term is minimised. Only the depth network changes; poses are not learned here.

Status: a measuring tool of `depth_motion_eval --online-adaptation`, NOT a node feature. On held-out
rendered streets it takes the bundled model's abs rel from 0.397 to 0.266, but on the handheld 7-Scenes
development frames it has stretches where the depth gets much worse than without it (a continuous run over
frames 0-799: its last 200 frames 0.311 against 0.239), so it failed the rules set for shipping it
(docs/decisions/online-adaptation.md, settings A-F; these defaults are setting F).
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.geometry.projection import back_project, project, transform_points, warp_frame
from depth_motion_ros.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

#: Monodepth2's mix of the SSIM and L1 photometric errors, and its SSIM constants (0.01^2, 0.03^2).
SSIM_SHARE = 0.85
SSIM_C1, SSIM_C2 = 1e-4, 9e-4


@dataclass(frozen=True)
class AdaptationOptions:
    """How the depth network adapts; the defaults are setting F of docs/decisions/online-adaptation.md.

    `strides` are the frame distances of the training pairs: wider ones give more parallax (slow handheld
    cameras), narrower ones keep working when the camera moves fast.
    """

    learning_rate: float = 5e-5
    batch_size: int = 4
    strides: tuple[int, ...] = (2, 4, 8, 16)
    smoothness: float = 1e-3
    #: A pair's photometric error counts only if its translation alone turns the viewing rays by at least
    #: this angle (median over the pixels, degrees): with less parallax the depth is poorly observable, and
    #: the depth network learns to absorb the pair's rotation error instead, about 1 degree on handheld video
    #: (the collapse in docs/decisions/online-adaptation.md). The smoothness term covers every pair.
    min_parallax_deg: float = 3.0
    #: After every step each weight moves this fraction of the way back to its starting value, so what was
    #: learned fades over about 1 / fraction steps. Tried against long-run drift (600 frames of a handheld
    #: kitchen recording made the next 200 worse, while every fresh 200-frame run improved); it did NOT cure
    #: it (setting F against E, docs/decisions/online-adaptation.md), and is kept because F is the last
    #: setting measured.
    forgetting: float = 1.0 / 200.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.batch_size < 1 or self.smoothness < 0 or self.min_parallax_deg < 0:
            raise ValueError("learning_rate must be positive, batch_size at least 1, smoothness and "
                             "min_parallax_deg non-negative")
        if not 0.0 <= self.forgetting < 1.0:
            raise ValueError(f"forgetting must be in [0, 1), got {self.forgetting}")
        if not self.strides or any(int(stride) < 1 for stride in self.strides):
            raise ValueError(f"strides must be positive integers, got {self.strides}")


class WindowFrame(NamedTuple):
    image: Tensor       # [1, 3, h, w] in [0, 1] at the network size
    intrinsics: Tensor  # [1, 3, 3] at the network size
    pose: Tensor        # [4, 4] camera -> the frame that started the chain (float64, CPU), in depth units


def ssim_error(x: Tensor, y: Tensor) -> Tensor:
    """(1 - SSIM) / 2 per pixel over 3x3 windows with reflected borders (Monodepth2's form), [B, C, H, W]."""
    x = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    y = nn.functional.pad(y, (1, 1, 1, 1), mode="reflect")
    pool = nn.functional.avg_pool2d
    mu_x, mu_y = pool(x, 3, 1), pool(y, 3, 1)
    sigma_x = pool(x * x, 3, 1) - mu_x ** 2
    sigma_y = pool(y * y, 3, 1) - mu_y ** 2
    sigma_xy = pool(x * y, 3, 1) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)) / (
        (mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2))
    return ((1 - ssim) / 2).clamp(0, 1)


def photometric_error(x: Tensor, y: Tensor) -> Tensor:
    """Per-pixel appearance error [B, 1, H, W] of two image batches [B, 3, H, W]."""
    return (SSIM_SHARE * ssim_error(x, y) + (1 - SSIM_SHARE) * (x - y).abs()).mean(1, keepdim=True)


def disparity_smoothness(depth: Tensor, image: Tensor) -> Tensor:
    """Edge-aware smoothness of the mean-normalised disparity (scale-free, so it cannot shrink the depth)."""
    disparity = 1.0 / depth
    disparity = disparity / (disparity.mean(dim=(2, 3), keepdim=True) + 1e-7)
    dx = (disparity[..., :-1] - disparity[..., 1:]).abs()
    dy = (disparity[..., :-1, :] - disparity[..., 1:, :]).abs()
    weight_x = torch.exp(-(image[..., :-1] - image[..., 1:]).abs().mean(1, keepdim=True))
    weight_y = torch.exp(-(image[..., :-1, :] - image[..., 1:, :]).abs().mean(1, keepdim=True))
    return (dx * weight_x).mean() + (dy * weight_y).mean()


def translation_parallax(depth: Tensor, intrinsics: Tensor, rotation: Tensor, translation: Tensor) -> Tensor:
    """Median image motion [B] (pixels) that each pair's translation adds to its rotation: the parallax that
    makes depth observable. depth [B, 1, H, W], intrinsics [B, 3, 3], rotation [B, 3] axis-angle, translation [B, 3].
    Divided by the focal length it is the triangulation angle (radians, small angles)."""
    rotated = transform_points(back_project(depth, intrinsics), axis_angle_to_matrix(rotation),
                               torch.zeros_like(translation))
    moved = rotated + translation[:, :, None, None]
    start, end = project(rotated, intrinsics), project(moved, intrinsics)
    shift = (end.pixels - start.pixels).norm(dim=1)
    usable = (start.valid * end.valid)[:, 0] > 0
    return torch.stack([shift[b][usable[b]].median() if usable[b].any() else shift.new_tensor(0.0)
                        for b in range(shift.shape[0])])


class OnlineDepthAdapter:
    """Trains `depth_net` in place on a window of recent frames: `add_frame` per frame, `step` per update.

    The caller owns the order: predict a frame's depth first, then `add_frame` it, then `step`. A frame
    passed without motion (the first one, or after a gap) starts a new window, since the chain of poses
    that relates its frames is broken.
    """

    def __init__(self, depth_net: nn.Module, options: AdaptationOptions | None = None) -> None:
        self.depth_net = depth_net
        self.options = options or AdaptationOptions()
        self.window: deque[WindowFrame] = deque(maxlen=max(self.options.strides) + 1)
        self.optimizer = torch.optim.Adam(depth_net.parameters(), lr=self.options.learning_rate)
        self._start = [parameter.detach().clone() for parameter in depth_net.parameters()]
        self.refinement = AlignmentOptions(mode="full")
        self.steps = 0
        self.skipped_steps = 0
        self.uninformative_steps = 0
        self._random = random.Random(self.options.seed)

    def add_frame(self, image: Tensor, intrinsics: Tensor, motion_from_previous: Tensor | np.ndarray | None,
                  refine: bool = True) -> None:
        """Add the newest frame (`image` [1, 3, h, w], `intrinsics` [1, 3, 3] at that size) with the camera
        motion from the previous frame, a 4x4 `T` with p_cur = T p_prev in the depth's units, or None to start
        a new window. With `refine`, that motion is first refined (`full`) against the current depth of the
        previous frame; pass False when it already was (`depth_motion_eval --pose-refinement full`)."""
        image, intrinsics = image.detach(), intrinsics.detach().float().to(image.device)
        if motion_from_previous is None or not self.window:
            self.window.clear()
            pose = torch.eye(4, dtype=torch.float64)
        else:
            previous = self.window[-1]
            motion = torch.as_tensor(motion_from_previous, dtype=torch.float64).cpu()
            if refine:  # the chain is only as good as its links
                with torch.no_grad():
                    rotation, translation = refine_motion(
                        previous.image, self.depth_net(previous.image), image, previous.intrinsics,
                        matrix_to_axis_angle(motion[:3, :3].float())[None].to(image.device),
                        motion[:3, 3].float()[None].to(image.device), self.refinement)
                motion = torch.eye(4, dtype=torch.float64)
                motion[:3, :3] = axis_angle_to_matrix(rotation[0].double().cpu())
                motion[:3, 3] = translation[0].double().cpu()
            pose = previous.pose @ torch.linalg.inv(motion)
        self.window.append(WindowFrame(image, intrinsics, pose))

    def _draw_pairs(self) -> list[tuple[int, int]]:
        """Window indices (a, b), b after a: the newest frame at the widest usable stride first, then
        random pairs at random usable strides."""
        newest = len(self.window) - 1
        usable = [stride for stride in self.options.strides if stride <= newest]
        if not usable:
            return []
        pairs = [(newest - max(usable), newest)]
        while len(pairs) < self.options.batch_size:
            stride = self._random.choice(usable)
            later = self._random.randint(stride, newest)
            pairs.append((later - stride, later))
        return pairs

    def step(self) -> float | None:
        """One gradient step; returns its loss, or None when there was nothing to learn from: a window too
        short for any stride, no pair with `min_parallax_deg` of parallax (counted in `uninformative_steps`), or
        a loss that was not finite (the step is skipped and counted in `skipped_steps`)."""
        pairs = self._draw_pairs()
        if not pairs:
            return None
        frames_a = [self.window[a] for a, _ in pairs]
        images_a = torch.cat([frame.image for frame in frames_a])
        images_b = torch.cat([self.window[b].image for _, b in pairs])
        intrinsics = torch.cat([frame.intrinsics for frame in frames_a])
        chained = [torch.linalg.inv(self.window[b].pose) @ self.window[a].pose for a, b in pairs]
        # One pass with gradient; its detached values serve the refinement and the gate (a second, no-grad pass
        # would give the same numbers: the network has no randomness at this point).
        depth = self.depth_net(images_a)
        start_depth = depth.detach()
        with torch.no_grad():
            rotation = torch.stack([matrix_to_axis_angle(t[:3, :3].float()) for t in chained]).to(images_a.device)
            translation = torch.stack([t[:3, 3].float() for t in chained]).to(images_a.device)
            rotation, translation = refine_motion(images_a, start_depth, images_b, intrinsics, rotation, translation,
                                                  self.refinement)
            parallax = translation_parallax(start_depth, intrinsics, rotation, translation)
            angle = torch.rad2deg(torch.atan(parallax / intrinsics[:, 0, 0]))
            informative = angle >= self.options.min_parallax_deg
        if not informative.any():
            self.uninformative_steps += 1
            return None
        warp = warp_frame(images_b, depth, intrinsics, axis_angle_to_matrix(rotation), translation)
        error = photometric_error(warp.image, images_a)
        # Monodepth2's auto-mask: a pixel counts only where the warp explains it better than no warp at all
        # (static scenes, objects moving with the camera, texture-less areas carry no depth signal).
        kept = (error < photometric_error(images_b, images_a)).to(error.dtype) * warp.mask
        kept = kept * informative.to(kept.dtype)[:, None, None, None]
        loss = (error * kept).sum() / (kept.sum() + 1.0)
        loss = loss + self.options.smoothness * disparity_smoothness(depth, images_a)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):  # one bad pair must not poison the weights
            self.skipped_steps += 1
            return None
        loss.backward()
        self.optimizer.step()
        if self.options.forgetting > 0:
            with torch.no_grad():
                for parameter, start in zip(self.depth_net.parameters(), self._start, strict=True):
                    parameter.lerp_(start, self.options.forgetting)
        self.steps += 1
        return float(loss.detach())
