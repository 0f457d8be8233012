"""The MobileNetV2 depth encoder option (`ModelConfig.depth_encoder`) and its TensorFlow 'SAME' padding."""
from __future__ import annotations

import pytest
import torch

from depth_motion_ros.checkpoint import load_checkpoint, save_checkpoint
from depth_motion_ros.model_config import PRESETS, ModelConfig
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.networks.mobilenet_v2 import ENCODER_CHANNELS, SameConv2d, same_padding
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.predictors.onnx_predictor import OnnxDepthMotionPredictor, export_onnx

MOBILE = PRESETS["light"].replace(depth_encoder="mobilenet_v2")


def test_same_padding_puts_the_odd_pixel_after_as_tensorflow_does():
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(7, 3, 2) == (1, 1)
    assert same_padding(112, 3, 1) == (1, 1)
    assert same_padding(56, 1, 1) == (0, 0)


def test_stride_two_convolution_samples_the_tensorflow_grid():
    """A 3x3 box sum, stride 2, over x[i, j] = 4 i + j on 4x4: windows start at rows/columns 0 and 2 (padding
    one zero row and column at the end); PyTorch's symmetric padding would centre them on 0 and 2 instead."""
    conv = SameConv2d(1, 1, 3, 2, relu6=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
        out = conv(torch.arange(16.0).reshape(1, 1, 4, 4))
    assert out[0, 0].tolist() == [[45.0, 39.0], [66.0, 50.0]]


def test_mobilenet_depth_network_gives_positive_depth_at_input_size_with_skips_at_strides_2_to_32():
    model = DepthMotionModel(MOBILE).eval()
    rgb = torch.rand(2, 3, 96, 160)
    with torch.no_grad():
        bottleneck, skips = model.depth_net.encoder(rgb * 2 - 1)
        depth = model.depth(rgb)
    features = [*reversed(skips), bottleneck]
    assert [f.shape[1] for f in features] == list(ENCODER_CHANNELS)
    assert [f.shape[-2:] for f in features] == [(96 // s, 160 // s) for s in (2, 4, 8, 16, 32)]
    assert depth.shape == (2, 1, 96, 160) and bool((depth > 0).all())


def test_the_width_multiplier_scales_the_decoder_only_with_mobilenet():
    narrow = DepthMotionModel(MOBILE).depth_net
    wide = DepthMotionModel(MOBILE.replace(depth_width_multiplier=1.0)).depth_net
    assert narrow.encoder.state_dict().keys() == wide.encoder.state_dict().keys()
    pairs = zip(narrow.encoder.parameters(), wide.encoder.parameters(), strict=True)
    assert all(a.shape == b.shape for a, b in pairs)
    assert narrow.upconv5.conv.out_channels == 128 and wide.upconv5.conv.out_channels == 256


def test_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="depth_encoder must be one of"):
        PRESETS["light"].replace(depth_encoder="vgg16")


def test_mobilenet_checkpoint_round_trips(tmp_path):
    model = DepthMotionModel(MOBILE)
    save_checkpoint(tmp_path / "m.pt", model, {})
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.config == MOBILE
    pairs = zip(model.state_dict().values(), loaded.model.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_checkpoint_written_before_the_field_existed_loads_as_resnet18(tmp_path):
    save_checkpoint(tmp_path / "new.pt", DepthMotionModel(PRESETS["light"]), {})
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    del payload["model_config"]["depth_encoder"]
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert loaded.config.depth_encoder == "resnet18" and loaded.config == PRESETS["light"]
    assert ModelConfig.from_dict(payload["model_config"]) == PRESETS["light"]


@pytest.mark.slow
def test_onnx_export_of_the_mobilenet_depth_network_equals_pytorch(tmp_path):
    """The node's fast backend: the explicit asymmetric padding and ReLU6 survive the export."""
    torch.manual_seed(0)
    model = DepthMotionModel(MOBILE.replace(input_height=64, input_width=96)).eval()
    export_onnx(model, tmp_path / "mobile")
    onnx_predictor = OnnxDepthMotionPredictor.from_onnx(tmp_path / "mobile", device="cpu")
    torch_predictor = DepthMotionPredictor(model, "cpu")
    for batch in (1, 2):
        rgb = torch.rand(batch, 3, 64, 96, generator=torch.Generator().manual_seed(batch))
        expected = torch_predictor.depth(rgb)
        assert float((onnx_predictor.depth(rgb) - expected).abs().max()) <= 1e-4 * float(expected.abs().max())
