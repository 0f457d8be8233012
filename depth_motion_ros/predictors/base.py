"""`PredictorBase`: what every predictor backend shares (configuration, input conversion, intrinsics).

A backend adds `network_depth` and `motion`; `depth_motion_ros.stream.DepthMotionStream` is the one
consumer that turns their outputs into per-frame results.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from ..geometry.intrinsics import resize_intrinsics, square_pixel_intrinsics
from ..model_config import ModelConfig
from ..networks.model import MotionOutput


def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'; a clear error otherwise."""
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device '{name}' requested but CUDA is not available "
                             f"(torch {torch.__version__}); use 'cpu' or 'auto'")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device '{name}' requested but only {torch.cuda.device_count()} GPU(s) exist")
        return device
    raise ValueError(f"unknown device '{name}': expected auto, cpu, cuda or cuda:N")


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HxWx3 -> uint8 at (height, width); area averaging when shrinking avoids aliasing."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    height, width = size
    if rgb.shape[:2] == (height, width):
        return rgb
    shrinking = rgb.shape[0] > height or rgb.shape[1] > width
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class PredictorBase:
    """What every predictor backend shares: its configuration and the conversion of camera data to input.

    `config` and `input_size` (height, width) describe the network; `prepare` turns camera images into
    its input on `device`; `intrinsics_at_input` maps a camera matrix to that input size. `depth` runs the
    backend's `network_depth`, optionally averaged with the mirror image's.
    """

    backend: str

    def __init__(self, config: ModelConfig, device: torch.device, metadata: dict[str, Any] | None) -> None:
        self.config: ModelConfig = config
        self.input_size: tuple[int, int] = config.input_size
        self.device = device
        self.metadata: dict[str, Any] = dict(metadata or {})
        #: Why this backend runs (set by `load_predictor`: named by the caller, or what 'auto' found), so that a
        #: robot's /diagnostics say which of the two was picked and why.
        self.backend_choice = "named"

    @property
    def execution(self) -> str:
        """Where the networks run: the device (PyTorch) or the execution providers (ONNX Runtime)."""
        return str(self.device)

    def describe(self) -> dict[str, str]:
        """What runs the networks, for logs and /diagnostics: backend (and why), where it executes, and the
        backend's own files (the ONNX export in use)."""
        return {"backend": f"{self.backend} ({self.backend_choice})", "execution": self.execution}

    def network_depth(self, images: Tensor) -> Tensor:
        """One pass of the depth network: [B, 3, h, w] in [0, 1] -> depth [B, 1, h, w]."""
        raise NotImplementedError

    def motion(self, rgb1: Tensor, depth1: Tensor, rgb2: Tensor, depth2: Tensor) -> MotionOutput:
        """Motion camera 1 -> camera 2 for batches of pairs (see docs/ARCHITECTURE.md, "Motion")."""
        raise NotImplementedError

    @torch.inference_mode()
    def depth(self, images: Tensor, flip_average: bool = False) -> Tensor:
        """[B, 3, h, w] in [0, 1] -> depth [B, 1, h, w] (model units; scale is not observable from one camera).

        `flip_average` is Monodepth2's post-processing without its ramped image borders: the images and their
        mirror images go through the network as one batch, and the result is the harmonic mean of each depth
        and its mirror's, mirrored back (the mean disparity, so a far outlier in one cannot dominate). The
        network's errors on an image and on its mirror are partly independent, so the mean is more accurate,
        for a second depth pass (figures: docs/models.md).
        """
        if not flip_average:
            return self.network_depth(images)
        count = images.shape[0]
        both = self.network_depth(torch.cat([images, torch.flip(images, dims=[3])]))
        return 2.0 / (1.0 / both[:count] + 1.0 / torch.flip(both[count:], dims=[3]))

    def prepare(self, rgb: np.ndarray) -> Tensor:
        """uint8 HxWx3 RGB -> float [1, 3, h, w] in [0, 1] at `input_size`, on the predictor's device."""
        # Converted in numpy: torch's uint8 -> float cast of the permuted (non-contiguous) view measured
        # ~25 ms for a 128x256 frame on this 2-core CPU, numpy's ~0.1 ms.
        resized = resize_rgb(rgb, self.input_size).astype(np.float32) * np.float32(1.0 / 255.0)
        chw = np.ascontiguousarray(resized.transpose(2, 0, 1))[None]
        return torch.from_numpy(chw).to(self.device)

    def intrinsics_at_input(self, intrinsics: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """3x3 camera matrix of an image of `image_size` (height, width) -> the same camera at `input_size`."""
        return resize_intrinsics(np.asarray(intrinsics, dtype=np.float64), image_size, self.input_size)

    def learned_intrinsics_at_input(self, learned: Tensor, image_size: tuple[int, int]) -> Tensor:
        """The motion network's camera matrices [..., 3, 3] (at `input_size`) for frames of `image_size`:
        its fx, cx and cy, with fy for square pixels at `image_size` (`square_pixel_intrinsics`: the input's
        fy is not observable once frames of any aspect ratio are resized to one size). Every consumer of
        learned intrinsics (node, `depth_motion_infer`, `depth_motion_eval`) takes them from here."""
        return square_pixel_intrinsics(learned, self.input_size, image_size)
