"""Network shapes, positivity, initial behaviour, layer-norm noise, and configuration presets."""
from __future__ import annotations

import pytest
import torch

from depth_motion_ros.geometry import axis_angle_to_matrix, warp_frame
from depth_motion_ros.model_config import PRESETS, ModelConfig, get_model_config
from depth_motion_ros.networks import DepthMotionModel, RandomizedLayerNorm, set_layer_norm_noise
from depth_motion_ros.networks.motion_net import SCALE_FLOOR, MotionNet

TINY = dict(depth_width_multiplier=0.25, motion_width_multiplier=0.125)


def _model(height: int, width: int, **overrides) -> DepthMotionModel:
    torch.manual_seed(0)
    return DepthMotionModel(ModelConfig(name="tiny", input_height=height, input_width=width,
                                        **{**TINY, **overrides}))


@pytest.mark.parametrize("height,width", [(64, 96), (96, 160)])
def test_output_shapes_and_positivity_at_two_sizes(height, width):
    model = _model(height, width).eval()
    rgb1, rgb2 = torch.rand(2, 3, height, width), torch.rand(2, 3, height, width)
    depth1, depth2, motion = model(rgb1, rgb2)
    assert depth1.shape == depth2.shape == (2, 1, height, width)
    assert (depth1 > 0).all() and torch.isfinite(depth1).all()
    assert motion.rotation.shape == motion.translation.shape == (2, 3)
    assert motion.intrinsics.shape == (2, 3, 3)
    assert motion.residual_translation.shape == (2, 3, height, width)
    K = motion.intrinsics
    assert (K[:, 0, 0] > 0).all() and (K[:, 1, 1] > 0).all()
    assert torch.allclose(K[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(2, 3))


def test_learned_intrinsics_start_in_the_image_centre_at_the_image_scale():
    model = _model(64, 96)
    with torch.no_grad():
        model.motion_net.offset_head.weight.zero_()
        model.motion_net.focal_head.weight.zero_()
    rgb = torch.rand(1, 3, 64, 96)
    K = model.motion(rgb, torch.ones(1, 1, 64, 96), rgb, torch.ones(1, 1, 64, 96)).intrinsics[0]
    softplus0 = torch.log(torch.tensor(2.0))
    assert torch.allclose(K, torch.tensor([[96 * softplus0, 0, 47.5], [0, 64 * softplus0, 31.5], [0, 0, 1]]))


def test_motion_output_scales_and_their_floor():
    net = MotionNet(width_multiplier=0.125, auto_mask=False)
    pair = torch.rand(1, 8, 64, 64)
    out = net(pair)
    with torch.no_grad():
        net.rotation_scale.fill_(0.02)  # doubling the learned scale doubles the output
        net.translation_scale.fill_(-5.0)  # below the floor: acts as 0.001
    doubled = net(pair)
    assert torch.allclose(doubled.rotation, 2 * out.rotation)
    assert torch.allclose(doubled.translation, 0.1 * out.translation)
    assert torch.allclose(doubled.residual_translation, 0.1 * out.residual_translation)


def test_scales_are_projected_onto_the_floor_and_get_a_gradient_there():
    """As the official constraint: after each update the variables are projected back onto the floor, so a
    scale that an update pushed under the floor sits exactly at it and the next gradient reaches it."""
    net = MotionNet(width_multiplier=0.125, auto_mask=False)
    with torch.no_grad():
        net.rotation_scale.fill_(-0.0014)
        net.translation_scale.fill_(0.5)
    net.project_scales()
    assert net.rotation_scale.item() == pytest.approx(SCALE_FLOOR) and net.translation_scale.item() == 0.5
    out = net(torch.rand(1, 8, 64, 64))
    (out.rotation.sum() + out.translation.sum()).backward()
    assert net.rotation_scale.grad is not None and net.rotation_scale.grad.abs() > 0
    assert net.translation_scale.grad is not None and net.translation_scale.grad.abs() > 0


def test_the_trainer_keeps_the_scales_at_or_above_the_floor(tmp_path, monkeypatch):
    from depth_motion_ros.training.trainer import Trainer

    from test_training import prebuilt_source, sliding_texture_frames, tiny_config

    config = tiny_config(max_steps=2)
    spec = prebuilt_source(tmp_path / "cache", config, sliding_texture_frames(16, 40, 80))
    trainer = Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache")
    step = trainer.optimizer.step

    def step_then_push_below_the_floor(*args, **kwargs):
        step(*args, **kwargs)
        with torch.no_grad():
            trainer.model.motion_net.translation_scale.fill_(-1.0)
    monkeypatch.setattr(trainer.optimizer, "step", step_then_push_below_the_floor)
    trainer.run()
    assert trainer.model.motion_net.translation_scale.item() == pytest.approx(SCALE_FLOOR)


def test_auto_mask_keeps_only_above_mean_motion():
    field = torch.zeros(2, 3, 4, 4)
    field[0, 0, 0, 0] = 1.0  # one moving pixel: mean magnitude is 1/16
    field[1] = 0.5           # uniform field: nothing exceeds its mean
    mask = MotionNet._auto_mask(field)
    assert mask[0, 0, 0, 0] == 1 and mask[0].sum() == 1
    assert mask[1].sum() == 0


def test_gradients_reach_both_networks_through_a_warping_loss():
    model = _model(64, 96, motion_auto_mask=False).train()
    rgb1, rgb2 = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    depth1, depth2, motion = model(rgb1, rgb2)
    warp = warp_frame(rgb2, depth1, motion.intrinsics, axis_angle_to_matrix(motion.rotation),
                      motion.translation, motion.residual_translation)
    ((warp.image - rgb1).abs() * warp.mask).mean().backward()
    for name in ["depth_net.encoder.stem.0.weight", "depth_net.depth_head.conv.weight",
                 "motion_net.encoder.0.weight", "motion_net.background_motion.weight",
                 "motion_net.refinements.7.output.weight", "motion_net.focal_head.weight",
                 "motion_net.translation_scale"]:
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_layer_norm_noise_only_in_training():
    model = _model(64, 64)
    rgb = torch.rand(1, 3, 64, 64)
    set_layer_norm_noise(model, 0.5)
    assert all(m.noise_stddev == 0.5 for m in model.modules() if isinstance(m, RandomizedLayerNorm))
    model.eval()
    assert torch.equal(model.depth(rgb), model.depth(rgb))  # eval: deterministic despite the setting
    model.train()
    assert not torch.allclose(model.depth(rgb), model.depth(rgb))
    set_layer_norm_noise(model, 0.0)
    assert torch.equal(model.depth(rgb), model.depth(rgb))
    with pytest.raises(ValueError):
        set_layer_norm_noise(model, -0.1)


def test_randomized_layer_norm_normalises_each_sample_and_channel():
    norm = RandomizedLayerNorm(2)
    x = torch.randn(3, 2, 8, 8) * torch.tensor([5.0, 0.1]).view(1, 2, 1, 1) + 7
    out = norm(x)
    assert torch.allclose(out.mean(dim=(2, 3)), torch.zeros(3, 2), atol=1e-5)
    # eps = 1e-3 lowers the unit variance slightly for the small-variance channel only.
    assert torch.allclose(out.var(dim=(2, 3), unbiased=False)[:, 0], torch.ones(3), atol=1e-3)
    # The noisy path with zero noise equals the fused path.
    norm.noise_stddev = 1e-12
    assert torch.allclose(norm(x), out, atol=1e-5)


def test_presets_and_their_sizes():
    paper, light = PRESETS["paper"], PRESETS["light"]
    assert (paper.input_height, paper.input_width, paper.depth_width_multiplier) == (128, 416, 1.0)
    depth_params = sum(p.numel() for p in DepthMotionModel(paper).depth_net.parameters())
    assert 14e6 < depth_params < 15e6  # ResNet-18 encoder (11.2M without its classifier) + U-Net decoder
    assert light.input_size == (128, 256)


def test_config_dict_and_yaml_round_trip(tmp_path):
    config = PRESETS["light"]
    assert ModelConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "model.yaml"
    path.write_text("model:\n  preset: light\n  input_width: 320\n")
    assert get_model_config(str(path)) == config.replace(input_width=320)
    assert get_model_config("paper") is PRESETS["paper"]
    with pytest.raises(ValueError):
        get_model_config("no_such_preset")
    with pytest.raises(ValueError):
        ModelConfig.from_dict({**config.to_dict(), "typo_field": 1})
    with pytest.raises(ValueError):
        config.replace(input_height=100)  # not a multiple of 32


@pytest.mark.parametrize("activation,recovers", [("relu", False), ("elu", True)])
def test_decoder_units_pushed_negative_recover_only_with_elu(activation, recovers):
    """Why `decoder_activation: elu` exists: once every unit of the last decoder layer is negative (dead),
    ReLU passes no gradient to anything before it and the depth map is constant for good; ELU still does."""
    model = _model(64, 96, decoder_activation=activation).train()
    with torch.no_grad():   # every pre-activation of the last decoder layer at -1
        model.depth_net.iconv1.conv.weight.zero_()
        model.depth_net.iconv1.conv.bias.fill_(-1.0)
    depth = model.depth(torch.rand(2, 3, 64, 96))
    interior = depth[..., 1:-1, 1:-1]   # the head's zero padding alone shapes the border
    assert interior.std() / interior.mean() < 1e-4, "dead last layer: constant depth"
    (depth * torch.randn_like(depth)).sum().backward()
    gradient = model.depth_net.iconv1.conv.weight.grad.abs().max()
    assert (gradient > 0) == recovers


def test_decoder_activation_is_validated_and_defaults_to_the_official_relu():
    assert PRESETS["paper"].decoder_activation == "relu"
    with pytest.raises(ValueError, match="decoder_activation"):
        ModelConfig(name="x", input_height=64, input_width=64, decoder_activation="tanh")
