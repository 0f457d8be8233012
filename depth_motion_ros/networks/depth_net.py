"""The depth network: a U-Net (ResNet-18 or MobileNetV2 encoder) with a softplus depth output at input resolution.

As the official `depth_prediction_resnet18unet`: the decoder alternates a stride-2 transposed
convolution (x2 upsampling) with a 3x3 convolution over its concatenation with the encoder feature of
the same resolution; channels (256, 128, 64, 32, 16) times the width multiplier; a last 3x3 convolution
with softplus gives strictly positive, unbounded depth (no disparity scaling hyper-parameters). The decoder
takes whatever channels the encoder gives at strides 2, 4, 8, 16 and 32, so the encoder is a choice.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mobilenet_v2 import MobileNetV2Encoder
from .resnet_encoder import ResNet18Encoder, scaled_channels

DECODER_CHANNELS = (16, 32, 64, 128, 256)


ConvT = TypeVar("ConvT", nn.Conv2d, nn.ConvTranspose2d)


def _init(module: ConvT) -> ConvT:
    nn.init.xavier_uniform_(module.weight)
    assert module.bias is not None  # every decoder convolution has a bias
    nn.init.zeros_(module.bias)
    return module


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "elu": F.elu}


def build_encoder(name: str, width_multiplier: float) -> ResNet18Encoder | MobileNetV2Encoder:
    """The depth encoder of `ModelConfig.depth_encoder`. MobileNetV2 is always the 1.0 network (the width its
    ImageNet weights exist for); the width multiplier then scales the decoder only."""
    if name == "resnet18":
        return ResNet18Encoder(3, width_multiplier)
    if name == "mobilenet_v2":
        return MobileNetV2Encoder()
    raise ValueError(f"unknown depth encoder {name!r}")


class _Upsample(nn.Module):
    """Transposed 3x3 convolution, stride 2, exact doubling of H and W (activation applied by the caller)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _init(nn.ConvTranspose2d(in_channels, out_channels, 3, 2, padding=1, output_padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _Conv3x3(nn.Module):
    """3x3 convolution with zero or reflection padding (official flag `reflect_padding`)."""

    def __init__(self, in_channels: int, out_channels: int, reflect: bool) -> None:
        super().__init__()
        self.conv = _init(nn.Conv2d(in_channels, out_channels, 3, 1, padding=1,
                                    padding_mode="reflect" if reflect else "zeros"))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class DepthNet(nn.Module):
    """rgb [B, 3, H, W] in [0, 1] -> depth [B, 1, H, W] > 0. H and W must be multiples of 32."""

    def __init__(self, width_multiplier: float = 1.0, reflect_padding: bool = False,
                 activation: str = "relu", encoder: str = "resnet18") -> None:
        super().__init__()
        self.activation = ACTIVATIONS[activation]
        self.encoder = build_encoder(encoder, width_multiplier)
        e1, e2, e3, e4, e5 = self.encoder.channels
        d1, d2, d3, d4, d5 = (scaled_channels(c, width_multiplier) for c in DECODER_CHANNELS)
        self.upconv5, self.iconv5 = _Upsample(e5, d5), _Conv3x3(d5 + e4, d5, reflect_padding)
        self.upconv4, self.iconv4 = _Upsample(d5, d4), _Conv3x3(d4 + e3, d4, reflect_padding)
        self.upconv3, self.iconv3 = _Upsample(d4, d3), _Conv3x3(d3 + e2, d3, reflect_padding)
        self.upconv2, self.iconv2 = _Upsample(d3, d2), _Conv3x3(d2 + e1, d2, reflect_padding)
        self.upconv1, self.iconv1 = _Upsample(d2, d1), _Conv3x3(d1, d1, reflect_padding)
        self.depth_head = _Conv3x3(d1, 1, reflect_padding)

    def forward(self, rgb: Tensor) -> Tensor:
        act = self.activation
        bottleneck, (econv4, econv3, econv2, econv1) = self.encoder(rgb * 2.0 - 1.0)
        x = act(self.iconv5(torch.cat([act(self.upconv5(bottleneck)), econv4], 1)))
        x = act(self.iconv4(torch.cat([act(self.upconv4(x)), econv3], 1)))
        x = act(self.iconv3(torch.cat([act(self.upconv3(x)), econv2], 1)))
        x = act(self.iconv2(torch.cat([act(self.upconv2(x)), econv1], 1)))
        x = act(self.iconv1(act(self.upconv1(x))))
        return F.softplus(self.depth_head(x))
