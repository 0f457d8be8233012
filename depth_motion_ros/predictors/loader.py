"""`load_predictor`: a predictor backend chosen by name, the one loader of the node and the CLIs."""
from __future__ import annotations

import os

from .base import PredictorBase
from .torch_predictor import DepthMotionPredictor

#: Predictor backends selectable by name, e.g. from a node parameter or a CLI option.
BACKENDS = ("torch", "onnx")


def load_predictor(path: str | os.PathLike | None = None, device: str = "auto",
                   backend: str = "torch") -> PredictorBase:
    """A predictor for `path` (default: the bundled model) with the chosen backend.

    'torch' runs the PyTorch model (CPU or CUDA); 'onnx' runs ONNX Runtime, the fastest on CPU (see
    docs/models.md), exporting the checkpoint once into a cache. Both have the same interface.
    """
    if backend == "torch":
        return DepthMotionPredictor.from_checkpoint(path, device)
    if backend == "onnx":
        from .onnx_predictor import OnnxDepthMotionPredictor  # onnxruntime only loaded when asked for
        return OnnxDepthMotionPredictor.from_checkpoint(path, device)
    raise ValueError(f"unknown backend '{backend}': expected one of {', '.join(BACKENDS)}")
