"""Depth metrics with the standard monocular protocol (Eigen et al. 2014; Zhou et al. 2017; Monodepth2).

Per image: the prediction is resized to the ground truth's resolution, pixels are kept where the ground
truth is finite and within (min_depth, max_depth] (and inside the optional KITTI crop), the prediction
is multiplied by median(gt) / median(pred) over those pixels (monocular depth has no scale) and clamped
to [min_depth, max_depth], then the seven standard errors are computed. Scores of a sequence are the
mean of the per-image scores, as in Monodepth2's evaluation.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import cv2
import numpy as np

DEPTH_METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")

#: Crops as fractions of (top, bottom, left, right) of the image: Garg et al. 2016 and Eigen et al. 2014,
#: the fractions used by SfMLearner and Monodepth2 on KITTI.
CROPS: dict[str, tuple[float, float, float, float]] = {
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}


def crop_mask(shape: tuple[int, int], crop: str | None) -> np.ndarray:
    """Boolean mask of the evaluated region for a named crop (all True for None)."""
    height, width = shape
    mask = np.ones((height, width), dtype=bool)
    if crop is None:
        return mask
    if crop not in CROPS:
        raise ValueError(f"unknown crop '{crop}' (choose from {', '.join(CROPS)})")
    top, bottom, left, right = CROPS[crop]
    mask[:] = False
    mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    return mask


def resize_depth(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a depth map to `shape` (H, W) by bilinear interpolation of inverse depth.

    Interpolating disparity (as Monodepth2 does) rather than depth keeps a depth edge from producing
    a halo of in-between depths floating in free space.
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape == tuple(shape):
        return pred
    disparity = 1.0 / np.maximum(pred, 1e-12)
    resized = cv2.resize(disparity, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    depth: np.ndarray = 1.0 / resized
    return depth


def depth_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The seven standard errors between matched positive depth samples."""
    ratio = np.maximum(gt / pred, pred / gt)
    difference = gt - pred
    return {
        "abs_rel": float(np.mean(np.abs(difference) / gt)),
        "sq_rel": float(np.mean(difference ** 2 / gt)),
        "rmse": float(np.sqrt(np.mean(difference ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2))),
        "a1": float(np.mean(ratio < 1.25)),
        "a2": float(np.mean(ratio < 1.25 ** 2)),
        "a3": float(np.mean(ratio < 1.25 ** 3)),
    }


def depth_metrics(pred: np.ndarray, gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = 80.0,
                  crop: str | None = None, median_scaling: bool = True) -> dict[str, float] | None:
    """Metrics of one predicted depth map against ground truth (NaN or 0 = unknown).

    Returns None when the ground truth has no valid pixel, so callers can skip the image instead of
    averaging a meaningless score. With `median_scaling`, the dict also holds the applied `scale`.
    """
    gt = np.asarray(gt, dtype=np.float64)
    pred = resize_depth(pred, gt.shape)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth) & crop_mask(gt.shape, crop)
    valid &= np.isfinite(pred) & (pred > 0)
    if not valid.any():
        return None
    gt_valid, pred_valid = gt[valid], pred[valid]
    scale = 1.0
    if median_scaling:
        scale = float(np.median(gt_valid) / np.median(pred_valid))
        pred_valid = pred_valid * scale
    pred_valid = np.clip(pred_valid, min_depth, max_depth)
    errors = depth_errors(gt_valid, pred_valid)
    if median_scaling:
        errors["scale"] = scale
    return errors


def mean_metrics(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each standard metric over images (empty dict when there are none)."""
    rows = list(per_image)
    if not rows:
        return {}
    return {name: float(np.mean([row[name] for row in rows])) for name in DEPTH_METRIC_NAMES}
