"""Scores of a prediction run against the ground truth its source carries, with the evaluation module's
protocol (per-image median scaling, depth caps, 5-frame snippet ATE, Sim(3)-aligned ATE and RPE).

Frames are fed one at a time so a long sequence is scored without keeping its depth maps in memory.
"""
from __future__ import annotations

import numpy as np

from depth_motion_ros.evaluation.metrics import depth_metrics, mean_metrics
from depth_motion_ros.evaluation.trajectory import snippet_ate, trajectory_ate, trajectory_rpe

SNIPPET_LENGTH = 5


class GroundTruthEvaluation:
    """Accumulates per-image depth metrics and pose pairs; `summary()` gives the scores."""

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 80.0, crop: str | None = None) -> None:
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.crop = crop
        self._depth_rows: list[dict[str, float]] = []
        self._pred_poses: list[np.ndarray] = []
        self._gt_poses: list[np.ndarray] = []

    def add(self, pred_depth: np.ndarray, pred_pose: np.ndarray, gt_depth: np.ndarray | None,
            gt_pose: np.ndarray | None) -> None:
        if gt_depth is not None:
            row = depth_metrics(pred_depth, gt_depth, self.min_depth, self.max_depth, self.crop)
            if row is not None:
                self._depth_rows.append(row)
        if gt_pose is not None:
            self._pred_poses.append(np.asarray(pred_pose, dtype=np.float64))
            self._gt_poses.append(np.asarray(gt_pose, dtype=np.float64))

    @property
    def has_ground_truth(self) -> bool:
        return bool(self._depth_rows or self._gt_poses)

    def summary(self) -> dict[str, dict[str, float]]:
        """{'depth': metrics + frames, 'odometry': snippet_ate_5, ate, rpe_translation, rpe_rotation_deg, frames}."""
        result: dict[str, dict[str, float]] = {}
        if self._depth_rows:
            result["depth"] = {**mean_metrics(self._depth_rows), "frames": len(self._depth_rows)}
        if len(self._gt_poses) >= 2:
            pred, gt = np.stack(self._pred_poses), np.stack(self._gt_poses)
            rpe_translation, rpe_rotation = trajectory_rpe(pred, gt)
            result["odometry"] = {"snippet_ate_5": snippet_ate(pred, gt, SNIPPET_LENGTH),
                                  "ate": trajectory_ate(pred, gt), "rpe_translation": rpe_translation,
                                  "rpe_rotation_deg": rpe_rotation, "frames": len(gt)}
        return result


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    """A short table for the terminal."""
    lines = []
    for section, values in summary.items():
        cells = "  ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                          for name, value in values.items())
        lines.append(f"{section:9s} {cells}")
    return "\n".join(lines) if lines else "no ground truth in this input: nothing to evaluate"
