"""Training against refined camera motion (training/refined_poses.py, `pose_refinement` with a depth stage)."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from test_direct_alignment import TRUE_ROTATION, TRUE_TRANSLATION, K, pair  # noqa: F401 (fixture)

from depth_motion_ros.checkpoint import load_checkpoint
from depth_motion_ros.networks import MotionOutput
from depth_motion_ros.training import trainer as trainer_module
from depth_motion_ros.training.config import config_from_dict, read_config_mapping
from depth_motion_ros.training.refined_poses import with_refined_camera_motion
from depth_motion_ros.training.trainer import Trainer

from test_training import tiny_config, tiny_run  # noqa: F401 (fixture)


def _network_motion(depth: torch.Tensor) -> MotionOutput:
    """A motion network's output that is about 0.6 degrees and 4 cm off the true motion."""
    rotation = (TRUE_ROTATION + torch.tensor([0.006, 0.008, -0.004]))[None].requires_grad_(True)
    translation = (TRUE_TRANSLATION + torch.tensor([-0.02, 0.015, 0.03]))[None].requires_grad_(True)
    field = torch.zeros(1, 3, *depth.shape[-2:], requires_grad=True)
    return MotionOutput(rotation, translation, K.clone().requires_grad_(True), field)


def test_the_losses_get_the_true_motion_as_a_constant_and_keep_the_other_outputs(pair):  # noqa: F811
    image1, depth1, image2 = pair
    motion = _network_motion(depth1)
    refined = with_refined_camera_motion(motion, image1, depth1.requires_grad_(True), image2, K, ["full"])
    assert torch.linalg.norm(refined.rotation[0] - TRUE_ROTATION) < 1e-3
    assert torch.linalg.norm(refined.translation[0] - TRUE_TRANSLATION) < 0.005
    assert not refined.rotation.requires_grad and not refined.translation.requires_grad
    assert refined.intrinsics is motion.intrinsics and refined.residual_translation is motion.residual_translation


def test_mode_none_hands_the_network_motion_through_with_its_gradient(pair):  # noqa: F811
    image1, depth1, image2 = pair
    motion = _network_motion(depth1)
    assert with_refined_camera_motion(motion, image1, depth1, image2, K, ["none"]) is motion


def test_modes_apply_per_pair_and_only_unrefined_pairs_pass_a_gradient(pair):  # noqa: F811
    image1, depth1, image2 = pair
    network = _network_motion(depth1)
    motion = MotionOutput(network.rotation.detach().repeat(3, 1).requires_grad_(True),
                          network.translation.detach().repeat(3, 1).requires_grad_(True),
                          K.repeat(3, 1, 1), network.residual_translation.detach().repeat(3, 1, 1, 1))
    three = [t.repeat(3, 1, 1, 1) for t in (image1, depth1, image2)]
    refined = with_refined_camera_motion(motion, *three, K.repeat(3, 1, 1), ["full", "none", "rotation"])
    assert torch.linalg.norm(refined.translation[0].detach() - TRUE_TRANSLATION) < 0.005
    assert torch.equal(refined.rotation[1], motion.rotation[1]) and torch.equal(refined.translation[1],
                                                                                motion.translation[1])
    # "rotation" keeps the network's translation, turned with the rotation's update (same length).
    assert torch.linalg.norm(refined.translation[2]).item() == pytest.approx(
        torch.linalg.norm(motion.translation[2]).item(), rel=1e-5)
    assert torch.linalg.norm(refined.rotation[2].detach() - TRUE_ROTATION) < torch.linalg.norm(
        motion.rotation[2].detach() - TRUE_ROTATION)
    (refined.rotation.sum() + refined.translation.sum()).backward()
    assert motion.rotation.grad[:, 0].tolist() == [0.0, 1.0, 0.0]
    assert motion.translation.grad[:, 0].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="2 refinement modes for 3 pairs"):
        with_refined_camera_motion(motion, *three, K.repeat(3, 1, 1), ["full", "none"])


def _with(config, **changes):
    content = config.to_dict()
    for key, value in changes.items():
        if isinstance(value, dict):
            content[key] = {**content[key], **value}
        else:
            content[key] = value
    return config_from_dict(content)


