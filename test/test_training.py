"""The training loop (training/trainer.py) on tiny synthetic data: learning, resume, guards, configs."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import Tensor

from depth_motion_ros.checkpoint import CheckpointError, load_checkpoint
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.training import losses
from depth_motion_ros.training import trainer as trainer_module
from depth_motion_ros.training.config import (
    CONFIG_DIR,
    ScheduleConfig,
    config_from_dict,
    load_train_config,
    read_config_mapping,
)
from depth_motion_ros.training.data import FrameCache, SourceSpec, cache_size_for
from depth_motion_ros.training.guards import FailureIndicators, failure_indicators, failure_warnings
from depth_motion_ros.training.trainer import Trainer

SHIFT_PX = 2  # the known motion: the camera slides sideways over a textured plane, 2 cache pixels a frame


def sliding_texture_frames(count: int, height: int, width: int, seed: int = 0) -> list[Frame]:
    """Frames of a smooth random texture seen by a camera translating sideways at constant speed."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 4 + 2, (width + SHIFT_PX * count) // 4 + 2, 3)).astype(np.float32)
    texture = torch.nn.functional.interpolate(torch.from_numpy(coarse).permute(2, 0, 1)[None],
                                              scale_factor=4, mode="bicubic", align_corners=False)[0]
    texture = (texture.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
    k = np.array([[width * 0.9, 0, (width - 1) / 2], [0, width * 0.9, (height - 1) / 2], [0, 0, 1.0]])
    return [Frame(i, 0.1 * i, np.ascontiguousarray(texture[:height, SHIFT_PX * i:SHIFT_PX * i + width]), k)
            for i in range(count)]


def tiny_config(**run_overrides):
    content = read_config_mapping("light")
    content["model"] = {"preset": "light", "input_height": 32, "input_width": 64}
    content["optim"].update(batch_size=2, lr=1e-3)
    content["schedule"].update(layer_norm_noise_rampup_steps=20, motion_field_burnin_steps=40)
    content["data"].update(val_fraction=0.25)
    content["run"].update(dict(max_steps=4, log_every=2, image_every=2, checkpoint_every=2, validate_every=2,
                               val_pairs=4, seed=7, threads=1), **run_overrides)
    return config_from_dict(content)


def prebuilt_source(cache_root: Path, config, frames: list[Frame]) -> SourceSpec:
    """A source whose cache already exists, so the trainer never needs to decode anything."""
    spec = SourceSpec("images", str(cache_root / "synthetic"))
    size = cache_size_for(config.model.input_size, config.data.cache_scale)
    FrameCache.build(frames, cache_root / spec.key(size), size, name="synthetic")
    return spec


@pytest.fixture
def tiny_run(tmp_path):
    config = tiny_config()
    spec = prebuilt_source(tmp_path / "cache", config, sliding_texture_frames(16, 40, 80))
    return config, spec, tmp_path


def two_depth_scene_frames(count: int, height: int, width: int) -> list[Frame]:
    """Sideways camera motion over a scene whose lower half is twice as close as its upper half: the lower
    half moves 2 * SHIFT_PX per frame, the upper half SHIFT_PX (known motion AND known depth order)."""
    far = sliding_texture_frames(count * 2 + 4, height, width, seed=1)
    near = sliding_texture_frames(count * 2 + 4, height, width, seed=2)
    frames = []
    for i in range(count):
        rgb = far[i].rgb.copy()
        rgb[height // 2:] = near[2 * i].rgb[height // 2:]
        frames.append(Frame(i, 0.1 * i, rgb, far[i].intrinsics))
    return frames


@pytest.mark.slow
def test_short_training_on_known_motion_reduces_photometric_loss_and_orders_depth(tmp_path):
    config = tiny_config(max_steps=100, validate_every=1000, checkpoint_every=1000)
    # Layer-norm noise and the object-motion field stay (nearly) off: the scene is rigid, so this isolates
    # learning the known camera motion and depth from the photometric loss.
    config = dataclasses.replace(config, model=config.model.replace(input_height=64, input_width=128),
                                 schedule=ScheduleConfig(layer_norm_noise_rampup_steps=1000,
                                                         motion_field_burnin_steps=1000))
    frames = two_depth_scene_frames(24, 74, 147)
    spec = prebuilt_source(tmp_path / "cache", config, frames)
    trainer = Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache")
    before = trainer.validate()["loss/rgb_consistency"]
    result = trainer.run()
    after = result.last_validation["loss/rgb_consistency"]
    assert result.step == 100 and result.skipped_nonfinite == 0
    assert after < 0.8 * before, (before, after)
    trainer.model.eval()
    rgb = torch.from_numpy(frames[20].rgb).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        depth = trainer.model.depth(torch.nn.functional.interpolate(rgb, size=(64, 128), mode="area"))[0, 0]
    far_depth, near_depth = depth[:28].mean().item(), depth[36:].mean().item()
    assert near_depth < 0.7 * far_depth, (near_depth, far_depth)


def test_run_writes_loadable_checkpoints_tensorboard_and_config(tiny_run):
    config, spec, tmp = tiny_run
    result = Trainer(config, [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache").run()
    assert result.step == 4 and not result.interrupted
    last = load_checkpoint(tmp / "run" / "checkpoints" / "last.pt")
    assert last.metadata["step"] == 4 and last.training_state["step"] == 4
    assert (tmp / "run" / "checkpoints" / "best.pt").is_file()
    assert load_checkpoint(tmp / "run" / "checkpoints" / "best.pt").training_state is None
    predictor = DepthMotionPredictor.from_checkpoint(str(tmp / "run" / "checkpoints" / "last.pt"), device="cpu")
    assert predictor.input_size == (32, 64)
    assert list((tmp / "run" / "tensorboard").glob("events.out.tfevents.*"))
    saved = yaml.safe_load((tmp / "run" / "train_config.yaml").read_text())
    assert config_from_dict(saved) == config


def test_resume_reproduces_the_uninterrupted_run_exactly(tiny_run):
    config, spec, tmp = tiny_run
    straight = Trainer(config, [spec], tmp / "straight", device="cpu", cache_dir=tmp / "cache")
    straight.run()
    first_half = Trainer(config.with_max_steps(2), [spec], tmp / "resumed", device="cpu", cache_dir=tmp / "cache")
    first_half.run()
    second_half = Trainer(config, [spec], tmp / "resumed", resume=True, device="cpu", cache_dir=tmp / "cache")
    assert second_half.state.step == 2
    result = second_half.run()
    assert result.step == 4
    for (name, a), b in zip(straight.model.state_dict().items(), second_half.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_resume_refuses_a_different_square_pixels_setting_and_reads_old_runs_as_the_heads_fy(tiny_run):
    config, spec, tmp = tiny_run
    Trainer(config.with_max_steps(2), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache").run()
    last = tmp / "run" / "checkpoints" / "last.pt"
    official = dataclasses.replace(config, square_pixels=False)
    with pytest.raises(CheckpointError, match="square_pixels: true"):
        Trainer(official, [spec], tmp / "run", resume=True, device="cpu", cache_dir=tmp / "cache")
    payload = torch.load(last, weights_only=True)  # a run saved before the option existed
    del payload["metadata"]["training_config"]["square_pixels"]
    torch.save(payload, last)
    with pytest.raises(CheckpointError, match="square_pixels: false"):
        Trainer(config, [spec], tmp / "run", resume=True, device="cpu", cache_dir=tmp / "cache")
    assert Trainer(official, [spec], tmp / "run", resume=True, device="cpu", cache_dir=tmp / "cache").state.step == 2


def test_a_motion_stage_trains_the_motion_network_only_and_resumes(tiny_run):
    config, spec, tmp = tiny_run
    motion_groups = ("ego_motion", "intrinsics", "object_motion")
    config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, train=motion_groups))
    with pytest.raises(ValueError, match="--init-from"):  # a frozen random depth network is never wanted
        Trainer(config, [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache")
    start = tmp / "start.pt"
    Trainer(tiny_config().with_max_steps(1), [spec], tmp / "start", device="cpu", cache_dir=tmp / "cache").run()
    (tmp / "start" / "checkpoints" / "last.pt").rename(start)
    first_half = Trainer(config.with_max_steps(2), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache",
                         init_from=start)
    depth_before = {k: v.clone() for k, v in first_half.model.depth_net.state_dict().items()}
    motion_before = {k: v.clone() for k, v in first_half.model.motion_net.state_dict().items()}
    first_half.run()
    second_half = Trainer(config, [spec], tmp / "run", resume=True, device="cpu", cache_dir=tmp / "cache")
    assert second_half.run().step == 4
    for name, value in second_half.model.depth_net.state_dict().items():
        assert torch.equal(value, depth_before[name]), name
    changed = [name for name, value in second_half.model.motion_net.state_dict().items()
               if not torch.equal(value, motion_before[name])]
    assert {"rotation_scale", "translation_scale", "encoder.0.weight", "background_motion.weight"} <= set(changed)


def test_an_intrinsics_stage_trains_the_intrinsics_head_and_nothing_else(tiny_run):
    config, spec, tmp = tiny_run
    intrinsics_only = dataclasses.replace(config.optim, train=("intrinsics",))
    with pytest.raises(ValueError, match="intrinsics: learned"):
        dataclasses.replace(config, optim=intrinsics_only)
    config = dataclasses.replace(config, optim=intrinsics_only, intrinsics="learned")
    start = tmp / "start.pt"
    Trainer(tiny_config().with_max_steps(1), [spec], tmp / "start", device="cpu", cache_dir=tmp / "cache").run()
    (tmp / "start" / "checkpoints" / "last.pt").rename(start)
    with pytest.raises(ValueError, match="--init-from"):
        Trainer(config, [spec], tmp / "fresh", device="cpu", cache_dir=tmp / "cache")
    trainer = Trainer(config.with_max_steps(3), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache",
                      init_from=start)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    changed = {name for name, value in trainer.model.state_dict().items() if not torch.equal(value, before[name])}
    assert changed == {"motion_net.focal_head.weight", "motion_net.focal_head.bias", "motion_net.offset_head.weight"}


def test_a_field_stage_trains_the_object_motion_field_and_nothing_else(tiny_run):
    config, spec, tmp = tiny_run
    start = tmp / "start.pt"
    Trainer(tiny_config().with_max_steps(1), [spec], tmp / "start", device="cpu", cache_dir=tmp / "cache").run()
    (tmp / "start" / "checkpoints" / "last.pt").rename(start)
    config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, train=("object_motion",)),
                                 schedule=dataclasses.replace(config.schedule, motion_field_burnin_steps=0))
    with pytest.raises(ValueError, match="keeps depth, ego_motion, intrinsics as loaded: give --init-from"):
        Trainer(config, [spec], tmp / "fresh", device="cpu", cache_dir=tmp / "cache")
    trainer = Trainer(config.with_max_steps(3), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache",
                      init_from=start)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    changed = {name for name, value in trainer.model.state_dict().items() if not torch.equal(value, before[name])}
    field = {name for name in before if name.startswith(("motion_net.refinements.", "motion_net.unrefined_residual."))}
    assert changed == field


def test_non_finite_loss_is_skipped_and_counted(tiny_run, monkeypatch):
    config, spec, tmp = tiny_run
    real = losses.compute_losses
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        return out._replace(total=out.total * float("nan")) if calls["n"] == 2 else out

    monkeypatch.setattr(trainer_module, "compute_losses", poisoned)
    trainer = Trainer(config.with_max_steps(3), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache")
    result = trainer.run()
    assert result.step == 3 and result.skipped_nonfinite == 1
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_validation_reports_depth_metrics_when_ground_truth_exists(tmp_path):
    config = tiny_config()
    frames = sliding_texture_frames(16, 40, 80)
    for frame in frames[12:]:
        frame.depth = np.full((40, 80), 3.0, dtype=np.float32)
        frame.depth[:20] = 6.0
    spec = prebuilt_source(tmp_path / "cache", config, frames)
    result = Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache").validate()
    assert result["depth/images"] == 3  # validation pairs start at frames 12, 13, 14
    assert 0.0 <= result["depth/abs_rel"] and 0.0 <= result["depth/a1"] <= 1.0


def test_given_intrinsics_without_camera_info_is_a_clear_error(tmp_path):
    content = read_config_mapping("light")
    content["model"] = {"preset": "light", "input_height": 32, "input_width": 64}
    content["intrinsics"] = "given"
    config = config_from_dict(content)
    frames = [Frame(f.index, f.timestamp, f.rgb) for f in sliding_texture_frames(8, 40, 80)]
    spec = prebuilt_source(tmp_path / "cache", config, frames)
    with pytest.raises(ValueError, match="no camera intrinsics"):
        Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache")


def test_failure_indicators_and_warnings():
    b, h, w = 2, 8, 8
    constant_depth = torch.full((b, 1, h, w), 5.0)
    indicators = failure_indicators(constant_depth, torch.zeros(b, 3), torch.zeros(b, 3, h, w))
    assert indicators.depth_cv == 0.0
    limits = load_train_config("light").guards
    assert any("collapsing" in text for text in failure_warnings(indicators, limits))
    varied = torch.rand(b, 1, h, w) + 1.0
    big_translation = torch.tensor([[0.0, 0.0, 10.0], [0.0, 0.0, 0.1]])
    residual = torch.zeros(b, 3, h, w)
    residual[:, 0] = 20.0  # object motion larger than camera motion everywhere
    texts = failure_warnings(failure_indicators(varied, big_translation, residual), limits)
    assert any("exploding" in t for t in texts) and any("explains" in t for t in texts)
    assert failure_warnings(FailureIndicators(0.3, 0.05, 0.1), limits) == []


def test_configs_validate_and_inherit():
    light, paper = load_train_config("light"), load_train_config("paper")
    assert paper.model.name == "paper" and paper.model.input_size == (128, 416)
    assert light.model.name == "light" and light.loss_weights == paper.loss_weights
    assert paper.optim.lr == 2e-4 and paper.optim.grad_clip == 10.0
    assert paper.schedule.layer_norm_noise_rampup_steps == 10_000
    assert paper.schedule.motion_field_burnin_steps == 20_000
    assert light.schedule.motion_field_burnin_steps < paper.schedule.motion_field_burnin_steps
    content = read_config_mapping("light")
    content["optim"]["learning_rate"] = 1.0
    with pytest.raises(ValueError, match="unknown keys in 'optim'"):
        config_from_dict(content)
    with pytest.raises(ValueError, match="not found"):
        load_train_config("no_such_recipe")


def test_every_built_in_recipe_validates():
    names = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))
    assert {"light", "paper", "light_real"} <= set(names)
    for name in names:
        assert load_train_config(name).model.name in ("light", "paper"), name
    real = load_train_config("light_real")
    assert real.reverse_motion == "inverted" and real.model.input_size == (96, 160)


def test_learning_rate_step_decay_is_a_function_of_the_step_and_off_by_default():
    official = load_train_config("light").optim
    assert official.lr_decay_step == 0 and official.lr_at(10**6) == official.lr
    content = read_config_mapping("light")
    content["optim"].update(lr=5e-4, lr_decay_step=100, lr_decay_factor=0.1)
    optim = config_from_dict(content).optim
    assert optim.lr_at(99) == 5e-4 and optim.lr_at(100) == pytest.approx(5e-5)


def test_learned_intrinsics_take_fy_for_square_pixels_unless_switched_off(tiny_run):
    config, spec, tmp_path = tiny_run
    assert config.square_pixels
    official_dict = dataclasses.replace(config, square_pixels=False).to_dict()
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(official_dict))).square_pixels is False
    with pytest.raises(ValueError, match="square_pixels must be true or false"):
        config_from_dict({**official_dict, "square_pixels": "false"})
    learned = torch.tensor([[[50.0, 0.0, 31.0], [0.0, 70.0, 15.0], [0.0, 0.0, 1.0]]]).repeat(4, 1, 1)
    learned[2:, 0, 0] = 54.0  # the reverse direction: the two directions are averaged, fx 52
    batch = {"intrinsics": torch.eye(3).repeat(2, 1, 1), "has_intrinsics": torch.tensor([False, True]),
             "square_pixel_aspect": torch.tensor([0.5, 0.8])}
    for mode, expected_fy in (("learned", [26.0, 41.6]), ("auto", [26.0, 1.0])):
        trainer = Trainer(dataclasses.replace(config, intrinsics=mode), [spec], tmp_path / mode,
                          cache_dir=tmp_path / "cache")
        k = trainer._intrinsics(batch, learned)
        assert k.shape == (4, 3, 3) and torch.equal(k[:2], k[2:])
        assert k[:, 1, 1].tolist() == pytest.approx(expected_fy + expected_fy)
        assert k[0, 0, 0].item() == pytest.approx(52.0) and k[0, 1, 2].item() == pytest.approx(15.0)
    official = Trainer(dataclasses.replace(config, intrinsics="learned", square_pixels=False), [spec],
                       tmp_path / "official", cache_dir=tmp_path / "cache")
    assert official._intrinsics(batch, learned)[:, 1, 1].tolist() == pytest.approx([70.0] * 4)


def test_loss_options_section_reaches_the_trainer(tiny_run, monkeypatch):
    config, spec, tmp_path = tiny_run
    assert config.loss == losses.LossOptions()  # official masking unless a recipe asks otherwise
    content = config.to_dict()
    content["loss"] = {"occlusion_aware": False, "auto_mask": True}
    content["optim"].update(lr_decay_step=2, lr_decay_factor=0.5)
    config = config_from_dict(content)
    seen = []
    original = losses.compute_losses

    def spy(*args, **kwargs):
        seen.append(kwargs["options"])
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "compute_losses", spy)
    trainer = Trainer(config, [spec], tmp_path / "run", cache_dir=tmp_path / "cache")
    trainer.run()
    assert seen and all(o == losses.LossOptions(occlusion_aware=False, auto_mask=True) for o in seen)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(config.optim.lr * 0.5)



