"""Trivial predictors that any learned model must beat, run through the same evaluation as models.

The figures in the shared data README were measured with these: a constant depth map (after median
scaling, the median of each ground-truth image), a fixed ramp farther at the top of the image (depth 3
at the top row to 1 at the bottom row, before median scaling), and standing still (identity motion).
One more, for odometry: constant forward motion (the same step along the optical axis every frame). With
the snippet ATE's free scale per 5-frame window it is almost exact on a car driving straight at a steady
speed (0.029 m on the KITTI 03 validation frames, against 1.170 m for standing still), so a learned motion
network has to beat it, not only standing still, to show that it reads motion from the images.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from depth_motion_ros.evaluation.evaluator import FramePredictor
from depth_motion_ros.sources.frame import Frame

IDENTITY_MOTION = np.eye(4)


class _NoObjectMotion:
    """No baseline predicts object motion (a field of zeros is what the metric's 1.0 already stands for)
    or intrinsics."""

    def predict_object_motion(self, previous: Frame, current: Frame) -> None:
        return None

    def predict_intrinsics(self, previous: Frame, current: Frame) -> None:
        return None


class ConstantDepthBaseline(_NoObjectMotion):
    """Depth 1 everywhere; no odometry."""

    def predict_depth(self, frame: Frame) -> np.ndarray:
        return np.ones(frame.rgb.shape[:2], dtype=np.float32)

    def predict_motion(self, previous: Frame, current: Frame) -> None:
        return None


class RampDepthBaseline(_NoObjectMotion):
    """Depth falling linearly from 3 at the top row to 1 at the bottom row (a ground-plane prior); no odometry."""

    def predict_depth(self, frame: Frame) -> np.ndarray:
        height, width = frame.rgb.shape[:2]
        rows = np.linspace(3.0, 1.0, height, dtype=np.float32)
        return np.repeat(rows[:, None], width, axis=1)

    def predict_motion(self, previous: Frame, current: Frame) -> None:
        return None


class StandingStillBaseline(_NoObjectMotion):
    """Identity motion between every pair of frames; no depth."""

    def predict_depth(self, frame: Frame) -> None:
        return None

    def predict_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        return IDENTITY_MOTION.copy()


class ConstantForwardBaseline(StandingStillBaseline):
    """The same unit step along the optical axis (z forward) between every pair of frames; no depth."""

    def predict_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        motion = IDENTITY_MOTION.copy()
        motion[2, 3] = -1.0  # T_21: a static point is one unit closer to the camera that moved forwards
        return motion


BASELINES: dict[str, Callable[[], FramePredictor]] = {
    "constant": ConstantDepthBaseline, "ramp": RampDepthBaseline, "still": StandingStillBaseline,
    "forward": ConstantForwardBaseline}
