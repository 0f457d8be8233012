"""The motion network: camera motion, intrinsics and a dense object-translation field for a frame pair.

As the official `motion_field_net`: seven stride-2 3x3 convolutions (16..1024 channels times the width
multiplier) over [rgb1, depth1, rgb2, depth2]; their global average is the bottleneck from which 1x1
convolutions give rotation, background translation and the intrinsics; a residual translation field
starts at the bottleneck and is refined, coarse to fine, by one block per encoder level and a last one
on the input itself, each adding a correction computed from the upsampled field and that level's
features. Learned scalar scales (initial 0.01, floor 0.001) keep the initial motion near identity.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .resnet_encoder import scaled_channels

MOTION_ENCODER_CHANNELS = (16, 32, 64, 128, 256, 512, 1024)
#: Initial value and floor of the learned rotation / translation output scales (official create_scales).
SCALE_INIT = 0.01
SCALE_FLOOR = 0.001


class RawMotion(NamedTuple):
    rotation: Tensor              # [B, 3] axis-angle
    translation: Tensor           # [B, 3]
    intrinsics: Tensor            # [B, 3, 3]
    residual_translation: Tensor  # [B, 3, H, W]


def _floored(scale: Tensor) -> Tensor:
    """``max(scale, SCALE_FLOOR)``: the value of a scale whose variable training keeps at or above the floor.

    The official scales are TensorFlow variables with a *constraint*, a projection onto ``>= floor`` after
    each update (`MotionNet.project_scales`, called by the trainer after every optimiser step), so the
    variable never leaves the floor's reach and the gradient always reaches it (clamp_min passes the
    gradient at the floor itself). The clamp here only matters for weights saved before the projection
    existed, whose scale may lie below the floor: they keep the value they were trained with.
    A straight-through floor (the value clamped, the variable free) was measured to fail: with the camera
    motion given, the field's regularisers drove the translation scale's variable to -0.012 within 200
    steps while its value sat at the floor, so the field stayed zero and could only come back after the
    variable had climbed 0.013 (docs/decisions/motion-scale-floor.md).
    """
    return scale.clamp_min(SCALE_FLOOR)


def _init(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.xavier_uniform_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class RefinementBlock(nn.Module):
    """Upsample a coarse field to a feature map's size and add a correction predicted from both.

    Two parallel towers (one 3x3 conv; two stacked 3x3 convs) over [field, features], concatenated and
    reduced to the field's channels by a bias-free 1x1 conv (official `_refine_motion_field`).
    """

    def __init__(self, feature_channels: int, field_channels: int = 3) -> None:
        super().__init__()
        width = max(4, feature_channels)
        in_channels = field_channels + feature_channels
        self.tower_a = _init(nn.Conv2d(in_channels, width, 3, padding=1))
        self.tower_b1 = _init(nn.Conv2d(in_channels, width, 3, padding=1))
        self.tower_b2 = _init(nn.Conv2d(width, width, 3, padding=1))
        self.output = _init(nn.Conv2d(2 * width, field_channels, 1, bias=False))

    def forward(self, field: Tensor, features: Tensor) -> Tensor:
        upsampled = F.interpolate(field, size=features.shape[-2:], mode="bilinear", align_corners=True)
        x = torch.cat([upsampled, features], 1)
        a = F.relu(self.tower_a(x))
        b = F.relu(self.tower_b2(F.relu(self.tower_b1(x))))
        return upsampled + self.output(torch.cat([a, b], 1))


class MotionNet(nn.Module):
    """[B, 8, H, W] = (rgb1, depth1, rgb2, depth2) -> `RawMotion` for camera 1 -> camera 2."""

    def __init__(self, width_multiplier: float = 1.0, auto_mask: bool = True, in_channels: int = 8) -> None:
        super().__init__()
        channels = [scaled_channels(c, width_multiplier) for c in MOTION_ENCODER_CHANNELS]
        self.encoder = nn.ModuleList()
        previous = in_channels
        for ch in channels:
            self.encoder.append(_init(nn.Conv2d(previous, ch, 3, stride=2, padding=1)))
            previous = ch
        bottleneck = channels[-1]
        self.background_motion = _init(nn.Conv2d(bottleneck, 6, 1, bias=False))
        self.unrefined_residual = _init(nn.Conv2d(6, 3, 1))
        # Coarse to fine: deepest encoder level first, the input images last.
        self.refinements = nn.ModuleList(RefinementBlock(ch) for ch in reversed([in_channels] + channels))
        self.focal_head = _init(nn.Conv2d(bottleneck, 2, 1))
        self.offset_head = _init(nn.Conv2d(bottleneck, 2, 1, bias=False))
        self.rotation_scale = nn.Parameter(torch.tensor(SCALE_INIT))
        self.translation_scale = nn.Parameter(torch.tensor(SCALE_INIT))
        self.auto_mask = auto_mask

    @torch.no_grad()
    def project_scales(self) -> None:
        """Project the rotation and translation scales back onto ``>= SCALE_FLOOR`` (after an optimiser step)."""
        self.rotation_scale.clamp_(min=SCALE_FLOOR)
        self.translation_scale.clamp_(min=SCALE_FLOOR)

    def forward(self, pair: Tensor) -> RawMotion:
        features = [pair]
        for conv in self.encoder:
            features.append(F.relu(conv(features[-1])))
        bottleneck = features[-1].mean(dim=(2, 3), keepdim=True)

        background = self.background_motion(bottleneck)
        field = self.unrefined_residual(background)
        for block, level in zip(self.refinements, reversed(features), strict=True):
            field = block(field, level)

        rotation_scale = _floored(self.rotation_scale)
        translation_scale = _floored(self.translation_scale)
        rotation = background[:, :3, 0, 0] * rotation_scale
        translation = background[:, 3:, 0, 0] * translation_scale
        residual = field * translation_scale
        if self.auto_mask:
            residual = residual * self._auto_mask(residual)
        height, width = pair.shape[-2:]
        return RawMotion(rotation, translation, self._intrinsics(bottleneck, height, width), residual)

    @staticmethod
    def _auto_mask(residual: Tensor) -> Tensor:
        """1 where the field's magnitude exceeds its image mean, else 0.

        The official code takes the mean over the whole batch; here it is per sample, so that a frame's
        output does not depend on what else is in the batch (batch-1 inference equals batched training).
        """
        magnitude = residual.norm(dim=1, keepdim=True)
        return (magnitude > magnitude.mean(dim=(2, 3), keepdim=True)).to(residual.dtype)

    def _intrinsics(self, bottleneck: Tensor, height: int, width: int) -> Tensor:
        """fx, fy = softplus * (W, H); cx, cy = image centre + offset * (W, H), pixel-centre convention."""
        size = bottleneck.new_tensor([float(width), float(height)])
        focal = F.softplus(self.focal_head(bottleneck)[:, :, 0, 0]) * size
        centre = bottleneck.new_tensor([(width - 1) / 2.0, (height - 1) / 2.0])
        principal = centre + self.offset_head(bottleneck)[:, :, 0, 0] * size
        zero = torch.zeros_like(focal[:, 0])
        one = torch.ones_like(zero)
        return torch.stack([torch.stack([focal[:, 0], zero, principal[:, 0]], -1),
                            torch.stack([zero, focal[:, 1], principal[:, 1]], -1),
                            torch.stack([zero, zero, one], -1)], -2)
