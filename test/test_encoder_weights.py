"""`--encoder-weights`: torchvision's ResNet-18 state dict and the ported MobileNetV2 weights into the depth encoder.

No download is possible here, so the torchvision file is made locally: random tensors under torchvision's
exact key names and shapes. The mapping is checked twice: parameter by parameter, and by a reference
forward pass written independently below from torchvision's layer names.
"""
from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_tflite_port import pretrained  # noqa: F401 (fixture)
from torch import Tensor

from depth_motion_ros.checkpoint import load_checkpoint
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.networks.encoder_weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EncoderWeightsError,
    load_encoder_weights,
    resnet18_from_torchvision,
)
from depth_motion_ros.networks.mobilenet_v2 import MobileNetV2Encoder
from depth_motion_ros.networks.randomized_layer_norm import EPSILON as LAYER_NORM_EPSILON
from depth_motion_ros.networks.tflite_port import port_mobilenet_v2
from depth_motion_ros.training.trainer import Trainer

from test_training import prebuilt_source, sliding_texture_frames, tiny_config

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_WIDTH = PRESETS["paper"]  # depth_width_multiplier 1.0, the width ImageNet ResNet-18 weights have


def torchvision_resnet18_state(seed: int = 0) -> dict[str, Tensor]:
    """A state dict with torchvision.models.resnet18()'s 122 keys, in its order, shapes and dtypes."""
    generator = torch.Generator().manual_seed(seed)

    def conv(out_channels: int, in_channels: int, kernel: int) -> Tensor:
        fan_in = in_channels * kernel * kernel
        return torch.randn(out_channels, in_channels, kernel, kernel, generator=generator) * (2.0 / fan_in) ** 0.5

    def batch_norm(prefix: str, channels: int) -> dict[str, Tensor]:
        return {f"{prefix}.weight": 0.5 + torch.rand(channels, generator=generator),
                f"{prefix}.bias": 0.1 * torch.randn(channels, generator=generator),
                f"{prefix}.running_mean": 0.2 * torch.randn(channels, generator=generator),
                f"{prefix}.running_var": 0.5 + torch.rand(channels, generator=generator),
                f"{prefix}.num_batches_tracked": torch.tensor(1000, dtype=torch.int64)}

    state = {"conv1.weight": conv(64, 3, 7), **batch_norm("bn1", 64)}
    previous = 64
    for layer, channels in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            state[f"{prefix}.conv1.weight"] = conv(channels, previous, 3)
            state.update(batch_norm(f"{prefix}.bn1", channels))
            state[f"{prefix}.conv2.weight"] = conv(channels, channels, 3)
            state.update(batch_norm(f"{prefix}.bn2", channels))
            if block == 0 and layer > 1:
                state[f"{prefix}.downsample.0.weight"] = conv(channels, previous, 1)
                state.update(batch_norm(f"{prefix}.downsample.1", channels))
            previous = channels
    state["fc.weight"] = 0.01 * torch.randn(1000, 512, generator=generator)
    state["fc.bias"] = torch.zeros(1000)
    assert len(state) == 122
    return state


