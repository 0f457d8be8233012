"""Depth and odometry metrics with the standard protocols, and the evaluation command.

`evaluate_sequence` (a predictor over frames) and `evaluate_predictions` (precomputed outputs) are the
reusable entry points for the inference CLI and training validation; both use `SequenceEvaluator`.
"""
from __future__ import annotations

from depth_motion_ros.evaluation.evaluator import (
    EvaluationReport,
    EvaluationSettings,
    FramePredictor,
    SequenceEvaluator,
    evaluate_predictions,
    evaluate_sequence,
    format_report,
)
from depth_motion_ros.evaluation.metrics import DEPTH_METRIC_NAMES, depth_metrics, mean_metrics
from depth_motion_ros.evaluation.trajectory import (
    align_sim3,
    chain_relative_motions,
    snippet_ate,
    trajectory_ate,
    trajectory_rpe,
)

__all__ = [
    "DEPTH_METRIC_NAMES", "EvaluationReport", "EvaluationSettings", "FramePredictor", "SequenceEvaluator",
    "align_sim3", "chain_relative_motions", "depth_metrics", "evaluate_predictions", "evaluate_sequence",
    "format_report", "mean_metrics", "snippet_ate", "trajectory_ate", "trajectory_rpe",
]
