"""`DepthMotionPredictor`: the PyTorch backend (CPU or CUDA).

It owns the model on its device and runs every forward pass under `torch.inference_mode` (no autograd
bookkeeping, no layer-norm noise).
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from ..checkpoint import CheckpointError, default_checkpoint_path, load_checkpoint
from ..networks.model import DepthMotionModel, MotionOutput
from .base import PredictorBase, resolve_device


class DepthMotionPredictor(PredictorBase):
    """Depth for frames and motion for frame pairs with the PyTorch model, batched, at the input size."""

    backend = "torch"

    def __init__(self, model: DepthMotionModel, device: torch.device | str = "cpu",
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(model.config, torch.device(device), metadata)
        self.model = model.to(self.device).eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, device: str = "auto") -> DepthMotionPredictor:
        """Load `path`, or the bundled default model when `path` is None."""
        resolved = resolve_device(device)
        if path is None:
            path = default_checkpoint_path()
            if path is None:
                raise CheckpointError("no checkpoint given and no bundled default model "
                                      "(models/default_light.pt) is installed")
        loaded = load_checkpoint(path, map_location=resolved)
        return cls(loaded.model, resolved, loaded.metadata)

    @torch.inference_mode()
    def network_depth(self, images: Tensor) -> Tensor:
        """[B, 3, h, w] in [0, 1] -> depth [B, 1, h, w] from one pass of the PyTorch depth network."""
        return self.model.depth(images.to(self.device))

    @torch.inference_mode()
    def motion(self, rgb1: Tensor, depth1: Tensor, rgb2: Tensor, depth2: Tensor) -> MotionOutput:
        """Motion camera 1 -> camera 2 for batches of pairs (see docs/ARCHITECTURE.md, "Motion")."""
        return self.model.motion(rgb1.to(self.device), depth1.to(self.device),
                                 rgb2.to(self.device), depth2.to(self.device))
