"""Learned-intrinsics metrics (evaluation/intrinsics.py) and their path through `evaluate_sequence`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.evaluation import evaluate_sequence, format_report
from depth_motion_ros.evaluation.intrinsics import IntrinsicsTotals, intrinsics_errors
from depth_motion_ros.evaluation.model_predictor import ModelFramePredictor
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks import MotionOutput
from depth_motion_ros.predictors import PredictorBase
from depth_motion_ros.sources.frame import Frame

HEIGHT, WIDTH = 480, 640
TRUE_K = np.array([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])


def test_known_errors_of_one_camera_matrix() -> None:
    predicted = np.array([[550.0, 0.0, 352.0], [0.0, 360.0, 216.0], [0.0, 0.0, 1.0]])
    errors = intrinsics_errors(predicted, TRUE_K, (HEIGHT, WIDTH))
    assert errors["fx_rel_error"] == pytest.approx(0.1) and errors["fy_rel_error"] == pytest.approx(0.1)
    assert errors["focal_rel_error"] == pytest.approx(0.1)
    assert errors["cx_rel_error"] == pytest.approx(32 / 640) and errors["cy_rel_error"] == pytest.approx(24 / 480)
    assert intrinsics_errors(TRUE_K, TRUE_K, (HEIGHT, WIDTH))["focal_rel_error"] == 0.0


def test_totals_average_pairs_and_count_a_non_finite_prediction_as_fully_wrong() -> None:
    totals = IntrinsicsTotals()
    assert totals.scores() == {}
    totals.add(TRUE_K, TRUE_K, (HEIGHT, WIDTH))
    totals.add(np.full((3, 3), np.nan), TRUE_K, (HEIGHT, WIDTH))
    scores = totals.scores()
    assert scores["pairs"] == 2.0 and scores["focal_rel_error"] == pytest.approx(0.5)
    assert scores["cx_rel_error"] == pytest.approx(0.5)


class _FocalScaled:
    """Learns the true camera with both focal lengths scaled by `factor`; no depth or motion."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict_depth(self, frame):
        return None

    def predict_motion(self, previous, current):
        return None

    def predict_object_motion(self, previous, current):
        return None

    def predict_intrinsics(self, previous, current):
        learned = current.intrinsics.copy()
        learned[0, 0] *= self.factor
        learned[1, 1] *= self.factor
        return learned


def _frames(count: int, calibrated: bool = True) -> list[Frame]:
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    return [Frame(index=i, timestamp=0.1 * i, rgb=rgb, intrinsics=TRUE_K.copy() if calibrated else None)
            for i in range(count)]


def test_evaluate_sequence_scores_every_pair_of_calibrated_frames_only() -> None:
    report = evaluate_sequence(_frames(4), _FocalScaled(1.25))
    assert report.intrinsics["pairs"] == 3.0 and report.intrinsics["focal_rel_error"] == pytest.approx(0.25)
    assert "learned intrinsics (3 pairs" in format_report(report)
    assert evaluate_sequence(_frames(4, calibrated=False), _FocalScaled(1.25)).intrinsics == {}


class _FixedNetwork(PredictorBase):
    """A predictor at a 96 x 160 input whose motion network always learns `K_input`."""

    def __init__(self, k_input: np.ndarray) -> None:
        super().__init__(PRESETS["light"].replace(input_height=96, input_width=160), torch.device("cpu"), None)
        self.k_input = torch.as_tensor(k_input, dtype=torch.float32)[None]

    def network_depth(self, image):
        return torch.ones(1, 1, *self.input_size)

    def motion(self, image1, depth1, image2, depth2):
        return MotionOutput(torch.zeros(1, 3), torch.zeros(1, 3), self.k_input, torch.zeros(1, 3, *self.input_size))


def test_the_model_s_learned_matrix_is_rescaled_to_the_frame_size_with_square_pixels() -> None:
    square = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    # That camera at 480 x 640 is this at 96 x 160 (x / 4, y / 5, pixel centres kept), but with fy guessed 10 %
    # short: the network cannot see the 4:3 aspect ratio in its 160 x 96 input.
    k_input = np.array([[125.0, 0.0, 79.625], [0.0, 0.9 * 100.0, 47.6], [0.0, 0.0, 1.0]])
    frames = [Frame(index=i, timestamp=0.1 * i, rgb=np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8),
                    intrinsics=square) for i in range(2)]
    learned = ModelFramePredictor(_FixedNetwork(k_input)).predict_intrinsics(frames[0], frames[1])
    np.testing.assert_allclose(learned, square, atol=1e-4)
