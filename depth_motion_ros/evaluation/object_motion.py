"""Object-motion metrics: the predicted residual 3D translation field against a known one.

Only rendered sequences have ground truth for it: `depth_motion_synth` writes `motion/NNNNNN.npy`, the
translation of each pixel's scene point from its frame to the next, in the next camera's frame, metres
(zero on static surfaces). The network's field of a pair lies on the pair's first frame, in the same frame
as that ground truth (p2 = R p1 + t + field) but in model units, so it is multiplied by the first frame's
median-scaling factor, as its depth is, before it is compared.

Per pair, over the pixels whose ground-truth depth is valid: a pixel is *moving* when its true motion
exceeds `MOVING_EPSILON`, and *flagged* when the scaled predicted field exceeds `threshold` (metres per
frame; the node's `motion/mask` is the same test). A sequence's figures pool the pixels of all its pairs:

* `mover_iou`: |flagged and moving| / |flagged or moving|;
* `relative_epe`: sum of |predicted - true| over moving pixels / sum of |true| there (1.0 is what a field
  of zeros scores, so a learned field must score below it);
* `static_flagged`: the fraction of static pixels flagged (false motion).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: True motion (metres per frame) above which a pixel counts as moving (the renderer's static pixels are 0).
MOVING_EPSILON = 1e-3
#: Default `threshold`: a tenth of a metre per frame, a third of the slowest car in the synthetic streets.
DEFAULT_MOTION_THRESHOLD = 0.1


@dataclass
class ObjectMotionTotals:
    """Pixel counts and sums pooled over the pairs added so far."""

    pairs: int = 0
    flagged_and_moving: int = 0
    flagged_or_moving: int = 0
    moving: int = 0
    endpoint_error: float = 0.0
    true_motion: float = 0.0
    static_flagged: int = 0
    static: int = 0

    def add(self, predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray, scale: float,
            threshold: float = DEFAULT_MOTION_THRESHOLD) -> None:
        """Add one pair: `predicted` [h, w, 3] in model units at any resolution, `truth` [H, W, 3] metres,
        `valid` [H, W] the pixels with ground-truth depth, `scale` the median-scaling factor of the pair's
        first frame (1.0 for a metric model)."""
        height, width = truth.shape[:2]
        field = np.asarray(predicted, dtype=np.float64)
        if field.shape[:2] != (height, width):
            field = cv2.resize(field, (width, height), interpolation=cv2.INTER_NEAREST)
        field = field * scale
        truth = np.asarray(truth, dtype=np.float64)
        valid = valid & np.isfinite(field).all(-1) & np.isfinite(truth).all(-1)
        true_size = np.linalg.norm(truth, axis=-1)
        moving = valid & (true_size > MOVING_EPSILON)
        static = valid & ~moving
        flagged = valid & (np.linalg.norm(field, axis=-1) > threshold)
        self.pairs += 1
        self.flagged_and_moving += int((flagged & moving).sum())
        self.flagged_or_moving += int((flagged | moving).sum())
        self.moving += int(moving.sum())
        self.endpoint_error += float(np.linalg.norm(field - truth, axis=-1)[moving].sum())
        self.true_motion += float(true_size[moving].sum())
        self.static_flagged += int((flagged & static).sum())
        self.static += int(static.sum())

    def scores(self) -> dict[str, float]:
        """The three figures (a figure whose denominator is empty is left out)."""
        scores: dict[str, float] = {"pairs": float(self.pairs), "moving_pixels": float(self.moving)}
        if self.flagged_or_moving:
            scores["mover_iou"] = self.flagged_and_moving / self.flagged_or_moving
        if self.true_motion > 0:
            scores["relative_epe"] = self.endpoint_error / self.true_motion
        if self.static:
            scores["static_flagged"] = self.static_flagged / self.static
        return scores
