"""The predictors on CPU: device resolution, image preparation, depth, motion, points."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import CheckpointError, save_checkpoint
from depth_motion_ros.cli.infer_outputs import depth_to_points
from depth_motion_ros.model_config import ModelConfig
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.predictors import DepthMotionPredictor, PredictorBase, load_predictor, loader, resolve_device

CONFIG = ModelConfig(name="tiny", input_height=64, input_width=96, depth_width_multiplier=0.25,
                     motion_width_multiplier=0.125)


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, DepthMotionModel(CONFIG), {"steps": 0})
    return path


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" AUTO ").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_predictor_on_cpu(checkpoint_path):
    predictor = DepthMotionPredictor.from_checkpoint(str(checkpoint_path), device="cpu")
    assert predictor.input_size == (64, 96) and predictor.config == CONFIG
    assert predictor.metadata == {"steps": 0}
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    image = predictor.prepare(rgb)
    assert image.shape == (1, 3, 64, 96) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    depth = predictor.depth(torch.cat([image, image]))
    assert depth.shape == (2, 1, 64, 96) and (depth > 0).all() and not depth.requires_grad
    motion = predictor.motion(image, depth[:1], image, depth[1:])
    assert motion.rotation.shape == (1, 3) and motion.residual_translation.shape == (1, 3, 64, 96)
    # Batched and single-frame results agree (per-sample normalisation, per-sample auto-mask).
    assert torch.allclose(predictor.depth(image), depth[:1], atol=1e-5)


def test_prepare_keeps_uniform_colours_and_rejects_grey_images(checkpoint_path):
    predictor = DepthMotionPredictor.from_checkpoint(checkpoint_path, device="cpu")
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = 255
    image = predictor.prepare(rgb)  # upscaling path
    assert torch.equal(image[0, 0], torch.ones(64, 96)) and image[0, 1:].abs().max() == 0
    with pytest.raises(ValueError):
        predictor.prepare(np.zeros((32, 48), np.uint8))


def test_intrinsics_at_input(checkpoint_path):
    predictor = DepthMotionPredictor.from_checkpoint(checkpoint_path, device="cpu")
    K = np.array([[200.0, 0, 159.5], [0, 200.0, 119.5], [0, 0, 1]])
    np.testing.assert_allclose(predictor.intrinsics_at_input(K, (240, 320)),
                               [[60.0, 0, 47.5], [0, 160 / 3, 31.5], [0, 0, 1]])


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError):
        DepthMotionPredictor.from_checkpoint(str(tmp_path / "nope.pt"), device="cpu")


def test_depth_to_points_known_values():
    depth = np.full((3, 4), 2.0, np.float32)
    depth[0, 0] = 0.0
    K = np.array([[2.0, 0, 1.5], [0, 4.0, 1.0], [0, 0, 1]])
    points = depth_to_points(depth, K)
    assert points.shape == (3, 4, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points[2, 3], [(3 - 1.5) / 2 * 2, (2 - 1.0) / 4 * 2, 2.0])
    assert np.isnan(points[0, 0]).all()


def test_load_predictor_selects_the_backend(checkpoint_path):
    predictor = load_predictor(checkpoint_path, device="cpu", backend="torch")
    assert isinstance(predictor, DepthMotionPredictor) and predictor.backend == "torch"
    assert predictor.describe() == {"backend": "torch (named)", "execution": "cpu"}
    with pytest.raises(ValueError, match="unknown backend"):
        load_predictor(checkpoint_path, device="cpu", backend="tensorrt")


class _ColumnDepth(PredictorBase):
    """A 'network' whose depth is 1 + the pixel's column, whatever the image: the least mirror-symmetric one."""

    def __init__(self) -> None:
        super().__init__(CONFIG, torch.device("cpu"), None)

    def network_depth(self, images):
        columns = torch.arange(images.shape[-1], dtype=torch.float32)
        return (1.0 + columns).expand(images.shape[0], 1, images.shape[-2], images.shape[-1]).clone()


