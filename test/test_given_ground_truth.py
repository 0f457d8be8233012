"""The ground-truth-given rungs of the diagnosis ladder: what the data carries, and what the trainer trains."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.training.augment import PairGeometry, geometry_of_map, mirror_rigid_motion
from depth_motion_ros.training.config import GivenGroundTruth, config_from_dict, read_config_mapping
from depth_motion_ros.training.data import FrameCache, PairDataset, PairIndex, SourceSpec, cache_size_for
from depth_motion_ros.training.trainer import Trainer

from test_training import sliding_texture_frames, tiny_config


def pose_at(x: float, yaw: float) -> np.ndarray:
    """Camera-to-world pose: camera at (x, 0, 0), turned by ``yaw`` about the optical y axis."""
    c, s = np.cos(yaw), np.sin(yaw)
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    pose[0, 3] = x
    return pose


def frames_with_truth(count: int, height: int, width: int) -> list[Frame]:
    """Frames with a depth map that increases to the right and known, changing poses."""
    depth = np.tile(np.linspace(2.0, 9.0, width, dtype=np.float32), (height, 1))
    depth[0, 0] = np.nan  # a pixel without surface
    return [dataclasses.replace(frame, depth=depth.copy(), pose=pose_at(0.1 * i, 0.02 * i))
            for i, frame in enumerate(sliding_texture_frames(count, height, width))]


def test_mirror_rigid_motion_maps_mirrored_points_as_the_motion_maps_the_points():
    motion = pose_at(0.3, 0.2) @ np.array([[1, 0, 0, 0], [0, 1, 0, 0.1], [0, 0, 1, 0.5], [0, 0, 0, 1.0]])
    point = np.array([0.4, -0.2, 3.0, 1.0])
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirror_rigid_motion(motion) @ (mirror @ point), mirror @ (motion @ point))


def test_ground_truth_map_follows_crop_resize_and_flip():
    values = np.arange(12 * 16, dtype=np.float32).reshape(12, 16)
    geometry = PairGeometry((4, 2, 8, 6), flip=False)
    np.testing.assert_array_equal(geometry_of_map(values, geometry, (6, 8)), values[2:8, 4:12])
    flipped = geometry_of_map(values, geometry._replace(flip=True), (6, 8))
    np.testing.assert_array_equal(flipped, values[2:8, 4:12][:, ::-1])
    halved = geometry_of_map(values, PairGeometry((0, 0, 16, 12), False), (6, 8))
    assert halved.shape == (6, 8) and set(halved.ravel()) <= set(values.ravel())  # nearest: no new values


def test_pair_dataset_gives_true_depth_and_camera_motion_of_each_pair(tmp_path):
    frames = frames_with_truth(6, 24, 32)
    cache = FrameCache.build(frames, tmp_path / "cache", (24, 32), name="truth")
    assert set(cache.poses) == set(range(6))
    pairs = PairIndex(np.array([[0, 1, 3]]))
    plain = PairDataset([cache], pairs, (24, 32), None, with_ground_truth=True)[0]
    expected = np.linalg.inv(frames[3].pose) @ frames[1].pose
    np.testing.assert_allclose(plain["given_motion"].numpy(), expected, atol=1e-6)
    depth = plain["given_depth1"][0].numpy()
    assert np.isnan(depth[0, 0]) and depth[5, 1] < depth[5, 30]
    # Augmented: the depth and the motion follow the sample's flip (the depth then decreases to the right).
    from depth_motion_ros.training.augment import AugmentConfig
    flips = []
    for seed in range(8):
        sample = PairDataset([cache], pairs, (16, 24), AugmentConfig(colour_jitter=0.0), seed=seed,
                             with_ground_truth=True)[0]
        depth = sample["given_depth2"][0].numpy()
        flipped = bool(depth[8, 1] > depth[8, 22])
        motion = mirror_rigid_motion(expected) if flipped else expected
        np.testing.assert_allclose(sample["given_motion"].numpy(), motion, atol=1e-6)
        flips.append(flipped)
    assert any(flips) and not all(flips)


def test_given_section_validates():
    assert not GivenGroundTruth().any
    content = read_config_mapping("light")
    content.update(given={"depth": True, "ego_motion": True})
    assert config_from_dict(content).given == GivenGroundTruth(True, True)
    with pytest.raises(ValueError, match="true or false"):
        GivenGroundTruth(depth="yes")  # type: ignore[arg-type]
    content.update(given={"ego_motion": True}, pose_refinement="full")
    content["optim"] = {**content["optim"], "train": ["depth"]}
    with pytest.raises(ValueError, match="given.ego_motion"):
        config_from_dict(content)


def _source_with_truth(tmp_path, config, frames) -> SourceSpec:
    spec = SourceSpec("sequence", str(tmp_path / "truth"))
    size = cache_size_for(config.model.input_size, config.data.cache_scale)
    FrameCache.build(frames, tmp_path / "cache" / spec.key(size), size, name="truth")
    return spec


def test_depth_and_ego_motion_given_train_only_the_motion_network_with_the_true_motion(tmp_path, monkeypatch):
    config = tiny_config(max_steps=3)
    config = dataclasses.replace(config, given=GivenGroundTruth(depth=True, ego_motion=True),
                                 schedule=dataclasses.replace(config.schedule, motion_field_burnin_steps=0))
    frames = frames_with_truth(16, 40, 80)
    spec = _source_with_truth(tmp_path, config, frames)
    trainer = Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache")
    depth_before = {k: v.clone() for k, v in trainer.model.depth_net.state_dict().items()}
    field_before = [p.clone() for p in trainer.model.motion_net.refinements.parameters()]
    seen = {}
    original = trainer._with_given_camera_motion

    def spy(motion, given):
        out = original(motion, given)
        seen["translation"], seen["given"] = out.translation.detach(), given
        return out
    monkeypatch.setattr(trainer, "_with_given_camera_motion", spy)
    result = trainer.run()
    assert result.step == 3
    for name, value in trainer.model.depth_net.state_dict().items():
        assert torch.equal(value, depth_before[name]), name
    field_after = list(trainer.model.motion_net.refinements.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(field_before, field_after, strict=True))
    batch = len(seen["given"])
    torch.testing.assert_close(seen["translation"][:batch], seen["given"][:, :3, 3])
    # The reverse direction is the exact inverse: R^T (-t).
    rotation = seen["given"][:, :3, :3]
    expected_reverse = -(rotation.transpose(1, 2) @ seen["given"][:, :3, 3:])[..., 0]
    torch.testing.assert_close(seen["translation"][batch:], expected_reverse)


def test_given_ground_truth_refuses_sources_without_it(tmp_path):
    config = dataclasses.replace(tiny_config(), given=GivenGroundTruth(ego_motion=True))
    spec = _source_with_truth(tmp_path, config, sliding_texture_frames(16, 40, 80))
    with pytest.raises(ValueError, match="no ground-truth poses"):
        Trainer(config, [spec], tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache")
