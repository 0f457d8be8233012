"""`depth_motion_eval` end to end: the README's trivial-baseline figures, and a tiny untrained checkpoint."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from depth_motion_ros.checkpoint import default_checkpoint_path
from depth_motion_ros.evaluation import EvaluationSettings, evaluate_predictions
from depth_motion_ros.evaluation.eval_cli import main


def run_eval(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "metrics.json"
    assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


# The figures of ../shared/data/README.md ("Trivial baselines"), measured with the owners' convention.
@pytest.mark.parametrize("baseline, abs_rel, a1", [("constant", 0.398, 0.274), ("ramp", 0.179, 0.694)])
def test_depth_baselines_reproduce_the_readme_on_7scenes(shared_data: Path, tmp_path: Path, baseline: str,
                                                        abs_rel: float, a1: float) -> None:
    result = run_eval(tmp_path, "--baseline", baseline, "--sequence", str(shared_data / "7scenes_redkitchen"),
                      "--start", "800", "--end", "1000", "--max-depth", "10")
    assert result["frames"] == 200 and result["depth_images"] == 200
    assert round(result["depth"]["abs_rel"], 3) == abs_rel and round(result["depth"]["a1"], 3) == a1
    assert result["snippet_ate"] is None, "a depth prior makes no odometry claim"


# Standing still: the README's figures. Constant forward motion: the odometry prior a model must also beat,
# measured once with the same code (docs/decisions/constant-forward-prior.md).
@pytest.mark.parametrize("baseline, sequence, start, end, ate", [
    ("still", "7scenes_redkitchen", "800", "1000", 0.0161), ("still", "kitti_odometry_03", "641", "801", 1.170),
    ("forward", "7scenes_redkitchen", "800", "1000", 0.0136), ("forward", "kitti_odometry_03", "641", "801", 0.0291)])
def test_motion_baselines_reproduce_their_snippet_ate(shared_data: Path, tmp_path: Path, baseline: str, sequence: str,
                                                      start: str, end: str, ate: float) -> None:
    result = run_eval(tmp_path, "--baseline", baseline, "--sequence", str(shared_data / sequence),
                      "--start", start, "--end", end)
    assert result["snippets"] == result["frames"] - 4
    assert round(result["snippet_ate"], 4 if ate < 0.1 else 3) == ate
    assert result["depth"] == {}


def test_evaluate_predictions_scores_ground_truth_as_perfect() -> None:
    rng = np.random.default_rng(0)
    gt_depths = [rng.uniform(1, 5, size=(6, 8)) for _ in range(6)]
    gt_poses = [np.eye(4) for _ in range(6)]
    for k, pose in enumerate(gt_poses):
        pose[:3, 3] = [0.1 * k, 0.0, 0.3 * k * k]
    report = evaluate_predictions([d * 7 for d in gt_depths], gt_depths, np.stack(gt_poses) * 1.0, gt_poses)
    assert report.depth_images == 6 and report.depth["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert report.median_scale == pytest.approx(1 / 7)
    assert report.snippets == 2 and report.snippet_ate == pytest.approx(0.0, abs=1e-9)
    assert report.trajectory_ate == pytest.approx(0.0, abs=1e-9)


def test_metric_predictions_are_scored_without_alignment() -> None:
    gt_poses = [np.eye(4) for _ in range(6)]
    for k, pose in enumerate(gt_poses):
        pose[:3, 3] = [0.0, 0.0, 0.8 * k]
    pred_poses = np.stack(gt_poses).copy()
    pred_poses[:, :3, 3] *= 1.2
    metric = evaluate_predictions([None] * 6, [None] * 6, pred_poses, gt_poses,
                                  EvaluationSettings(metric=True)).metric_odometry
    assert metric["steps"] == 5 and metric["step_ratio_median"] == pytest.approx(1.2)
    assert metric["path_length_ratio"] == pytest.approx(1.2)
    assert evaluate_predictions([None] * 6, [None] * 6, pred_poses, gt_poses).metric_odometry == {}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from depth_motion_ros.checkpoint import save_checkpoint
    from depth_motion_ros.model_config import ModelConfig
    from depth_motion_ros.networks.model import DepthMotionModel

    config = ModelConfig(name="tiny", input_height=64, input_width=96, depth_width_multiplier=0.25,
                         motion_width_multiplier=0.25)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, DepthMotionModel(config), {"steps": 0})
    return path


def _finite(*values: float) -> bool:
    return all(value is not None and math.isfinite(value) for value in values)


def test_checkpoint_on_a_sequence_folder(shared_data: Path, tmp_path: Path, tiny_checkpoint: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    result = run_eval(tmp_path, "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
                      "--sequence", str(shared_data / "7scenes_redkitchen"), "--start", "800", "--end", "806",
                      "--max-depth", "10")
    assert result["frames"] == 6 and result["depth_images"] == 6 and result["snippets"] == 2
    assert _finite(*result["depth"].values(), result["snippet_ate"], result["trajectory_ate"],
                   result["rpe_translation"], result["rpe_rotation_deg"])
    assert result["subject"].startswith("checkpoint") and result["settings"]["max_depth"] == 10.0
    assert "snippet ATE (5 frames, 2 snippets)" in capsys.readouterr().out
    # The setting and the learned intrinsics' errors against the calibration are both recorded.
    assert result["intrinsics_source"] == "auto" and isinstance(result["intrinsics"], dict)


def test_checkpoint_on_a_bag(shared_data: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    result = run_eval(tmp_path, "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
                      "--bag", str(shared_data / "bags" / "7scenes_redkitchen_25f_ros2_mcap"), "--end", "5",
                      "--max-depth", "10")
    assert result["frames"] == 5 and result["depth_images"] == 5 and result["snippets"] == 1
    assert _finite(result["depth"]["abs_rel"], result["snippet_ate"])


def test_camera_height_switches_the_protocol_to_metric(shared_data: Path, tmp_path: Path,
                                                               tiny_checkpoint: Path) -> None:
    result = run_eval(tmp_path, "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--camera-height", "1.65",
                      "--sequence", str(shared_data / "kitti_odometry_03"), "--start", "641", "--end", "651")
    assert result["camera_height"] == 1.65 and result["settings"]["metric"]
    assert not result["settings"]["median_scaling"], "metric depth is scored as it is"
    assert 0 <= result["frames_without_scale"] <= 10 and result["metric_odometry"]["steps"] == 9
    with pytest.raises(SystemExit):
        main(["--baseline", "still", "--camera-height", "1.65", "--sequence", str(shared_data / "kitti_odometry_03")])


def test_online_adaptation_is_recorded_and_needs_a_torch_checkpoint(shared_data: Path, tmp_path: Path,
                                                                    tiny_checkpoint: Path) -> None:
    sequence = str(shared_data / "7scenes_redkitchen")
    result = run_eval(tmp_path, "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--sequence", sequence,
                      "--start", "800", "--end", "806", "--max-depth", "10", "--online-adaptation",
                      "--adaptation-steps", "2", "--adaptation-min-parallax", "0")
    setting = result["online_adaptation"]
    assert setting["steps_per_frame"] == 2 and setting["learning_rate"] == 5e-5 and setting["min_parallax_deg"] == 0
    # Frames 802-805 each add two steps (a window of three frames holds the first pair at stride 2).
    assert setting["steps_taken"] == 8 and setting["steps_without_parallax"] == 0
    assert result["depth_images"] == 6 and _finite(result["depth"]["abs_rel"], result["snippet_ate"])
    checkpoint = ["--checkpoint", str(tiny_checkpoint)]
    for wrong in (["--baseline", "ramp", "--online-adaptation"],
                  [*checkpoint, "--backend", "onnx", "--online-adaptation"],
                  [*checkpoint, "--stride", "2", "--online-adaptation"], [*checkpoint, "--adaptation-steps", "3"]):
        with pytest.raises(SystemExit):
            main([*wrong, "--sequence", sequence])


def test_bad_topic_is_reported_without_a_traceback(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["--baseline", "still", "--bag", str(shared_data / "bags" / "euroc_v101_5f_ros2_mcap")])
    assert code == 2 and "/cam0/image_raw" in capsys.readouterr().err


def test_pose_refinement_of_the_bundled_model_lowers_its_rotation_error(shared_data: Path, tmp_path: Path) -> None:
    """On 60 real handheld frames, photometric refinement must improve the network's per-frame rotation."""
    common = ["--checkpoint", str(default_checkpoint_path()), "--device", "cpu", "--max-depth", "10",
              "--sequence", str(shared_data / "7scenes_redkitchen"), "--start", "40", "--end", "100"]
    network = run_eval(tmp_path, *common)
    refined = run_eval(tmp_path, *common, "--pose-refinement", "full")
    assert network["pose_refinement"] == "none" and refined["pose_refinement"] == "full"
    assert refined["depth"] == network["depth"]
    assert refined["rpe_rotation_deg"] < 0.9 * network["rpe_rotation_deg"]