def reference_features(state: dict[str, Tensor], rgb: Tensor) -> list[Tensor]:
    """torchvision's ResNet-18 forward from the state dict, with the substitutions the encoder makes by design:
    each main-branch batch norm normalises by the image's own statistics (instance norm with the batch norm's
    scale and offset and the layer norm's epsilon), and the stem's zero padding stands for a mid-grey pixel
    (zero of the encoder's [-1, 1] input). Returns the features at strides 2, 4, 8, 16 and 32."""
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    grey = (0.5 - mean) / std

    def norm(x: Tensor, prefix: str) -> Tensor:
        return F.instance_norm(x, weight=state[f"{prefix}.weight"], bias=state[f"{prefix}.bias"],
                               eps=LAYER_NORM_EPSILON)

    x = (rgb - mean) / std
    x = F.conv2d(F.pad(x - grey, (3, 3, 3, 3)) + grey, state["conv1.weight"], stride=2)
    x = F.relu(norm(x, "bn1"))
    features = [x]
    x = F.max_pool2d(x, 3, 2, 1)
    for layer in range(1, 5):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            stride = 2 if layer > 1 and block == 0 else 1
            out = F.relu(norm(F.conv2d(x, state[f"{prefix}.conv1.weight"], stride=stride, padding=1), f"{prefix}.bn1"))
            out = norm(F.conv2d(out, state[f"{prefix}.conv2.weight"], padding=1), f"{prefix}.bn2")
            if f"{prefix}.downsample.0.weight" in state:
                d = f"{prefix}.downsample.1"
                shortcut = F.batch_norm(F.conv2d(x, state[f"{prefix}.downsample.0.weight"], stride=stride),
                                        state[f"{d}.running_mean"], state[f"{d}.running_var"], state[f"{d}.weight"],
                                        state[f"{d}.bias"], training=False, eps=1e-5)
            else:
                shortcut = x
            x = F.relu(out + shortcut)
        features.append(x)
    return features


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory) -> tuple[Path, dict[str, Tensor]]:
    state = torchvision_resnet18_state()
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_resnet18_reproduces_the_reference_forward(torchvision_file):
    path, state = torchvision_file
    model = DepthMotionModel(PAPER_WIDTH).eval()
    load_encoder_weights(model, path)
    rgb = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        bottleneck, skips = model.depth_net.encoder(rgb * 2.0 - 1.0)
        expected = reference_features(state, rgb)
    for got, want in zip([*reversed(skips), bottleneck], expected, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_torchvision_parameters_map_one_to_one_and_downsample_batch_norm_is_folded(torchvision_file):
    path, state = torchvision_file
    model = DepthMotionModel(PAPER_WIDTH)
    load_encoder_weights(model, path)
    encoder = model.depth_net.encoder
    assert torch.equal(encoder.stage4[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(encoder.stage2[0].norm1.weight, state["layer1.0.bn1.weight"])
    assert torch.equal(encoder.stage5[1].norm2.bias, state["layer4.1.bn2.bias"])
    assert torch.equal(encoder.stem[1].weight, state["bn1.weight"])
    std = torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(encoder.stem[0].weight, state["conv1.weight"] / (2 * std)[None, :, None, None])
    d = "layer2.0.downsample.1"
    scale = state[f"{d}.weight"] / torch.sqrt(state[f"{d}.running_var"] + 1e-5)
    torch.testing.assert_close(encoder.stage3[0].shortcut.weight,
                               state["layer2.0.downsample.0.weight"] * scale[:, None, None, None])
    torch.testing.assert_close(encoder.stage3[0].norm2.bias,
                               state["layer2.0.bn2.bias"] + state[f"{d}.bias"] - state[f"{d}.running_mean"] * scale)


def test_main_branch_running_statistics_and_the_classifier_are_not_used():
    state = torchvision_resnet18_state()
    changed = dict(state, **{"layer1.0.bn1.running_mean": state["layer1.0.bn1.running_mean"] + 5.0,
                             "fc.weight": torch.zeros(1000, 512)})
    first, second = resnet18_from_torchvision(state), resnet18_from_torchvision(changed)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_torchvision_weights_refuse_a_narrower_resnet(torchvision_file):
    with pytest.raises(EncoderWeightsError, match="depth_width_multiplier 1.0.*'light' has depth_width_multiplier 0.5"):
        load_encoder_weights(DepthMotionModel(PRESETS["light"]), torchvision_file[0])


def test_other_state_dicts_are_refused_with_the_key_that_does_not_fit(tmp_path):
    resnet34_like = dict(torchvision_resnet18_state(), **{"layer1.2.conv1.weight": torch.zeros(64, 64, 3, 3)})
    with pytest.raises(EncoderWeightsError, match="unexpected keys.*layer1.2.conv1.weight"):
        resnet18_from_torchvision(resnet34_like)
    incomplete = torchvision_resnet18_state()
    del incomplete["layer4.1.bn2.bias"]
    with pytest.raises(EncoderWeightsError, match="layer4.1.bn2.bias.*missing"):
        resnet18_from_torchvision(incomplete)
    mobilenet_file = tmp_path / "mobilenet.pt"
    torch.save(MobileNetV2Encoder().state_dict(), mobilenet_file)
    with pytest.raises(EncoderWeightsError, match="torchvision ResNet-18"):
        load_encoder_weights(DepthMotionModel(PAPER_WIDTH), mobilenet_file)
    with pytest.raises(EncoderWeightsError, match="mobilenet_v2 encoder"):
        load_encoder_weights(DepthMotionModel(PAPER_WIDTH.replace(depth_encoder="mobilenet_v2")),
                             _saved(torchvision_resnet18_state(), tmp_path))


def _saved(state: dict[str, Tensor], folder: Path) -> Path:
    path = folder / "state.pt"
    torch.save(state, path)
    return path


def test_port_script_writes_encoder_weights_that_load_into_the_mobilenet_depth_encoder(pretrained, tmp_path,  # noqa: F811
                                                                                        capsys, monkeypatch):
    source = pretrained / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
    monkeypatch.syspath_prepend(str(REPO_ROOT / "scripts"))
    monkeypatch.delitem(sys.modules, "port_mobilenet_v2", raising=False)
    script = importlib.import_module("port_mobilenet_v2")

    out = tmp_path / "mobilenet_v2_imagenet.pt"
    script.main([str(source), str(out), "--check", str(pretrained / "cat.bmp")])
    assert "cat.bmp: Egyptian cat" in capsys.readouterr().out
    model = DepthMotionModel(PRESETS["light"].replace(depth_encoder="mobilenet_v2"))
    load_encoder_weights(model, out)
    ported = port_mobilenet_v2(source).encoder.state_dict()
    loaded = model.depth_net.encoder.state_dict()
    assert loaded.keys() == ported.keys() and all(torch.equal(loaded[k], ported[k]) for k in ported)


def test_trainer_starts_the_encoder_from_the_file_and_records_it(tmp_path):
    config = tiny_config(max_steps=1)
    config = dataclasses.replace(config, model=config.model.replace(depth_encoder="mobilenet_v2"))
    spec = prebuilt_source(tmp_path / "cache", config, sliding_texture_frames(16, 40, 80))
    weights = MobileNetV2Encoder()
    torch.nn.init.normal_(weights.stem.bias)  # not the model's own initialisation, so the copy shows
    path = _saved(weights.state_dict(), tmp_path)
    trainer = Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache",
                      encoder_weights=path)
    assert torch.equal(trainer.model.depth_net.encoder.stem.bias, weights.stem.bias)
    result = trainer.run()
    assert load_checkpoint(result.last_checkpoint).metadata["encoder_weights"] == str(path)
    with pytest.raises(ValueError, match="--encoder-weights initialises a new run"):
        Trainer(config, [spec], tmp_path / "again", device="cpu", cache_dir=tmp_path / "cache",
                init_from=result.last_checkpoint, encoder_weights=path)
