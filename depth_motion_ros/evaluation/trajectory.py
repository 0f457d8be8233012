"""Odometry metrics: snippet ATE with scale alignment, and full-trajectory ATE / RPE after Sim(3) alignment.

Poses are camera-to-world 4x4 matrices (optical frame). Monocular odometry has no scale, so every
metric first finds the best similarity between the estimate and the ground truth.

Snippet ATE follows SfMLearner (Zhou et al. 2017) and Monodepth2: every window of `snippet_length`
consecutive frames is expressed relative to its first frame, the estimate is scaled by the least-squares
factor `sum(gt . pred) / sum(pred . pred)`, and the error is the root mean square position error over the
window; the figure is the mean over all complete windows. Two details are fixed here on purpose:
- the RMSE is `sqrt(mean ||e||^2)`. SfMLearner's code divides `sqrt(sum ||e||^2)` by the window length,
  which is that RMSE divided by sqrt(window length) (2.236 for 5 frames); this project's published
  figures (shared data README: standing still on 7-Scenes 800-999 = 0.0161 m) use the true RMSE;
- a window in which the estimate does not move at all has no defined scale; its scale is 0, so the
  estimate stays at the origin and the error is the ground-truth motion itself (the "standing still"
  baseline), instead of the NaN that the reference code produces.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def chain_relative_motions(motions: Sequence[np.ndarray], start: np.ndarray | None = None) -> np.ndarray:
    """Camera-to-world poses from per-pair motions `T_21` (points of camera 1 -> camera 2).

    With the project convention the pose updates as `T_w_cur = T_w_prev @ inv(T_21)`; the first pose is
    `start` (identity by default). Returns `[len(motions) + 1, 4, 4]`.
    """
    pose = np.eye(4) if start is None else np.asarray(start, dtype=np.float64)
    poses = [pose]
    for motion in motions:
        pose = pose @ np.linalg.inv(np.asarray(motion, dtype=np.float64))
        poses.append(pose)
    return np.stack(poses)


def align_sim3(src_xyz: np.ndarray, dst_xyz: np.ndarray, with_scale: bool = True
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity `dst ~ scale * R @ src + t` (Umeyama 1991). Returns `(scale, R, t)`.

    A source that does not move (all points equal) has no defined rotation or scale: scale 0 and the
    identity are returned, which maps every point onto the destination's centroid.
    """
    src = np.asarray(src_xyz, dtype=np.float64).reshape(-1, 3)
    dst = np.asarray(dst_xyz, dtype=np.float64).reshape(-1, 3)
    if len(src) != len(dst) or len(src) == 0:
        raise ValueError(f"need matching non-empty point sets, got {len(src)} and {len(dst)}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_variance = float(np.mean(np.sum(src_c ** 2, axis=1)))
    if src_variance == 0.0:
        return (0.0 if with_scale else 1.0), np.eye(3), dst_mean - (0.0 if with_scale else 1.0) * src_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / src_variance) if with_scale else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return scale, rotation, translation


def _positions(poses: np.ndarray) -> np.ndarray:
    return np.asarray(poses, dtype=np.float64)[:, :3, 3]


