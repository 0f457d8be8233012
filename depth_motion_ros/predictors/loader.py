"""`load_predictor`: a predictor backend chosen by name, the one loader of the node and the CLIs.

'auto' (the default everywhere) picks the fastest backend that is there: ONNX Runtime when it imports (its
CUDA execution provider when the device is a GPU and the installed onnxruntime has one), PyTorch otherwise,
and PyTorch on a GPU that only torch can use. On this project's 2-core CPU ONNX Runtime runs the bundled
model in half the time (docs/performance.md).
"""
from __future__ import annotations

import os

import torch

from .base import PredictorBase
from .torch_predictor import DepthMotionPredictor

#: Predictor backends selectable by name, e.g. from a node parameter or a CLI option.
BACKENDS = ("auto", "torch", "onnx")


def _onnx_runtime_providers() -> tuple[list[str] | None, str]:
    """ONNX Runtime's available execution providers, or None and why it cannot be used."""
    try:
        import onnxruntime
    except Exception as error:  # not installed, or a broken install: PyTorch still runs
        return None, f"onnxruntime is not importable ({type(error).__name__}: {error})"
    return list(onnxruntime.get_available_providers()), ""


def choose_backend(backend: str, device: str = "auto", fixed_input_size: bool = True) -> tuple[str, str]:
    """The backend to run (torch or onnx) for `backend` and `device`, and why (for logs and /diagnostics).

    `fixed_input_size` False: the caller overrides the model's input size, which only PyTorch can run (the ONNX
    graphs have the model's size), so 'auto' takes PyTorch.
    """
    if backend in ("torch", "onnx"):
        return backend, "named"
    if backend != "auto":
        raise ValueError(f"unknown backend '{backend}': expected one of {', '.join(BACKENDS)}")
    if not fixed_input_size:
        return "torch", "auto: an input size override needs PyTorch"
    providers, problem = _onnx_runtime_providers()
    if providers is None:
        return "torch", f"auto: {problem}"
    name = device.strip().lower()
    wants_gpu = name.startswith("cuda") or (name == "auto" and (
        "CUDAExecutionProvider" in providers or torch.cuda.is_available()))
    if not wants_gpu:
        return "onnx", "auto: ONNX Runtime on the CPU"
    if "CUDAExecutionProvider" in providers:
        return "onnx", "auto: ONNX Runtime with its CUDA execution provider"
    return "torch", "auto: this onnxruntime has no CUDA execution provider, PyTorch runs on the GPU"


def load_predictor(path: str | os.PathLike | None = None, device: str = "auto", backend: str = "auto",
                   cache_dir: str | os.PathLike | None = None, fixed_input_size: bool = True) -> PredictorBase:
    """A predictor for `path` (default: the bundled model) with the chosen backend (`choose_backend`).

    'onnx' exports the checkpoint once into `cache_dir` (default ~/.cache/depth_motion_ros/onnx;
    `export_cache.py`). Both backends have the same interface and give the same results to float tolerance.
    """
    chosen, why = choose_backend(backend, device, fixed_input_size)
    predictor: PredictorBase
    if chosen == "torch":
        predictor = DepthMotionPredictor.from_checkpoint(path, device)
    else:
        from .export_cache import load_onnx_predictor  # onnxruntime only loaded when it runs

        predictor = load_onnx_predictor(path, device, cache_dir)
    predictor.backend_choice = why
    return predictor
