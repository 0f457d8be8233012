"""MobileNetV2 1.0 (Sandler et al. 2018) as a depth encoder, in the form its ImageNet weights come in.

The weights this package can start from (`tflite_port`) are TensorFlow Lite files whose batch norm is folded
into the convolutions, so every convolution here has a bias and there is no normalisation layer: at
initialisation the encoder is exactly the ImageNet network. For the same reason the randomized layer norm
noise of the configuration does not reach this encoder (it has no such layers).

Two TensorFlow conventions are kept so that the weights see what they were trained on: 'SAME' padding,
which for a stride-2 3x3 convolution on an even size pads one row and column at the bottom and right only
(PyTorch's symmetric padding would shift the sampling grid by a pixel), and ReLU6.

The encoder gives the features at strides 2, 4, 8, 16 (16, 24, 32, 96 channels, the last block of each
resolution) and the bottleneck at stride 32 (320 channels, the last inverted residual block). The final
1x1 convolution to 1280 channels belongs to the classifier only: it would quadruple the input of the
decoder's first transposed convolution, and its features are the ones most specific to ImageNet's classes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: (expansion t, output channels c, repeats n, first stride s) of MobileNetV2 1.0 (Sandler et al., Table 2).
INVERTED_RESIDUAL_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
#: Indices (into the 17 inverted residual blocks) whose outputs are the skip features and the bottleneck.
SKIP_BLOCKS = (0, 2, 5, 12)
ENCODER_CHANNELS = (16, 24, 32, 96, 320)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one axis: the output is ceil(size / stride) long and the
    odd pixel of padding, if any, goes after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow 'SAME' padding, optionally followed by ReLU6 (TFLite's fused activation)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
                 relu6: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel, stride, padding=0, groups=groups, bias=True)
        self.relu6 = relu6
        # Without batch norm the random initialisation alone must keep the signal's scale: He's fan-in rule
        # (which, unlike fan-out, counts a depthwise kernel's true fan of 9) and unit gain before no ReLU.
        nn.init.kaiming_normal_(self.weight, mode="fan_in", nonlinearity="relu" if relu6 else "linear")
        assert self.bias is not None  # built with bias=True
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        top, bottom = same_padding(int(x.shape[-2]), kernel, stride)
        left, right = same_padding(int(x.shape[-1]), kernel, stride)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        x = super().forward(x)
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    """1x1 expansion (absent when t = 1), 3x3 depthwise, linear 1x1 projection; residual when shapes agree."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = SameConv2d(in_channels, hidden, 1) if expansion != 1 else None
        self.depthwise = SameConv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = SameConv2d(hidden, out_channels, 1, relu6=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return x + out if self.residual else out


class MobileNetV2Encoder(nn.Module):
    """x [B, 3, H, W] in [-1, 1] -> bottleneck at stride 32 and the skips at strides 16, 8, 4, 2."""

    channels = ENCODER_CHANNELS

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv2d(3, STEM_CHANNELS, 3, 2)
        blocks = []
        previous = STEM_CHANNELS
        for expansion, channels, repeats, stride in INVERTED_RESIDUAL_SETTINGS:
            for index in range(repeats):
                blocks.append(InvertedResidual(previous, channels, stride if index == 0 else 1, expansion))
                previous = channels
        self.blocks = nn.ModuleList(blocks)

    def conv_layers(self) -> list[SameConv2d]:
        """Every convolution in execution order: the order in which a TFLite graph of this network holds them."""
        return [module for module in self.modules() if isinstance(module, SameConv2d)]

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        x = self.stem(x)
        skips = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in SKIP_BLOCKS:
                skips.append(x)
        econv1, econv2, econv3, econv4 = skips
        return x, (econv4, econv3, econv2, econv1)


class MobileNetV2Classifier(nn.Module):
    """The ImageNet classifier around `MobileNetV2Encoder`: 1x1 conv to 1280, global average, 1x1 conv to the
    classes. Used to check a port of ImageNet weights against the original network's logits."""

    def __init__(self, classes: int = 1001) -> None:
        super().__init__()
        self.encoder = MobileNetV2Encoder()
        self.head = SameConv2d(ENCODER_CHANNELS[-1], HEAD_CHANNELS, 1)
        self.classifier = SameConv2d(HEAD_CHANNELS, classes, 1, relu6=False)

    def conv_layers(self) -> list[SameConv2d]:
        """Every convolution in execution order (see `MobileNetV2Encoder.conv_layers`)."""
        return self.encoder.conv_layers() + [self.head, self.classifier]

    def forward(self, x: Tensor) -> Tensor:
        """x [B, 3, 224, 224] as the network's float input -> logits [B, classes]."""
        bottleneck, _ = self.encoder(x)
        pooled = torch.mean(self.head(bottleneck), dim=(2, 3), keepdim=True)
        return self.classifier(pooled)[:, :, 0, 0]
