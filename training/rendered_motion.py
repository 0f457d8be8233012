"""Supervision of the object-motion field by rendered sequences whose per-pixel motion is exact.

Why: on this project's data the photometric loss does not teach the field, even with the true depth and
ego-motion (docs/decisions/object-motion-photometric.md), while the renderer of `depth_motion_synth` knows every
pixel's motion. With `rendered_motion.weight > 0` each training step adds an L1 loss between the field the
motion network predicts for a few rendered pairs and their true motion
(docs/decisions/rendered-motion-supervision.md). Alone it also fires on real images that look unlike the
renders; together with the official field loss on real video it stays sparse there.

The field is in model units, the motion in metres, so the field is multiplied by a per-frame scale, the
median over the frame's pixels of true / predicted depth (`depth_motion_eval` scales by the ratio of the two
medians, within its depth cap: close, not identical).
Static and moving pixels are averaged separately and then added (`static_weight` times the static mean),
because moving pixels are few: a plain mean would teach a field of zeros.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from depth_motion_ros.evaluation.object_motion import MOVING_EPSILON
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.sources.sequence_folder import SequenceFolderSource
from depth_motion_ros.training.config import RenderedMotionConfig


@dataclass(frozen=True)
class RenderedBatch:
    rgb1: Tensor          # [B, 3, H, W] in [0, 1]
    rgb2: Tensor          # [B, 3, H, W]
    depth1: Tensor        # [B, H, W] metres, NaN where there is no surface (sky)
    motion: Tensor        # [B, 3, H, W] metres per frame, in camera 2's frame


class RenderedMotionPairs:
    """Consecutive pairs of rendered sequences at the network's input size, in memory (a few MB per sequence).

    Each folder must carry `motion/` (written by `depth_motion_synth`). Images are area-resized; depth and
    motion take the nearest sample, so no pixel gets a motion averaged across a car's edge.
    """

    def __init__(self, folders: Sequence[str | Path], input_hw: tuple[int, int]) -> None:
        height, width = input_hw
        rgb: list[np.ndarray] = []
        depth: list[np.ndarray] = []
        motion: list[np.ndarray] = []
        starts: list[int] = []
        for folder in folders:
            frames = list(SequenceFolderSource(folder))
            if any(f.object_motion is None or f.depth is None for f in frames):
                raise ValueError(f"{folder}: a rendered sequence with depth/ and motion/ is needed "
                                 "(depth_motion_synth --out DIR)")
            if len(frames) < 2:
                raise ValueError(f"{folder}: needs at least two frames")
            first = len(rgb)
            for frame in frames:
                assert frame.depth is not None and frame.object_motion is not None  # checked above
                rgb.append(cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_AREA))
                depth.append(cv2.resize(frame.depth, (width, height), interpolation=cv2.INTER_NEAREST))
                motion.append(cv2.resize(frame.object_motion, (width, height), interpolation=cv2.INTER_NEAREST))
            starts.extend(range(first, len(rgb) - 1))  # no pair across two sequences
        self.rgb = np.stack(rgb)
        self.depth = np.stack(depth).astype(np.float32)
        self.motion = np.stack(motion).astype(np.float32)
        self.starts = np.asarray(starts)

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, rng: np.random.Generator, size: int) -> RenderedBatch:
        """`size` random pairs, all mirrored or none (a mirror flips the motion's x)."""
        first = rng.choice(self.starts, size)

        def images(index: np.ndarray) -> Tensor:
            return torch.from_numpy(self.rgb[index]).permute(0, 3, 1, 2).float().div_(255.0)

        rgb1, rgb2 = images(first), images(first + 1)
        depth1 = torch.from_numpy(self.depth[first])
        motion = torch.from_numpy(self.motion[first]).permute(0, 3, 1, 2)
        if rng.random() < 0.5:
            rgb1, rgb2, depth1, motion = (t.flip(-1) for t in (rgb1, rgb2, depth1, motion))
            motion = motion * torch.tensor([-1.0, 1.0, 1.0]).view(1, 3, 1, 1)
        return RenderedBatch(rgb1, rgb2, depth1, motion)


def rendered_motion_loss(field: Tensor, predicted_depth1: Tensor, true_depth1: Tensor, true_motion: Tensor,
                         static_weight: float) -> Tensor:
    """Mean over the batch of static_weight x (mean L1 on static pixels) + (mean L1 on moving pixels), metres.

    `field` [B, 3, H, W] and `predicted_depth1` [B, 1, H, W] in model units; `true_depth1` [B, H, W] (NaN
    where unknown) and `true_motion` [B, 3, H, W] in metres. Pixels without true depth are left out.
    """
    losses = []
    for f, predicted, depth, motion in zip(field, predicted_depth1, true_depth1, true_motion, strict=True):
        valid = torch.isfinite(depth) & (predicted[0] > 0)
        scale = torch.median(depth[valid] / predicted[0][valid]).detach()
        error = (f * scale - motion).abs().sum(0)
        moving = valid & (motion.norm(dim=0) > MOVING_EPSILON)
        static = valid & ~moving
        loss = static_weight * error[static].mean() if static.any() else field.new_zeros(())
        if moving.any():
            loss = loss + error[moving].mean()
        losses.append(loss)
    return torch.stack(losses).mean()


class RenderedMotionTerm:
    """The `rendered_motion` extra loss term (`ExtraLossTerm`): the field's error on rendered pairs, weighted.

    The pairs depend only on the seed and the step, so a resumed run sees the same ones; the depth gets no
    gradient from this term, and the motion network's auto-mask is off for it so every pixel has a gradient.
    """

    name = "rendered_motion"

    def __init__(self, pairs: RenderedMotionPairs, options: RenderedMotionConfig, seed: int, device: torch.device,
                 autocast: Callable[[], AbstractContextManager[object]]) -> None:
        self.pairs, self.options, self.seed, self.device, self.autocast = pairs, options, seed, device, autocast

    def __call__(self, model: DepthMotionModel, step: int) -> Tensor:
        batch = self.pairs.batch(np.random.default_rng([self.seed, step, 31]), self.options.batch_size)
        rgb1, rgb2 = batch.rgb1.to(self.device), batch.rgb2.to(self.device)
        with torch.no_grad(), self.autocast():
            depth1, depth2 = model.depth(torch.cat([rgb1, rgb2])).float().chunk(2)
        motion_net = model.motion_net
        auto_mask, motion_net.auto_mask = motion_net.auto_mask, False
        try:
            with self.autocast():
                field = model.motion(rgb1, depth1, rgb2, depth2).residual_translation.float()
        finally:
            motion_net.auto_mask = auto_mask
        loss = rendered_motion_loss(field, depth1, batch.depth1.to(self.device), batch.motion.to(self.device),
                                    self.options.static_weight)
        weighted: Tensor = self.options.weight * loss
        return weighted