def trajectory_ate(pred_poses: np.ndarray, gt_poses: np.ndarray, with_scale: bool = True) -> float:
    """Absolute trajectory error: RMSE of camera positions after Sim(3) (or SE(3)) alignment, in gt units."""
    pred_xyz, gt_xyz = _positions(pred_poses), _positions(gt_poses)
    scale, rotation, translation = align_sim3(pred_xyz, gt_xyz, with_scale)
    aligned = scale * pred_xyz @ rotation.T + translation
    return float(np.sqrt(np.mean(np.sum((aligned - gt_xyz) ** 2, axis=1))))


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle of a rotation matrix in degrees, accurate near zero (atan2 instead of arccos of the trace)."""
    sine = 0.5 * np.linalg.norm([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                                 rotation[1, 0] - rotation[0, 1]])
    cosine = 0.5 * (np.trace(rotation) - 1.0)
    return float(np.degrees(np.arctan2(sine, cosine)))


def trajectory_rpe(pred_poses: np.ndarray, gt_poses: np.ndarray, delta: int = 1, with_scale: bool = True
                   ) -> tuple[float, float]:
    """Relative pose error over `delta` frames (Sturm et al. 2012): (translation RMSE, rotation RMSE in degrees).

    The estimate's translations are first multiplied by the Sim(3) alignment scale, so the translation
    error is in ground-truth units; relative motions do not depend on the alignment's rotation.
    """
    pred = np.asarray(pred_poses, dtype=np.float64).copy()
    gt = np.asarray(gt_poses, dtype=np.float64)
    if len(pred) != len(gt) or len(pred) <= delta:
        raise ValueError(f"need more than {delta} matching poses, got {len(pred)} and {len(gt)}")
    scale, _, _ = align_sim3(_positions(pred), _positions(gt), with_scale)
    pred[:, :3, 3] *= scale
    translation_sq, rotation_sq = [], []
    for i in range(len(pred) - delta):
        gt_rel = np.linalg.inv(gt[i]) @ gt[i + delta]
        pred_rel = np.linalg.inv(pred[i]) @ pred[i + delta]
        error = np.linalg.inv(gt_rel) @ pred_rel
        translation_sq.append(float(np.sum(error[:3, 3] ** 2)))
        rotation_sq.append(rotation_angle_deg(error[:3, :3]) ** 2)
    return float(np.sqrt(np.mean(translation_sq))), float(np.sqrt(np.mean(rotation_sq)))


def step_length_ratios(pred_poses: np.ndarray, gt_poses: np.ndarray, min_step: float = 0.01) -> np.ndarray:
    """|predicted step| / |true step| for every pair of consecutive frames whose true step exceeds `min_step`
    (ground-truth units): how well a metric estimate gets the distance travelled, with no alignment at all."""
    pred = np.asarray(pred_poses, dtype=np.float64)
    gt = np.asarray(gt_poses, dtype=np.float64)
    pred_steps = np.linalg.norm(pred[1:, :3, 3] - pred[:-1, :3, 3], axis=1)
    gt_steps = np.linalg.norm(gt[1:, :3, 3] - gt[:-1, :3, 3], axis=1)
    moving = gt_steps > min_step
    ratios: np.ndarray = pred_steps[moving] / gt_steps[moving]
    return ratios


def snippet_position_error(pred_xyz: np.ndarray, gt_xyz: np.ndarray) -> float:
    """Scale-aligned RMSE of one snippet whose positions are relative to its first frame."""
    pred = np.asarray(pred_xyz, dtype=np.float64)
    gt = np.asarray(gt_xyz, dtype=np.float64)
    pred = pred - pred[0] + gt[0]  # SfMLearner's offset alignment of the first frames
    denominator = float(np.sum(pred ** 2))
    scale = float(np.sum(gt * pred)) / denominator if denominator > 0.0 else 0.0
    return float(np.sqrt(np.mean(np.sum((scale * pred - gt) ** 2, axis=1))))


def snippet_errors(pred_poses: np.ndarray, gt_poses: np.ndarray, snippet_length: int = 5) -> np.ndarray:
    """Scale-aligned ATE of every complete window of `snippet_length` consecutive frames."""
    pred = np.asarray(pred_poses, dtype=np.float64)
    gt = np.asarray(gt_poses, dtype=np.float64)
    if len(pred) != len(gt):
        raise ValueError(f"pred and gt have different lengths ({len(pred)} vs {len(gt)})")
    errors = []
    for first in range(len(gt) - snippet_length + 1):
        window = slice(first, first + snippet_length)
        gt_rel = np.linalg.inv(gt[first]) @ gt[window]
        pred_rel = np.linalg.inv(pred[first]) @ pred[window]
        gt_xyz, pred_xyz = gt_rel[:, :3, 3], pred_rel[:, :3, 3]
        gt_xyz = gt_xyz - gt_xyz[0]  # exactly zero at the first frame, not 1e-17
        errors.append(snippet_position_error(pred_xyz - pred_xyz[0], gt_xyz))
    return np.asarray(errors)


def snippet_ate(pred_poses: np.ndarray, gt_poses: np.ndarray, snippet_length: int = 5) -> float:
    """Mean scale-aligned ATE over all complete `snippet_length`-frame windows (NaN when there is none)."""
    errors = snippet_errors(pred_poses, gt_poses, snippet_length)
    return float(np.mean(errors)) if len(errors) else float("nan")
