"""Object-motion metrics with known answers, their pairing in the evaluation, and the eval CLI on a rendered street."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from depth_motion_ros.evaluation import EvaluationSettings, evaluate_sequence
from depth_motion_ros.evaluation.eval_cli import main as eval_main
from depth_motion_ros.evaluation.evaluator import format_report
from depth_motion_ros.evaluation.object_motion import ObjectMotionTotals
from depth_motion_ros.sources import SourceError
from depth_motion_ros.sources.sequence_folder import SequenceFolderSource
from depth_motion_ros.synthetic import writers
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene


def one_mover(height: int = 8, width: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A 3x4 block moving 0.5 m sideways; everything else static; every pixel has depth."""
    truth = np.zeros((height, width, 3), dtype=np.float32)
    truth[2:5, 3:7] = (0.5, 0.0, 0.0)
    return truth, np.ones((height, width), dtype=bool)


def scores_of(predicted: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    truth, valid = one_mover()
    totals = ObjectMotionTotals()
    totals.add(predicted, truth, valid, scale)
    return totals.scores()


def test_the_true_field_scores_perfectly_and_a_zero_field_scores_one() -> None:
    truth, _ = one_mover()
    assert scores_of(truth) == {"pairs": 1.0, "moving_pixels": 12.0, "mover_iou": 1.0, "relative_epe": 0.0,
                                "static_flagged": 0.0}
    zero = scores_of(np.zeros_like(truth))
    assert zero["mover_iou"] == 0.0 and zero["relative_epe"] == 1.0 and zero["static_flagged"] == 0.0


def test_the_field_is_scaled_like_the_depth_before_it_is_compared() -> None:
    truth, _ = one_mover()
    assert scores_of(truth / 4, scale=4.0)["relative_epe"] == pytest.approx(0.0)
    half = scores_of(truth / 2)
    assert half["relative_epe"] == pytest.approx(0.5) and half["mover_iou"] == 1.0  # 0.25 m is above 0.1 m


def test_false_motion_on_static_pixels_is_counted() -> None:
    truth, _ = one_mover()
    predicted = truth.copy()
    predicted[6:8, :] = (0.0, 0.0, 0.3)  # 20 static pixels flagged
    scores = scores_of(predicted)
    assert scores["static_flagged"] == pytest.approx(20 / 68)
    assert scores["mover_iou"] == pytest.approx(12 / 32) and scores["relative_epe"] == 0.0


def test_a_coarser_field_is_upsampled_by_nearest_neighbour() -> None:
    truth, valid = one_mover(8, 10)
    coarse = np.zeros((4, 5, 3), dtype=np.float32)
    coarse[1:2, 2:3] = (0.5, 0.0, 0.0)  # covers rows 2-3, columns 4-5 at full size
    totals = ObjectMotionTotals()
    totals.add(coarse, truth, valid, 1.0)
    assert totals.scores()["mover_iou"] == pytest.approx(4 / 12)


def test_pixels_without_ground_truth_depth_are_not_scored() -> None:
    truth, valid = one_mover()
    valid[2:5, 3:7] = False
    totals = ObjectMotionTotals()
    totals.add(np.zeros_like(truth), truth, valid, 1.0)
    assert totals.scores() == {"pairs": 1.0, "moving_pixels": 0.0, "static_flagged": 0.0}


PARAMS = SceneParams(width=64, height=32, frames=5, movers=3, seed=3, mover_speed=8.0)


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("street") / "seq"
    writers.write_scene(make_street_scene(PARAMS), folder, None)
    return folder


class Oracle:
    """Exact depth and field, each frame in its own unit: depth divided by (index + 1), the field of a pair in
    the unit of the frame `unit` names, so only the first frame's unit makes it exact."""

    def __init__(self, unit: str) -> None:
        self.unit = unit

    def predict_depth(self, frame):
        return np.nan_to_num(frame.depth, nan=200.0) / (frame.index + 1)

    def predict_motion(self, previous, current):
        return None

    def predict_intrinsics(self, previous, current):
        return None

    def predict_object_motion(self, previous, current):
        return previous.object_motion / ((previous if self.unit == "previous" else current).index + 1)


def test_a_pair_is_scored_against_its_first_frame_in_that_frame_s_scale(street: Path) -> None:
    frames = list(SequenceFolderSource(street))
    assert sum(np.linalg.norm(frame.object_motion, axis=-1).max() > 0.1 for frame in frames[:-1]) >= 3
    right = evaluate_sequence(frames, Oracle("previous"), EvaluationSettings()).object_motion
    assert right["pairs"] == 4 and right["relative_epe"] == pytest.approx(0.0, abs=1e-6)
    assert right["mover_iou"] == pytest.approx(1.0) and right["static_flagged"] == 0.0
    wrong = evaluate_sequence(frames, Oracle("current"), EvaluationSettings()).object_motion
    assert wrong["relative_epe"] > 0.2  # the second frame's unit shrinks the field by 1/2 ... 4/5


def test_a_motion_file_of_the_wrong_shape_is_a_source_error(street: Path, tmp_path: Path) -> None:
    import shutil
    copy = tmp_path / "seq"
    shutil.copytree(street, copy)
    np.save(copy / "motion" / "000001.npy", np.zeros((32, 64), dtype=np.float32))
    with pytest.raises(SourceError, match="not \\[H, W, 3\\]"):
        list(SequenceFolderSource(copy))


def test_eval_cli_reports_object_motion_on_a_rendered_street(street: Path, tmp_path: Path) -> None:
    from depth_motion_ros.checkpoint import save_checkpoint
    from depth_motion_ros.model_config import ModelConfig
    from depth_motion_ros.networks.model import DepthMotionModel

    checkpoint = tmp_path / "tiny.pt"
    config = ModelConfig(name="tiny", input_height=32, input_width=64, depth_width_multiplier=0.25,
                         motion_width_multiplier=0.25)
    save_checkpoint(checkpoint, DepthMotionModel(config), {"steps": 0})
    out = tmp_path / "metrics.json"
    assert eval_main(["--checkpoint", str(checkpoint), "--device", "cpu", "--sequence", str(street),
                      "--motion-threshold", "0.2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["object_motion"]["pairs"] == PARAMS.frames - 1 and result["settings"]["motion_threshold"] == 0.2
    assert 0.0 <= result["object_motion"]["relative_epe"] and 0.0 <= result["object_motion"]["static_flagged"] <= 1.0
    assert set(result["object_motion"]["by_kind"]) <= {"crossing", "oncoming", "turning", "parallel", "pedestrian"}
    baseline = tmp_path / "still.json"
    assert eval_main(["--baseline", "still", "--sequence", str(street), "--json", str(baseline)]) == 0
    assert json.loads(baseline.read_text())["object_motion"] == {}


def test_figures_split_by_mover_kind_with_the_flag_everything_prior() -> None:
    truth, valid = one_mover()                       # 12 pixels of a crossing mover, 68 static
    truth[6:8, 0:2] = (0.0, 0.0, 0.4)                # 4 pixels of a pedestrian
    kinds = np.full(truth.shape[:2], "", dtype=object)
    kinds[2:5, 3:7] = "crossing"
    kinds[6:8, 0:2] = "pedestrian"
    predicted = np.zeros_like(truth)
    predicted[2:5, 3:7] = truth[2:5, 3:7]            # the crossing mover exactly, the pedestrian missed,
    predicted[0, :] = (0.3, 0.0, 0.0)                # and 10 static pixels flagged
    totals = ObjectMotionTotals()
    totals.add(predicted, truth, valid, 1.0, kinds=kinds)
    by_kind = totals.scores()["by_kind"]
    assert by_kind["crossing"] == {"moving_pixels": 12.0, "mover_iou": pytest.approx(12 / 22),
                                   "mover_iou_flag_all": pytest.approx(12 / 76), "relative_epe": 0.0}
    assert by_kind["pedestrian"] == {"moving_pixels": 4.0, "mover_iou": 0.0,
                                     "mover_iou_flag_all": pytest.approx(4 / 68), "relative_epe": 1.0}
    assert totals.scores()["static_flagged"] == pytest.approx(10 / 64)


def test_the_evaluation_splits_a_rendered_street_by_the_recorded_mover_kinds(street: Path) -> None:
    frames = SequenceFolderSource(street)
    report = evaluate_sequence(frames, Oracle("previous"), EvaluationSettings())
    by_kind = report.object_motion["by_kind"]
    meta_kinds = {row["kind"] for row in yaml.safe_load((street / "meta.yaml").read_text())["movers"]}
    assert set(by_kind) <= meta_kinds and len(by_kind) >= 2
    assert sum(k["moving_pixels"] for k in by_kind.values()) == report.object_motion["moving_pixels"]
    for figures in by_kind.values():
        assert figures["relative_epe"] == pytest.approx(0.0, abs=1e-6) and 0 < figures["mover_iou_flag_all"] < 0.5
    text = format_report(report)
    assert "by mover kind" in text and all(kind in text for kind in by_kind)
    plain = evaluate_sequence(list(frames), Oracle("previous"), EvaluationSettings())
    assert "by_kind" not in plain.object_motion, "without the folder's labels there is no split"
