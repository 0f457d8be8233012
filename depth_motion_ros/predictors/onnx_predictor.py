"""ONNX Runtime backend: export a `DepthMotionModel` to two ONNX graphs and run them behind the same
interface as `DepthMotionPredictor` (`PredictorBase`: `prepare`, `depth`, `motion`, `config`, `input_size`).

Two graphs rather than one because the node runs depth on every frame but motion only once per pair,
reusing the previous frame's depth. Each graph has a dynamic batch axis and the model's fixed input size;
the model configuration and checkpoint metadata travel inside the files (ONNX metadata properties), so an
exported pair is self-describing and needs neither torch nor the checkpoint at run time.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor, nn

from ..model_config import ModelConfig
from ..networks.model import DepthMotionModel, MotionOutput
from .base import PredictorBase

CONFIG_PROPERTY = "depth_motion_ros.model_config"
METADATA_PROPERTY = "depth_motion_ros.metadata"
MOTION_OUTPUTS = ("rotation", "translation", "intrinsics", "residual_translation")


class OnnxFiles(NamedTuple):
    depth: Path
    motion: Path


def onnx_paths(prefix: str | os.PathLike) -> OnnxFiles:
    """`PREFIX.depth.onnx` and `PREFIX.motion.onnx`: the file pair written by `export_onnx`."""
    prefix = str(prefix)
    return OnnxFiles(Path(prefix + ".depth.onnx"), Path(prefix + ".motion.onnx"))


class _DepthGraph(nn.Module):
    def __init__(self, model: DepthMotionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: Tensor) -> Tensor:
        return self.model.depth(rgb)


class _MotionGraph(nn.Module):
    def __init__(self, model: DepthMotionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb1: Tensor, depth1: Tensor, rgb2: Tensor, depth2: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.model.motion(rgb1, depth1, rgb2, depth2))


def _export_graph(module: nn.Module, inputs: dict[str, Tensor], outputs: tuple[str, ...], path: Path,
                  properties: dict[str, str]) -> None:
    """Export with the torch.export-based exporter, tag with `properties`, write atomically."""
    batch = torch.export.Dim("batch", min=1, max=256)
    exporter_log = logging.getLogger("torch.onnx")
    previous_level = exporter_log.level
    # The exporter warns about optional torchvision operators and third-party deprecations on every
    # call; none concern these graphs, and a node log should not show them.
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module.eval(), tuple(inputs.values()), input_names=list(inputs),
                                        output_names=list(outputs),
                                        dynamic_shapes={k: {0: batch} for k in inputs}, dynamo=True,
                                        verbose=False)
    finally:
        exporter_log.setLevel(previous_level)
    assert program is not None, "the dynamo exporter returns the program"
    proto = program.model_proto
    for key, value in properties.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        onnx.save_model(proto, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_onnx(model: DepthMotionModel, prefix: str | os.PathLike,
                metadata: dict[str, Any] | None = None) -> OnnxFiles:
    """Write the depth and motion graphs of `model` (taken to CPU, eval mode) to `onnx_paths(prefix)`."""
    model = model.to("cpu").eval()
    height, width = model.config.input_size
    # Distinct tensors for every input: the exporter merges inputs that alias one tensor into a single
    # graph input, which would silently feed rgb1 where rgb2 belongs.
    rgb1, rgb2 = torch.rand(2, 2, 3, height, width)
    depth1, depth2 = torch.rand(2, 2, 1, height, width) + 1.0
    properties = {CONFIG_PROPERTY: json.dumps(model.config.to_dict()),
                  METADATA_PROPERTY: json.dumps(metadata or {})}
    files = onnx_paths(prefix)
    _export_graph(_DepthGraph(model), {"rgb": rgb1}, ("depth",), files.depth, properties)
    _export_graph(_MotionGraph(model), {"rgb1": rgb1, "depth1": depth1, "rgb2": rgb2, "depth2": depth2},
                  MOTION_OUTPUTS, files.motion, properties)
    return files


def _providers(device: str) -> list[str]:
    """ONNX Runtime execution providers for 'auto' | 'cpu' | 'cuda' | 'cuda:N'."""
    name = device.strip().lower()
    available = ort.get_available_providers()
    if name == "cpu":
        return ["CPUExecutionProvider"]
    if name == "auto":
        return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]
    if name == "cuda" or name.startswith("cuda:"):
        if "CUDAExecutionProvider" not in available:
            raise ValueError(f"device '{device}' requested but this onnxruntime has no CUDA provider "
                             f"(available: {', '.join(available)}); use 'cpu' or 'auto'")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(f"unknown device '{device}': expected auto, cpu, cuda or cuda:N")


class OnnxDepthMotionPredictor(PredictorBase):
    """Same interface as `DepthMotionPredictor`, backed by ONNX Runtime sessions.

    Tensors go in and come out as torch CPU tensors, so callers can switch backends with one parameter.
    """

    backend = "onnx"

    def __init__(self, files: OnnxFiles, device: str = "cpu", threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Worker threads sleep instead of spinning between calls. With spinning, the idle workers hold
        # the cores the rest of the node (and any other process) needs; on the shared 2-core CPU the
        # median light depth+motion rose from 23-38 ms to 70-85 ms (same best case), see docs/models.md.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
        providers = _providers(device)
        self._depth_session = ort.InferenceSession(str(files.depth), options, providers=providers)
        self._motion_session = ort.InferenceSession(str(files.motion), options, providers=providers)
        properties = self._depth_session.get_modelmeta().custom_metadata_map
        if CONFIG_PROPERTY not in properties:
            raise ValueError(f"{files.depth} was not written by depth_motion_export (no model configuration)")
        config = ModelConfig.from_dict(json.loads(properties[CONFIG_PROPERTY]))
        super().__init__(config, torch.device("cpu"), json.loads(properties.get(METADATA_PROPERTY, "{}")))
        self.files = files
        self.providers = self._depth_session.get_providers()
        #: How the graphs came to be (`export_cache.cached_export` says whether it exported them now or found them).
        self.files_origin = "opened"

    @property
    def execution(self) -> str:
        """The execution providers ONNX Runtime actually uses, first first (CUDA only when it loaded)."""
        return ", ".join(self.providers)

    def describe(self) -> dict[str, str]:
        prefix = str(self.files.depth).removesuffix(".depth.onnx")
        return {**super().describe(), "onnx export": f"{prefix}.{{depth,motion}}.onnx ({self.files_origin})"}

    @classmethod
    def from_onnx(cls, prefix: str | os.PathLike, device: str = "cpu",
                  threads: int | None = None) -> OnnxDepthMotionPredictor:
        """Open the pair written by `export_onnx(model, prefix)` / `depth_motion_export`."""
        files = onnx_paths(prefix)
        for path in files:
            if not path.is_file():
                raise FileNotFoundError(f"ONNX graph not found: {path}")
        return cls(files, device, threads)

    def _check_size(self, tensor: Tensor, name: str) -> np.ndarray:
        if tuple(tensor.shape[-2:]) != self.input_size:
            raise ValueError(f"{name} has size {tuple(tensor.shape[-2:])}; the ONNX graphs take {self.input_size}")
        return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())

    def network_depth(self, images: Tensor) -> Tensor:
        """[B, 3, h, w] in [0, 1] -> depth [B, 1, h, w] from one run of the depth graph."""
        (depth,) = self._depth_session.run(None, {"rgb": self._check_size(images, "images")})
        return torch.from_numpy(depth)

    def motion(self, rgb1: Tensor, depth1: Tensor, rgb2: Tensor, depth2: Tensor) -> MotionOutput:
        """Motion camera 1 -> camera 2 for batches of pairs."""
        feeds = {"rgb1": self._check_size(rgb1, "rgb1"), "depth1": self._check_size(depth1, "depth1"),
                 "rgb2": self._check_size(rgb2, "rgb2"), "depth2": self._check_size(depth2, "depth2")}
        outputs = self._motion_session.run(list(MOTION_OUTPUTS), feeds)
        return MotionOutput(*(torch.from_numpy(o) for o in outputs))
