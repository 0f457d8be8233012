"""The ladder's scorer (training/ladder.py) on a rendered world: known answers where the ground truth is given."""
from __future__ import annotations

import pytest

from depth_motion_ros.checkpoint import save_checkpoint
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.synthetic.synth_cli import main as synth_main
from depth_motion_ros.training.config import GivenGroundTruth
from depth_motion_ros.training.ladder import score


@pytest.fixture(scope="module")
def world_and_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ladder")
    assert synth_main(["--world", "street", "--out", str(folder / "street"), "--width", "128", "--height", "64",
                       "--frames", "8", "--seed", "5"]) == 0
    model = DepthMotionModel(PRESETS["light"].replace(input_height=64, input_width=128))
    save_checkpoint(folder / "model.pt", model, {"step": 0})
    return folder / "street", folder / "model.pt"


def test_given_ego_motion_scores_as_exact_and_standing_still_does_not(world_and_model):
    street, checkpoint = world_and_model
    report = score(checkpoint, [street], GivenGroundTruth(depth=True, ego_motion=True))
    figures = report["sequences"][str(street)]
    assert figures["pairs"] == 7
    assert figures["rpe_rotation_deg"] == pytest.approx(0.0, abs=1e-6)
    assert figures["snippet_ate_m"] == pytest.approx(0.0, abs=1e-6)
    assert figures["snippet_ate_still_m"] > 0.1  # the street camera moves
    assert "depth_abs_rel" not in figures  # given depth is not scored
    assert {"mover_iou", "relative_epe", "static_flagged"} <= set(report["object_motion"])


def test_an_untrained_model_is_scored_on_everything(world_and_model):
    street, checkpoint = world_and_model
    figures = score(checkpoint, [street], GivenGroundTruth())["sequences"][str(street)]
    assert figures["depth_abs_rel"] > 0.0 and figures["snippet_ate_m"] > 0.0
    assert figures["rpe_rotation_still_deg"] >= 0.0