def _fixed_batch_steps(trainer: Trainer, steps: int) -> tuple[list[dict[str, float]], Tensor]:
    """``steps`` training steps on the first batches of a fixed epoch order: every term of every step, and the
    first step's (clipped) gradient of every trained weight, flattened."""
    batches = trainer_module.epoch_batches(len(trainer.train_set), trainer.config.optim.batch_size, seed=0, epoch=0)
    loader = torch.utils.data.DataLoader(trainer.train_set, batch_sampler=batches, num_workers=0)
    rows, first_gradient = [], torch.zeros(0)
    for index, batch in zip(range(steps), loader, strict=False):
        result = trainer._train_step(batch)
        assert result is not None
        rows.append({"total": float(result["out"].total.detach()),
                     **{k: float(v.detach()) for k, v in result["out"].terms.items()}})
        if index == 0:
            first_gradient = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
        trainer.state.step += 1
    return rows, first_gradient


def test_channels_last_weights_train_as_the_default_layout_to_float32_rounding(tiny_run, monkeypatch):
    """The CPU keeps the weights channels-last for speed (`training_memory_format`); a fixed-seed run of the
    rendered recipe (tiny size) must compute what the default layout computes, to float32 rounding.

    Tolerances. The two layouts sum each convolution in a different order. On the first step (same weights,
    same batch) that is float32 rounding (epsilon 1.2e-7) carried through the networks: every loss term
    within 1e-5 relative (measured: under 1e-6), and the gradient within 1e-4 of its norm (measured:
    2.4e-5; the deep encoder stages, whose gradients are small sums of terms of both signs, differ most).
    Later steps start from weights that already differ in rounding, which any run amplifies: Adam divides
    every gradient by its own running size, so a weight whose gradient is rounding noise (the object-motion
    field's, zero before its burn-in) still moves by a full learning rate per step, in either direction
    (up to two learning rates apart per step), and the occlusion mask is a comparison that flips a pixel
    for a rounding difference. Running on two threads instead of one moves the third step's loss as much
    (2.5e-5 against 2.6e-5, measured 2026-12-07). Hence after three steps: the loss within 1e-3 relative
    and every weight within two learning rates per step (measured: 3.1 learning rates in all)."""
    _, spec, tmp = tiny_run
    content = read_config_mapping("rendered")
    content["model"].update(input_height=32, input_width=64)
    content["optim"].update(batch_size=2)
    content["data"].update(val_fraction=0.25)
    content["run"].update(max_steps=3, seed=7, threads=1)
    config = config_from_dict(content)
    runs = {}
    for layout in (torch.channels_last, torch.contiguous_format):
        monkeypatch.setattr(trainer_module, "training_memory_format", lambda device, layout=layout: layout)
        trainer = Trainer(config, [spec], tmp / str(layout), device="cpu", cache_dir=tmp / "cache")
        conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=layout)
        runs[layout] = (*_fixed_batch_steps(trainer, 3), trainer.model.state_dict())
    (fast_terms, fast_gradient, fast_weights), (default_terms, default_gradient, default_weights) = runs.values()
    for name, value in default_terms[0].items():
        assert fast_terms[0][name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
    assert float((fast_gradient - default_gradient).norm()) < 1e-4 * float(default_gradient.norm())
    assert fast_terms[-1]["total"] == pytest.approx(default_terms[-1]["total"], rel=1e-3)
    worst = max(float((fast_weights[name] - value).abs().max()) for name, value in default_weights.items())
    assert worst <= 2 * 3 * config.optim.lr
