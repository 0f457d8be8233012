"""Learned-intrinsics metrics: the motion network's camera matrix against the recording's calibration.

The motion network predicts focal lengths and principal point for every pair, which is what lets the node
run on an uncalibrated camera (`intrinsics_source: learned`). How far they are from the truth matters for
every metric output: a focal length 20 % too short scales the point cloud's lateral extent and the
translation the odometry reads from parallax. Per pair, with K_pred at the frame's resolution:

* `fx_rel_error`, `fy_rel_error`: |f_pred - f_true| / f_true;
* `cx_rel_error`, `cy_rel_error`: |c_pred - c_true| / image width (height);
* `focal_rel_error`: the mean of the two focal errors, the headline figure.

A sequence's figures are the means over its pairs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INTRINSICS_METRIC_NAMES = ("focal_rel_error", "fx_rel_error", "fy_rel_error", "cx_rel_error", "cy_rel_error")


def intrinsics_errors(predicted: np.ndarray, truth: np.ndarray, image_size: tuple[int, int]) -> dict[str, float]:
    """Relative errors of one predicted 3x3 camera matrix against the true one, both for an image of
    `image_size` (height, width) pixels."""
    predicted, truth = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    height, width = image_size
    fx = abs(predicted[0, 0] - truth[0, 0]) / truth[0, 0]
    fy = abs(predicted[1, 1] - truth[1, 1]) / truth[1, 1]
    return {"focal_rel_error": 0.5 * (fx + fy), "fx_rel_error": fx, "fy_rel_error": fy,
            "cx_rel_error": abs(predicted[0, 2] - truth[0, 2]) / width,
            "cy_rel_error": abs(predicted[1, 2] - truth[1, 2]) / height}


@dataclass
class IntrinsicsTotals:
    """Per-pair errors collected so far."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def add(self, predicted: np.ndarray, truth: np.ndarray, image_size: tuple[int, int]) -> None:
        """Add one pair's prediction; non-finite predictions count as an error of 1 on every figure, so a
        broken head cannot hide by being skipped."""
        if not np.all(np.isfinite(predicted)):
            self.rows.append(dict.fromkeys(INTRINSICS_METRIC_NAMES, 1.0))
            return
        self.rows.append(intrinsics_errors(predicted, truth, image_size))

    def scores(self) -> dict[str, float]:
        """Mean of every figure over the pairs, plus their count (empty when no pair was added)."""
        if not self.rows:
            return {}
        scores = {name: float(np.mean([row[name] for row in self.rows])) for name in INTRINSICS_METRIC_NAMES}
        scores["pairs"] = float(len(self.rows))
        return scores