def test_config_refuses_refinement_while_ego_motion_trains_and_names_the_stage_flags_replacement():
    config = tiny_config()
    with pytest.raises(ValueError, match="leave ego_motion out of optim.train"):
        _with(config, pose_refinement="full")
    with pytest.raises(ValueError, match="pose_refinement must be one of"):
        _with(config, pose_refinement="bundle", optim={"train": ["depth"]})
    replaced = r"optim.freeze_motion was replaced by optim.train: write `train: \['depth'\]`"
    with pytest.raises(ValueError, match=replaced):
        _with(config, optim={"freeze_motion": True})
    with pytest.raises(ValueError, match="distinct groups"):
        _with(config, optim={"train": ["depth", "pose"]})
    recipe = read_config_mapping("light")
    recipe.update(pose_refinement="rotation", optim={**recipe["optim"], "train": ["depth"]})
    assert config_from_dict(recipe).pose_refinement == "rotation"


def _one_step_checkpoint(spec, tmp):
    """A checkpoint of a tiny model after one step: the --init-from a frozen motion network needs."""
    Trainer(tiny_config().with_max_steps(1), [spec], tmp / "start", device="cpu", cache_dir=tmp / "cache").run()
    return (tmp / "start" / "checkpoints" / "last.pt").rename(tmp / "start.pt")


def _record_refinements(monkeypatch) -> list[list[str]]:
    """The modes of every batch the trainer refines from now on (the refinement itself still runs)."""
    calls = []
    real_refinement = trainer_module.with_refined_camera_motion

    def recording(motion, rgb1, depth1, rgb2, intrinsics, modes):
        calls.append(list(modes))
        return real_refinement(motion, rgb1, depth1, rgb2, intrinsics, modes)

    monkeypatch.setattr(trainer_module, "with_refined_camera_motion", recording)
    return calls


@pytest.mark.parametrize("both_orders", [True, False])
def test_a_depth_stage_with_refinement_trains_the_depth_network_only(tiny_run, monkeypatch, both_orders):  # noqa: F811
    config, spec, tmp = tiny_run
    config = _with(config, pose_refinement="full", optim={"train": ["depth"]},
                   reverse_motion="predicted" if both_orders else "inverted")
    with pytest.raises(ValueError, match="--init-from"):  # a frozen random motion network is never wanted
        Trainer(config, [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache")
    start = _one_step_checkpoint(spec, tmp)
    refined_batches = _record_refinements(monkeypatch)
    trainer = Trainer(config.with_max_steps(2), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache",
                      init_from=start)
    depth_before = {k: v.clone() for k, v in trainer.model.depth_net.state_dict().items()}
    motion_before = {k: v.clone() for k, v in trainer.model.motion_net.state_dict().items()}
    trainer.run()
    pairs_per_step = 2 * config.optim.batch_size if both_orders else config.optim.batch_size
    training_calls = [modes for modes in refined_batches if len(modes) == pairs_per_step and set(modes) == {"full"}]
    assert len(training_calls) >= 2  # every step; validation batches are refined as well
    assert all(set(modes) == {"full"} for modes in refined_batches)
    for name, value in trainer.model.motion_net.state_dict().items():
        assert torch.equal(value, motion_before[name]), name
    changed = [name for name, value in trainer.model.depth_net.state_dict().items()
               if not torch.equal(value, depth_before[name])]
    assert {"depth_head.conv.weight", "encoder.stem.0.weight"} <= set(changed), changed


def test_a_source_s_own_refinement_overrides_the_config_s(tiny_run, monkeypatch):  # noqa: F811
    config, spec, tmp = tiny_run
    indoor = dataclasses.replace(spec, pose_refinement="full")
    with pytest.raises(ValueError, match="leave ego_motion out of optim.train"):
        Trainer(config, [indoor, spec], tmp / "refused", device="cpu", cache_dir=tmp / "cache")
    start = _one_step_checkpoint(spec, tmp)
    refined_batches = _record_refinements(monkeypatch)
    config = _with(config, optim={"train": ["depth"]})  # the config's own pose_refinement stays "none"
    result = Trainer(config.with_max_steps(3), [indoor, spec], tmp / "run", device="cpu", cache_dir=tmp / "cache",
                     init_from=start).run()
    assert {mode for modes in refined_batches for mode in modes} == {"full", "none"}
    sources = load_checkpoint(result.last_checkpoint).metadata["sources"]
    assert [source["pose_refinement"] for source in sources] == ["full", None]  # the card can say so


def test_the_trainer_config_round_trips_the_new_fields(tiny_run):  # noqa: F811
    config, _, _ = tiny_run
    config = _with(config, pose_refinement="rotation", optim={"train": ["depth"]})
    assert dataclasses.asdict(config_from_dict(config.to_dict())) == dataclasses.asdict(config)
