"""Trivial predictors that any learned model must beat, run through the same evaluation as models.

The figures in the shared data README were measured with these: a constant depth map (after median
scaling, the median of each ground-truth image), a fixed ramp farther at the top of the image (depth 3
at the top row to 1 at the bottom row, before median scaling), and standing still (identity motion).
"""
from __future__ import annotations

import numpy as np

from depth_motion_ros.sources.frame import Frame

IDENTITY_MOTION = np.eye(4)


class ConstantDepthBaseline:
    """Depth 1 everywhere; no odometry."""

    def predict_depth(self, frame: Frame) -> np.ndarray:
        return np.ones(frame.rgb.shape[:2], dtype=np.float32)

    def predict_motion(self, previous: Frame, current: Frame) -> None:
        return None


class RampDepthBaseline:
    """Depth falling linearly from 3 at the top row to 1 at the bottom row (a ground-plane prior); no odometry."""

    def predict_depth(self, frame: Frame) -> np.ndarray:
        height, width = frame.rgb.shape[:2]
        rows = np.linspace(3.0, 1.0, height, dtype=np.float32)
        return np.repeat(rows[:, None], width, axis=1)

    def predict_motion(self, previous: Frame, current: Frame) -> None:
        return None


class StandingStillBaseline:
    """Identity motion between every pair of frames; no depth."""

    def predict_depth(self, frame: Frame) -> None:
        return None

    def predict_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        return IDENTITY_MOTION.copy()


BASELINES = {"constant": ConstantDepthBaseline, "ramp": RampDepthBaseline, "still": StandingStillBaseline}
