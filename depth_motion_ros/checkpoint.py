"""One-file checkpoints: weights, model configuration, input size, metadata, optional training state.

The file is a `torch.save` of plain dicts, lists, numbers, strings and tensors only, so it loads with
`torch.load(..., weights_only=True)`, which cannot execute code from an untrusted file. Writes are
atomic (temporary file + rename in the same folder): a crash while saving never leaves a truncated
`last.pt` behind. Every way a file can be unusable raises `CheckpointError` with the path and the reason.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .model_config import ModelConfig
from .networks.model import DepthMotionModel

FORMAT_NAME = "depth_motion_ros.checkpoint"
FORMAT_VERSION = 1
PACKAGE_NAME = "depth_motion_ros"
DEFAULT_MODEL_FILENAME = "default_light.pt"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, of another format version, or does not match its configuration."""


@dataclass
class LoadedCheckpoint:
    model: DepthMotionModel                 # in eval() mode, on the requested device
    config: ModelConfig
    input_size: tuple[int, int]             # (height, width) the model was trained at
    metadata: dict[str, Any]                # data, steps, metrics, licence, ...
    training_state: dict[str, Any] | None   # optimizer etc. for resuming; None in release checkpoints
    path: Path


def save_checkpoint(path: str | os.PathLike, model: DepthMotionModel, metadata: dict[str, Any],
                    training_state: dict[str, Any] | None = None) -> None:
    """Atomically write `model` with its configuration and `metadata` (JSON-like builtins only).

    `training_state` may hold tensors and nested dicts (e.g. `optimizer.state_dict()`); it must also be
    loadable with `weights_only=True`, which excludes arbitrary Python objects.
    """
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint metadata must be JSON-like builtins: {error}") from error
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "input_size": list(model.config.input_size),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(metadata),
        "training_state": training_state,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            torch.save(payload, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_payload(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for truncated, foreign or unsafe pickles
        raise CheckpointError(f"cannot read checkpoint {path}: corrupt, not a torch file, or holding "
                              f"objects that safe (weights_only) loading refuses "
                              f"({type(error).__name__}: {error})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a {FORMAT_NAME} file")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version}; this package reads "
                              f"version {FORMAT_VERSION}")
    missing = {"model_config", "input_size", "state_dict", "metadata"} - set(payload)
    if missing:
        raise CheckpointError(f"{path} lacks the entries {sorted(missing)}")
    return payload


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Read a checkpoint safely and rebuild its model in eval() mode on `map_location`."""
    path = Path(path)
    payload = _read_payload(path, map_location)
    try:
        config = ModelConfig.from_dict(payload["model_config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path} holds an invalid model configuration: {error}") from error
    input_size = tuple(int(v) for v in payload["input_size"])
    if input_size != config.input_size:
        raise CheckpointError(f"{path}: input size {input_size} disagrees with its configuration "
                              f"{config.input_size}")
    model = DepthMotionModel(config)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not match the '{config.name}' configuration "
                              f"stored with them: {error}") from error
    model.to(map_location).eval()
    return LoadedCheckpoint(model, config, input_size, dict(payload["metadata"]),
                            payload.get("training_state"), path)


def _source_tree_models() -> Path:
    return Path(__file__).resolve().parents[1] / "models"


def default_checkpoint_path() -> Path | None:
    """The bundled light model: the installed share folder first, then the source tree; None if absent."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE_NAME)) / "models" / DEFAULT_MODEL_FILENAME)
    except (ImportError, LookupError, OSError, ValueError):
        pass  # not installed in an ament prefix (pip-only use or a plain source checkout)
    candidates.append(_source_tree_models() / DEFAULT_MODEL_FILENAME)
    return next((c for c in candidates if c.is_file()), None)
