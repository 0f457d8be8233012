"""ONNX Runtime backend: same outputs as PyTorch within tolerance, self-describing files, caching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import CheckpointError, save_checkpoint
from depth_motion_ros.model_config import ModelConfig
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.predictors import DepthMotionPredictor, export_cache, load_predictor
from depth_motion_ros.predictors.export_cache import cache_key, cached_export, default_cache_dir, load_onnx_predictor
from depth_motion_ros.predictors.onnx_predictor import OnnxDepthMotionPredictor, export_onnx, onnx_paths

CONFIG = ModelConfig(name="tiny", input_height=64, input_width=96, depth_width_multiplier=0.25,
                     motion_width_multiplier=0.125)
#: float32 kernels differ between the two runtimes only by summation order.
RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = DepthMotionModel(CONFIG).eval()
    with torch.no_grad():  # a non-trivial motion field, so that the comparison means something
        model.motion_net.translation_scale.fill_(1.0)
    prefix = tmp_path_factory.mktemp("onnx") / "tiny"
    export_onnx(model, prefix, {"steps": 7})
    return model, prefix


def _close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    scale = expected.abs().max().clamp_min(1e-12)
    return bool((actual - expected).abs().max() <= RELATIVE_TOLERANCE * scale)


@pytest.mark.slow
def test_onnx_outputs_equal_pytorch(exported):
    model, prefix = exported
    onnx_predictor = OnnxDepthMotionPredictor.from_onnx(prefix, device="cpu")
    torch_predictor = DepthMotionPredictor(model, "cpu")
    generator = torch.Generator().manual_seed(3)
    for batch in (1, 3):  # the batch axis is dynamic
        rgb1 = torch.rand(batch, 3, 64, 96, generator=generator)
        rgb2 = torch.rand(batch, 3, 64, 96, generator=generator)
        depth1, depth2 = onnx_predictor.depth(rgb1), onnx_predictor.depth(rgb2)
        assert _close(depth1, torch_predictor.depth(rgb1)) and _close(depth2, torch_predictor.depth(rgb2))
        assert _close(onnx_predictor.depth(rgb1, flip_average=True), torch_predictor.depth(rgb1, flip_average=True))
        expected = torch_predictor.motion(rgb1, depth1, rgb2, depth2)
        actual = onnx_predictor.motion(rgb1, depth1, rgb2, depth2)
        for name, a, e in zip(expected._fields, actual, expected, strict=True):
            assert a.shape == e.shape, name
            if name == "residual_translation":
                # The auto-mask thresholds at the mean magnitude; a pixel exactly at the threshold may flip.
                differs = (a - e).abs().amax(1) > RELATIVE_TOLERANCE * e.abs().max()
                assert differs.float().mean() < 1e-3, name
            else:
                assert _close(a, e), name


@pytest.mark.slow
def test_onnx_files_carry_config_and_metadata(exported):
    _, prefix = exported
    predictor = OnnxDepthMotionPredictor.from_onnx(prefix)
    assert predictor.config == CONFIG and predictor.input_size == (64, 96)
    assert predictor.metadata == {"steps": 7} and predictor.backend == "onnx"
    image = predictor.prepare(np.zeros((10, 20, 3), np.uint8))
    assert image.shape == (1, 3, 64, 96)
    with pytest.raises(ValueError, match="size"):
        predictor.depth(torch.rand(1, 3, 32, 96))


@pytest.mark.slow
def test_from_checkpoint_exports_once_into_the_cache(tmp_path, exported, monkeypatch):
    model, _ = exported
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, model, {"steps": 1})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = default_cache_dir()
    assert cache == tmp_path / "xdg" / "depth_motion_ros" / "onnx"
    predictor = load_onnx_predictor(checkpoint, device="cpu")
    assert predictor.files_origin.startswith("exported now in ")
    files = sorted(p.name for p in cache.iterdir())
    assert files == [f"tiny-{cache_key(checkpoint)}.depth.onnx", f"tiny-{cache_key(checkpoint)}.motion.onnx"]
    stamp = [p.stat().st_mtime_ns for p in cache.iterdir()]
    # The backend factory of the inference API finds the same cached export: no second export.
    again = load_predictor(checkpoint, device="cpu", backend="onnx")
    assert isinstance(again, OnnxDepthMotionPredictor) and again.metadata == {"steps": 1}
    assert again.files_origin == "from the cache" and again.backend_choice == "named"
    prefix = cache / f"tiny-{cache_key(checkpoint)}"
    assert again.describe()["onnx export"] == f"{prefix}.{{depth,motion}}.onnx (from the cache)"
    assert [p.stat().st_mtime_ns for p in cache.iterdir()] == stamp
    rgb = torch.rand(1, 3, 64, 96)
    assert torch.equal(predictor.depth(rgb), again.depth(rgb))


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        OnnxDepthMotionPredictor.from_onnx(tmp_path / "absent")
    with pytest.raises(CheckpointError):
        cached_export(tmp_path / "absent.pt", tmp_path)
    assert onnx_paths(tmp_path / "m").depth.name == "m.depth.onnx"


def test_unknown_device_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown device"):
        OnnxDepthMotionPredictor(onnx_paths(tmp_path / "m"), device="tpu")


@pytest.mark.slow
def test_export_cli_writes_and_verifies(tmp_path, exported, capsys):
    from depth_motion_ros.training.export_cli import main

    model, _ = exported
    checkpoint = tmp_path / "run" / "best.pt"
    save_checkpoint(checkpoint, model, {"steps": 3})
    assert main([str(checkpoint), "--verify"]) == 0
    output = capsys.readouterr().out
    assert "best.depth.onnx" in output and "largest relative difference" in output
    assert onnx_paths(tmp_path / "run" / "best").motion.is_file()
    assert main([str(tmp_path / "missing.pt")]) == 2


def test_the_cache_key_follows_the_checkpoint_bytes_and_the_export_settings(tmp_path, monkeypatch):
    """A retrained checkpoint at the same path, or another exporter, never opens an old export."""
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    first.write_bytes(b"weights one")
    second.write_bytes(b"weights one")
    assert cache_key(first) == cache_key(second) and len(cache_key(first)) == 16
    second.write_bytes(b"weights two")
    assert cache_key(second) != cache_key(first)
    before = cache_key(first)
    monkeypatch.setattr(export_cache, "EXPORT_FORMAT", export_cache.EXPORT_FORMAT + 1)
    assert cache_key(first) != before
    monkeypatch.setattr(export_cache.torch, "__version__", "0.0.0")
    monkeypatch.setattr(export_cache, "EXPORT_FORMAT", export_cache.EXPORT_FORMAT - 1)
    assert cache_key(first) != before
