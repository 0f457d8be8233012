"""Known answers for the derived reverse motion (training/motion_inversion.py) and its use in training."""
from __future__ import annotations

import math

import pytest
import torch

from depth_motion_ros.geometry import axis_angle_to_matrix
from depth_motion_ros.networks import MotionOutput
from depth_motion_ros.training import trainer as trainer_module
from depth_motion_ros.training.config import config_from_dict
from depth_motion_ros.training.motion_inversion import invert_residual_field, invert_rigid_motion, with_inverted_reverse
from depth_motion_ros.training.trainer import Trainer, TrainingForward

from test_training import tiny_run  # noqa: F401  (fixture)

H, W = 12, 16


def intrinsics(batch: int = 1) -> torch.Tensor:
    k = torch.tensor([[20.0, 0.0, (W - 1) / 2], [0.0, 20.0, (H - 1) / 2], [0.0, 0.0, 1.0]])
    return k.expand(batch, 3, 3).clone()


def test_inverted_rigid_motion_takes_every_point_back():
    rotation = torch.tensor([[0.1, -0.2, 0.05], [0.0, 0.3, 0.0]])
    translation = torch.tensor([[0.3, -0.1, 1.2], [-0.5, 0.0, 0.2]])
    points = torch.randn(2, 3, 7)
    moved = axis_angle_to_matrix(rotation) @ points + translation[:, :, None]
    inverse_rotation, inverse_translation = invert_rigid_motion(rotation, translation)
    back = axis_angle_to_matrix(inverse_rotation) @ moved + inverse_translation[:, :, None]
    torch.testing.assert_close(back, points, atol=1e-5, rtol=0)


def test_inverting_twice_is_the_identity():
    rotation, translation = torch.tensor([[0.2, 0.1, -0.3]]), torch.tensor([[1.0, 2.0, -0.5]])
    twice = invert_rigid_motion(*invert_rigid_motion(rotation, translation))
    torch.testing.assert_close(twice[0], rotation)
    torch.testing.assert_close(twice[1], translation, atol=1e-6, rtol=0)


def test_a_uniform_object_motion_reverses_to_its_rotated_opposite():
    """A field that is the same everywhere needs no look-up: the reverse is -R^T r at every pixel."""
    rotation = torch.tensor([[0.0, math.radians(5.0), 0.0]])
    translation = torch.tensor([[0.05, 0.0, 0.2]])
    r = torch.tensor([0.3, -0.1, 0.4])
    field = r[None, :, None, None].expand(1, 3, H, W).clone()
    reverse = invert_residual_field(field, *invert_rigid_motion(rotation, translation), torch.full((1, 1, H, W), 5.0),
                                    intrinsics())
    expected = -(axis_angle_to_matrix(rotation)[0].T @ r)
    torch.testing.assert_close(reverse, expected[None, :, None, None].expand(1, 3, H, W), atol=1e-6, rtol=0)


def test_the_field_is_carried_to_where_the_object_is_in_frame_two():
    """Pure sideways camera motion at a known depth shifts the image by a known number of pixels: an
    object marked in frame 1's field must appear that many pixels over in the reverse field."""
    depth, focal, shift_px = 4.0, 20.0, 3
    translation = torch.tensor([[-shift_px * depth / focal, 0.0, 0.0]])  # points move left: image shifts 3 px left
    field = torch.zeros(1, 3, H, W)
    field[0, 2, 5, 10] = 1.0  # an object at (x=10, y=5) in frame 1 moves 1 unit along z
    reverse = invert_residual_field(field, *invert_rigid_motion(torch.zeros(1, 3), translation),
                                    torch.full((1, 1, H, W), depth), intrinsics())
    assert reverse[0, 2, 5, 10 - shift_px] == pytest.approx(-1.0, abs=1e-5)
    assert reverse[0, 2].abs().sum() == pytest.approx(1.0, abs=1e-5)


def test_stacked_output_keeps_the_forward_half_and_appends_the_inverse():
    forward = MotionOutput(torch.tensor([[0.1, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]]), intrinsics(),
                           torch.zeros(1, 3, H, W))
    stacked = with_inverted_reverse(forward, torch.ones(1, 1, H, W), intrinsics())
    assert stacked.rotation.shape == (2, 3) and stacked.residual_translation.shape == (2, 3, H, W)
    torch.testing.assert_close(stacked.rotation[1], -forward.rotation[0])
    torch.testing.assert_close(stacked.intrinsics[1], forward.intrinsics[0])
    expected_t = -(axis_angle_to_matrix(forward.rotation)[0].T @ forward.translation[0])
    torch.testing.assert_close(stacked.translation[1], expected_t)


def test_inverted_mode_runs_the_motion_network_on_temporal_order_only(tiny_run, monkeypatch):  # noqa: F811
    config, spec, tmp = tiny_run
    content = config.to_dict()
    content["reverse_motion"] = "inverted"
    config = config_from_dict(content)
    assert config.reverse_motion == "inverted"
    seen_batches = []
    original = TrainingForward.forward

    def spy(self, rgb1, rgb2, given_depth=None):
        depth, partner, motion = original(self, rgb1, rgb2, given_depth)
        seen_batches.append((len(rgb1), len(motion.rotation)))
        return depth, partner, motion

    monkeypatch.setattr(trainer_module.TrainingForward, "forward", spy)
    result = Trainer(config, [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache").run()
    assert result.step == 4 and result.skipped_nonfinite == 0
    assert seen_batches and all(pairs == motions for pairs, motions in seen_batches)
    content["reverse_motion"] = "guessed"
    with pytest.raises(ValueError, match="reverse_motion"):
        config_from_dict(content)
