"""`DepthMotionModel`: the depth and motion networks of one configuration, with the package's API."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..model_config import ModelConfig
from .depth_net import DepthNet
from .motion_net import MotionNet


class MotionOutput(NamedTuple):
    rotation: Tensor              # [B, 3] axis-angle, camera 1 -> camera 2
    translation: Tensor           # [B, 3]
    intrinsics: Tensor            # [B, 3, 3] learned, pixels at the network input size
    residual_translation: Tensor  # [B, 3, H, W] object motion on frame 1's grid


class DepthMotionModel(nn.Module):
    """Holds `.depth_net`, `.motion_net` and the `.config` they were built from."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.depth_net = DepthNet(config.depth_width_multiplier, config.reflect_padding, config.decoder_activation,
                                  config.depth_encoder)
        self.motion_net = MotionNet(config.motion_width_multiplier, config.motion_auto_mask)

    def depth(self, rgb: Tensor) -> Tensor:
        """rgb [B, 3, H, W] in [0, 1] -> depth [B, 1, H, W] > 0."""
        return self.depth_net(rgb)

    def motion(self, rgb1: Tensor, depth1: Tensor, rgb2: Tensor, depth2: Tensor) -> MotionOutput:
        """Motion of points from camera 1 to camera 2 (see docs/ARCHITECTURE.md, "Motion").

        Inputs are fed as the official cascade does: RGB in [0, 1] and the predicted depth unnormalised,
        so that the translation can follow the scale of the depth.
        """
        raw = self.motion_net(torch.cat([rgb1, depth1, rgb2, depth2], 1))
        return MotionOutput(raw.rotation, raw.translation, raw.intrinsics, raw.residual_translation)

    def forward(self, rgb1: Tensor, rgb2: Tensor) -> tuple[Tensor, Tensor, MotionOutput]:
        """Depth of both frames and the motion 1 -> 2 in one call (the whole inference step)."""
        depth = self.depth(torch.cat([rgb1, rgb2], 0))
        depth1, depth2 = depth.chunk(2, 0)
        return depth1, depth2, self.motion(rgb1, depth1, rgb2, depth2)
