"""The bundled default model (`models/default_light.pt`): a release file with a model card that loads
safely, runs, and still moves forwards on a real drive."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import default_checkpoint_path, load_checkpoint
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.sources import open_source

SIZE_BUDGET_BYTES = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def bundled():
    path = default_checkpoint_path()
    assert path is not None and path.name == "default_light.pt", "models/default_light.pt is missing"
    return path


def test_the_release_file_is_within_budget_and_carries_its_model_card(bundled):
    assert bundled.stat().st_size <= SIZE_BUDGET_BYTES
    loaded = load_checkpoint(bundled)  # weights_only loading: no arbitrary objects
    assert loaded.training_state is None
    card = loaded.metadata["model_card"]
    assert card["steps"] == sum(stage["steps"] for stage in card["stages"]) > 0
    assert card["hardware"] and card["train_seconds"] > 0
    every_source = [source for stage in card["stages"] for source in stage["sources"]]
    assert every_source and all(source.get("licence") for source in every_source)
    assert {"val_7scenes", "val_kitti03"} <= set(card["evaluations"])
    assert card["model"]["input_height"] == loaded.config.input_height


def test_the_predictor_loads_it_by_default_and_gives_finite_positive_depth(bundled):
    predictor = DepthMotionPredictor.from_checkpoint(None, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = predictor.depth(predictor.prepare(rgb))
    assert depth.shape[-2:] == tuple(predictor.input_size)
    assert torch.isfinite(depth).all() and (depth > 0).all()


def test_it_moves_forwards_on_a_real_drive(bundled, shared_data):
    """KITTI 03 frames 300-340 (training frames): the camera drives forwards (optical z) on every pair. Before
    `reverse_motion: inverted` the sign of this came out random from pair to pair."""
    predictor = DepthMotionPredictor.from_checkpoint(None, device="cpu")
    frames = list(open_source("sequence", str(shared_data / "kitti_odometry_03"), start=300, end=341))
    images = [predictor.prepare(frame.rgb) for frame in frames]
    depths = [predictor.depth(image) for image in images]
    forward = [float(predictor.motion(images[i], depths[i], images[i + 1], depths[i + 1]).translation[0, 2]) < 0
               for i in range(len(images) - 1)]
    assert np.mean(forward) >= 0.95, forward


def test_the_camera_height_gives_metres_on_a_real_drive(bundled, shared_data):
    """KITTI 03 frames 300-340 (training frames), camera 1.65 m above the road: the ground-plane scale of the
    node's camera_height mode makes the distance travelled metric (0.87 of the truth per step when measured,
    2026-12-02; without it the model's unit is about 1/23 of a metre)."""
    from depth_motion_ros.evaluation import EvaluationSettings, evaluate_sequence
    from depth_motion_ros.evaluation.model_predictor import ModelFramePredictor

    frames = open_source("sequence", str(shared_data / "kitti_odometry_03"), start=300, end=341)
    predictor = ModelFramePredictor(DepthMotionPredictor.from_checkpoint(None, device="cpu"), camera_height=1.65)
    metric = evaluate_sequence(frames, predictor, EvaluationSettings(metric=True)).metric_odometry
    assert metric["steps"] == 40
    assert 0.7 <= metric["step_ratio_median"] <= 1.3 and 0.7 <= metric["path_length_ratio"] <= 1.3
