"""Depth metrics against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from depth_motion_ros.evaluation.metrics import (
    DEPTH_METRIC_NAMES,
    crop_mask,
    depth_errors,
    depth_metrics,
    mean_metrics,
    resize_depth,
)


def test_standard_errors_by_hand() -> None:
    gt = np.array([1.0, 2.0, 4.0])
    pred = np.array([1.0, 1.0, 2.0])
    errors = depth_errors(gt, pred)
    assert errors["abs_rel"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert errors["sq_rel"] == pytest.approx((0 + 1 / 2 + 4 / 4) / 3)
    assert errors["rmse"] == pytest.approx(math.sqrt((0 + 1 + 4) / 3))
    assert errors["rmse_log"] == pytest.approx(math.log(2) * math.sqrt(2 / 3))
    assert (errors["a1"], errors["a2"], errors["a3"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert set(errors) == set(DEPTH_METRIC_NAMES)


def test_thresholds_separate_ratios() -> None:
    gt = np.ones(4)
    pred = np.array([1.2, 1.5, 1.9, 2.5])  # ratios just under 1.25, 1.25^2 = 1.5625, 1.25^3 = 1.953
    errors = depth_errors(gt, pred)
    assert (errors["a1"], errors["a2"], errors["a3"]) == pytest.approx((0.25, 0.5, 0.75))


def test_median_scaling_removes_a_global_scale() -> None:
    gt = np.array([[1.0, 2.0], [3.0, 4.0]])
    scores = depth_metrics(gt * 0.2, gt, max_depth=10.0)
    assert scores["scale"] == pytest.approx(5.0)
    assert scores["abs_rel"] == pytest.approx(0.0, abs=1e-12) and scores["a1"] == 1.0
    unscaled = depth_metrics(gt * 0.5, gt, max_depth=10.0, median_scaling=False)
    assert unscaled["abs_rel"] == pytest.approx(0.5) and "scale" not in unscaled


def test_invalid_ground_truth_is_ignored_and_caps_apply() -> None:
    gt = np.array([[np.nan, 0.0, 2.0, 10.0, 10.5]])
    pred = np.array([[5.0, 5.0, 2.0, 10.0, 1.0]])
    scores = depth_metrics(pred, gt, max_depth=10.0, median_scaling=False)
    assert scores["abs_rel"] == pytest.approx(0.0), "NaN, 0 and beyond max_depth are excluded; max is inclusive"
    capped = depth_metrics(np.array([[1.0, 100.0]]), np.array([[1.0, 5.0]]), max_depth=10.0, median_scaling=False)
    assert capped["abs_rel"] == pytest.approx((0 + 5 / 5) / 2), "prediction clamped to max_depth (10) first"
    assert depth_metrics(pred, np.full((1, 5), np.nan)) is None


def test_prediction_is_resized_in_inverse_depth() -> None:
    resized = resize_depth(np.array([[1.0, 2.0]]), (1, 4))
    # Disparity [1, 0.5] resized linearly (pixel-centre aligned) -> [1, 0.875, 0.625, 0.5].
    assert resized[0] == pytest.approx([1.0, 1 / 0.875, 1 / 0.625, 2.0])
    gt = np.full((4, 6), 3.0)
    assert depth_metrics(np.full((2, 3), 1.0), gt)["abs_rel"] == pytest.approx(0.0)


def test_kitti_crops_cover_the_published_fractions() -> None:
    mask = crop_mask((100, 200), "garg")
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (40, 98, 7, 191)  # slice ends exclusive, as Monodepth2
    assert crop_mask((100, 200), None).all()
    gt = np.full((100, 200), 2.0)
    pred = np.full((100, 200), 2.0)
    pred[:40] = 50.0  # wrong only above the crop
    assert depth_metrics(pred, gt, crop="garg", median_scaling=False)["abs_rel"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="unknown crop"):
        crop_mask((10, 10), "top")


def test_sequence_score_is_the_mean_of_image_scores() -> None:
    rows = [dict.fromkeys(DEPTH_METRIC_NAMES, 0.1), dict.fromkeys(DEPTH_METRIC_NAMES, 0.3)]
    assert mean_metrics(rows) == pytest.approx(dict.fromkeys(DEPTH_METRIC_NAMES, 0.2))
    assert mean_metrics([]) == {}