def test_flip_average_is_the_mean_disparity_of_the_image_and_its_mirror():
    predictor = _ColumnDepth()
    images = torch.rand(2, 3, 64, 96)
    assert torch.equal(predictor.depth(images), predictor.network_depth(images))
    averaged = predictor.depth(images, flip_average=True)
    column = torch.arange(96, dtype=torch.float32)
    # The mirror's depth 1 + x, mirrored back, is 96 - x at column x.
    expected = 2.0 / (1.0 / (1.0 + column) + 1.0 / (96.0 - column))
    assert averaged.shape == (2, 1, 64, 96)
    torch.testing.assert_close(averaged[1, 0, 5], expected)


def test_flip_average_of_a_network_pairs_each_image_with_its_own_mirror(checkpoint_path):
    """Both passes go through the network as one batch; per-sample normalisation keeps them independent."""
    predictor = DepthMotionPredictor.from_checkpoint(str(checkpoint_path), device="cpu")
    images = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(4))
    plain = predictor.depth(images)
    mirrored_back = torch.flip(predictor.depth(torch.flip(images, dims=[3])), dims=[3])
    assert not torch.allclose(plain, mirrored_back, rtol=1e-2), "a CNN is not mirror-symmetric"
    torch.testing.assert_close(predictor.depth(images, flip_average=True),
                               2.0 / (1.0 / plain + 1.0 / mirrored_back), rtol=1e-4, atol=1e-6)


CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize("providers, torch_cuda, device, fixed_size, expected", [
    (CPU_ONLY, False, "auto", True, "onnx"),     # this machine: ONNX Runtime on the CPU
    (CPU_ONLY, False, "cpu", True, "onnx"),
    (None, False, "auto", True, "torch"),        # no onnxruntime
    (CPU_ONLY, False, "auto", False, "torch"),   # an input size override: only PyTorch resizes
    (WITH_CUDA, False, "auto", True, "onnx"),    # onnxruntime-gpu: its CUDA provider
    (WITH_CUDA, True, "cuda:0", True, "onnx"),
    (CPU_ONLY, True, "auto", True, "torch"),     # a GPU that only torch can use beats ONNX Runtime on the CPU
    (CPU_ONLY, True, "cuda", True, "torch"),
    (WITH_CUDA, True, "cpu", True, "onnx"),      # a CPU asked for by name
])
def test_auto_backend_takes_the_fastest_that_is_there(monkeypatch, providers, torch_cuda, device, fixed_size,
                                                     expected):
    reason = "" if providers is not None else "onnxruntime is not importable (ImportError: absent)"
    monkeypatch.setattr(loader, "_onnx_runtime_providers", lambda: (providers, reason))
    monkeypatch.setattr(loader.torch.cuda, "is_available", lambda: torch_cuda)
    chosen, why = loader.choose_backend("auto", device, fixed_size)
    assert chosen == expected and why.startswith("auto: ")
    if providers is None:
        assert "onnxruntime is not importable" in why
    assert loader.choose_backend("torch", device) == ("torch", "named")
    assert loader.choose_backend("onnx", device) == ("onnx", "named")


@pytest.mark.slow
def test_auto_backend_here_and_its_report(checkpoint_path, tmp_path):
    """On this machine (onnxruntime installed, no GPU): ONNX Runtime on the CPU, exported into the cache."""
    if torch.cuda.is_available():
        pytest.skip("the CPU-only machine's answer")
    predictor = load_predictor(checkpoint_path, device="auto", cache_dir=tmp_path)
    assert predictor.backend == "onnx" and predictor.execution == "CPUExecutionProvider"
    assert predictor.describe()["backend"] == "onnx (auto: ONNX Runtime on the CPU)"
    assert sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir()) == ["depth.onnx", "motion.onnx"]
