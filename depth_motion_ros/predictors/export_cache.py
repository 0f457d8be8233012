"""The ONNX export cache: a checkpoint is exported to ONNX once, and every later start opens the files.

An export takes ~20 s for the bundled model on a 2-core CPU, which a robot should pay once, not at every
start. The files are named by a key over the checkpoint's bytes and everything else that shapes the graphs
(this module's export format, the torch and onnx versions that wrote them), so a retrained checkpoint at the
same path, or an upgraded exporter, never opens stale graphs. Files are written atomically (`export_onnx`),
so two processes exporting the same checkpoint at once both end with a complete pair.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import onnx
import torch

from ..checkpoint import CheckpointError, default_checkpoint_path, load_checkpoint
from .onnx_predictor import OnnxDepthMotionPredictor, OnnxFiles, export_onnx, onnx_paths

#: Raise when `export_onnx` writes different graphs for the same checkpoint: old cache entries are then ignored.
EXPORT_FORMAT = 1


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/depth_motion_ros/onnx, or ~/.cache/depth_motion_ros/onnx."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "depth_motion_ros" / "onnx"


def export_settings() -> dict[str, object]:
    """Everything besides the checkpoint that decides what an export contains."""
    return {"export_format": EXPORT_FORMAT, "torch": torch.__version__, "onnx": onnx.__version__}


def cache_key(checkpoint: Path) -> str:
    """16 hex digits of SHA-256 over the checkpoint's bytes and `export_settings()`."""
    digest = hashlib.sha256()
    with checkpoint.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(export_settings(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def cached_export(checkpoint: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None
                  ) -> tuple[OnnxFiles, float | None]:
    """The ONNX pair of `checkpoint` (None: the bundled model) in `cache_dir` (None or '': the default), exported
    now when absent; returns the files and the seconds the export took (None: they were in the cache)."""
    if checkpoint is None:
        checkpoint = default_checkpoint_path()
        if checkpoint is None:
            raise CheckpointError("no checkpoint given and no bundled default model "
                                  "(models/default_light.pt) is installed")
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    prefix = Path(cache_dir or default_cache_dir()) / f"{path.stem}-{cache_key(path)}"
    files = onnx_paths(prefix)
    if all(p.is_file() for p in files):
        return files, None
    started = time.perf_counter()
    loaded = load_checkpoint(path)
    export_onnx(loaded.model, prefix, loaded.metadata)
    return files, time.perf_counter() - started


def load_onnx_predictor(checkpoint: str | os.PathLike | None, device: str = "auto",
                        cache_dir: str | os.PathLike | None = None) -> OnnxDepthMotionPredictor:
    """An ONNX Runtime predictor for `checkpoint`, through the cache; it says whether it exported or reused."""
    files, export_seconds = cached_export(checkpoint, cache_dir)
    predictor = OnnxDepthMotionPredictor(files, device)
    predictor.files_origin = ("from the cache" if export_seconds is None
                              else f"exported now in {export_seconds:.1f} s")
    return predictor
