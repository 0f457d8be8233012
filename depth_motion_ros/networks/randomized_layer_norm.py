"""Randomized layer normalisation (Li et al. 2020; Gordon et al. 2019, arXiv:1904.04998).

Each sample and channel is normalised by its own spatial mean and variance (so the network never
depends on batch statistics, which matters for batch-1 inference and small CPU training batches). In
training the mean and variance are multiplied by (1 + noise), noise ~ N(0, stddev) truncated at two
standard deviations; the official code found that this regularises depth better than batch norm. The
noise stddev is set from outside (`set_layer_norm_noise`) so the trainer can ramp it in; in eval() mode
no noise is ever applied.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Variance epsilon of the official implementation (tf.nn.batch_normalization(..., 1e-3)).
EPSILON = 1e-3


def _truncated_normal(shape: torch.Size, stddev: float, like: Tensor) -> Tensor:
    """N(0, stddev) truncated at +-2 stddev, as tf.random.truncated_normal."""
    noise = torch.empty(shape, dtype=like.dtype, device=like.device)
    return nn.init.trunc_normal_(noise, 0.0, stddev, -2.0 * stddev, 2.0 * stddev)


class RandomizedLayerNorm(nn.Module):
    """Per-sample, per-channel normalisation over H, W with learned scale and offset."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.noise_stddev = 0.0

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and self.noise_stddev > 0.0):
            # Noise-free path: a single fused op, which is also what ONNX export sees.
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=EPSILON)
        mean = x.mean(dim=(2, 3), keepdim=True)
        variance = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        mean = mean * (1.0 + _truncated_normal(mean.shape, self.noise_stddev, x))
        variance = variance * (1.0 + _truncated_normal(variance.shape, self.noise_stddev, x))
        normalised = (x - mean) * torch.rsqrt(variance + EPSILON)
        return normalised * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, noise_stddev={self.noise_stddev}"


def set_layer_norm_noise(model: nn.Module, stddev: float) -> None:
    """Set the training noise of every randomized layer norm in `model` (0 disables it)."""
    if stddev < 0.0:
        raise ValueError("noise stddev must be non-negative")
    for module in model.modules():
        if isinstance(module, RandomizedLayerNorm):
            module.noise_stddev = float(stddev)
