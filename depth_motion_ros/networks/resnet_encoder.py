"""ResNet-18 encoder (He et al. 2016) with randomized layer normalisation, written for this package.

It follows the official depth network's encoder: 7x7/2 stem, 3x3/2 max-pool, four stages of two basic
blocks, channels (64, 64, 128, 256, 512) times a width multiplier. It returns the bottleneck and the
four earlier feature maps that the U-Net decoder uses as skip connections.
"""
from __future__ import annotations

from torch import Tensor, nn

from .randomized_layer_norm import RandomizedLayerNorm

RESNET18_CHANNELS = (64, 64, 128, 256, 512)


def scaled_channels(channels: int, multiplier: float) -> int:
    """`channels * multiplier` rounded to a multiple of 8 (at least 8): SIMD-friendly on CPUs."""
    return max(8, int(round(channels * multiplier / 8.0)) * 8)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Conv2d:
    """Bias-free convolution (the normalisation that follows has its own offset), 'same' padding."""
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection.

    When the block changes resolution or width, the shortcut is a strided 1x1 convolution (or a max-pool
    when only the resolution changes), as in the official encoder.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels, 3, stride)
        self.norm1 = RandomizedLayerNorm(out_channels)
        self.conv2 = _conv(out_channels, out_channels, 3, 1)
        self.norm2 = RandomizedLayerNorm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if in_channels != out_channels:
            self.shortcut: nn.Module = _conv(in_channels, out_channels, 1, stride)
        elif stride != 1:
            self.shortcut = nn.MaxPool2d(stride, stride, ceil_mode=True)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18Encoder(nn.Module):
    """Features at strides 2, 4, 8, 16 (skips) and 32 (bottleneck)."""

    def __init__(self, in_channels: int = 3, width_multiplier: float = 1.0) -> None:
        super().__init__()
        c = [scaled_channels(ch, width_multiplier) for ch in RESNET18_CHANNELS]
        self.channels = tuple(c)
        self.stem = nn.Sequential(_conv(in_channels, c[0], 7, 2), RandomizedLayerNorm(c[0]), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.stage2 = nn.Sequential(BasicBlock(c[0], c[1]), BasicBlock(c[1], c[1]))
        self.stage3 = nn.Sequential(BasicBlock(c[1], c[2], 2), BasicBlock(c[2], c[2]))
        self.stage4 = nn.Sequential(BasicBlock(c[2], c[3], 2), BasicBlock(c[3], c[3]))
        self.stage5 = nn.Sequential(BasicBlock(c[3], c[4], 2), BasicBlock(c[4], c[4]))

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        econv1 = self.stem(x)
        econv2 = self.stage2(self.pool(econv1))
        econv3 = self.stage3(econv2)
        econv4 = self.stage4(econv3)
        econv5 = self.stage5(econv4)
        return econv5, (econv4, econv3, econv2, econv1)
