"""Checkpoint round trip, safe loading, and one clear error for each way a file can be unusable."""
from __future__ import annotations

import fractions

import pytest
import torch

from depth_motion_ros import checkpoint as checkpoint_module
from depth_motion_ros.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    default_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from depth_motion_ros.model_config import ModelConfig
from depth_motion_ros.networks import DepthMotionModel

CONFIG = ModelConfig(name="tiny", input_height=64, input_width=96, depth_width_multiplier=0.25,
                     motion_width_multiplier=0.125)
METADATA = {"data": ["synthetic"], "steps": 12, "metrics": {"abs_rel": 0.2}, "licence": "CC-BY-4.0"}


@pytest.fixture()
def model() -> DepthMotionModel:
    torch.manual_seed(0)
    return DepthMotionModel(CONFIG).eval()


def test_round_trip_reproduces_outputs_config_and_metadata(tmp_path, model):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.depth(torch.rand(1, 3, 64, 96)).mean().backward()
    optimizer.step()
    path = tmp_path / "sub" / "last.pt"
    save_checkpoint(path, model, METADATA, {"optimizer": optimizer.state_dict(), "step": 12})
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left behind
    loaded = load_checkpoint(path)
    assert loaded.config == CONFIG and loaded.input_size == (64, 96)
    assert loaded.metadata == METADATA
    assert loaded.training_state["step"] == 12
    restored = torch.optim.Adam(loaded.model.parameters(), lr=1e-4)
    restored.load_state_dict(loaded.training_state["optimizer"])
    assert not loaded.model.training
    rgb = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded.model.depth(rgb), model.depth(rgb))


def test_file_loads_with_weights_only(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, METADATA)
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION and payload["training_state"] is None


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_corrupt_file(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, METADATA)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_arbitrary_python_objects_are_refused(tmp_path, model):
    # Any non-allow-listed class in the pickle is refused by weights_only loading, before it is built.
    path = tmp_path / "unsafe.pt"
    save_checkpoint(path, model, METADATA)
    payload = torch.load(path, weights_only=True)
    payload["metadata"]["fraction"] = fractions.Fraction(1, 3)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_wrong_format_version(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, METADATA)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="format version"):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path, model):
    path = tmp_path / "plain_state_dict.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="not a depth_motion_ros.checkpoint"):
        load_checkpoint(path)


def test_weights_that_do_not_match_the_config(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, METADATA)
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["depth_width_multiplier"] = 0.5
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)
    del payload["state_dict"]["motion_net.rotation_scale"]
    payload["model_config"]["depth_width_multiplier"] = 0.25
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_metadata_must_be_plain_data(tmp_path, model):
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "m.pt", model, {"when": object()})
    assert not (tmp_path / "m.pt").exists()


def test_default_checkpoint_path_prefers_the_source_tree_models_folder(tmp_path, monkeypatch, model):
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    monkeypatch.setattr(checkpoint_module, "_source_tree_models", lambda: tmp_path)
    assert default_checkpoint_path() is None
    save_checkpoint(tmp_path / "default_light.pt", model, METADATA)
    assert default_checkpoint_path() == tmp_path / "default_light.pt"


def test_default_checkpoint_path_uses_the_ament_share_folder(tmp_path, monkeypatch, model):
    prefix = tmp_path / "install"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "depth_motion_ros").touch()
    save_checkpoint(prefix / "share" / "depth_motion_ros" / "models" / "default_light.pt", model, METADATA)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert default_checkpoint_path() == prefix / "share" / "depth_motion_ros" / "models" / "default_light.pt"
