"""Metric scale from a known camera height: fit the ground plane in the lower image, smooth over time.

Monocular depth is only known up to scale. On a ground robot or a car the camera height above the road is
fixed and known, and the lower part of the image usually sees the road. The distance from the camera centre
to a plane fitted there, in model units, against the true height in metres gives metres per model unit.
Single-frame estimates are noisy (obstacles, curbs), so the node smooths them in log space and ignores fits
whose plane is not roughly level with the robot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlaneFit:
    normal: np.ndarray        # unit normal, pointing from the plane towards the camera
    camera_distance: float    # distance of the camera centre to the plane, model units
    inlier_fraction: float


def lower_region_points(depth: np.ndarray, intrinsics: np.ndarray, region_fraction: float,
                        stride: int = 4) -> np.ndarray:
    """Back-project every ``stride``-th valid pixel of the lowest ``region_fraction`` of rows: ``[N, 3]``."""
    height, width = depth.shape
    first_row = int(round(height * (1.0 - region_fraction)))
    v, u = np.mgrid[first_row:height:stride, 0:width:stride]
    z = depth[v, u]
    valid = np.isfinite(z) & (z > 0)
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    u, v, z = u[valid], v[valid], z[valid]
    return np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1).astype(np.float64)


def fit_ground_plane(points: np.ndarray, up: np.ndarray, max_tilt_deg: float = 25.0,
                     iterations: int = 64, inlier_tolerance: float = 0.02,
                     seed: int = 0) -> PlaneFit | None:
    """RANSAC plane whose normal is within ``max_tilt_deg`` of ``up`` (camera frame), refined by least squares.

    ``inlier_tolerance`` is relative to the median point distance, so the fit works in any model units.
    Returns None when there are too few points or no level plane explains at least a quarter of them.
    """
    if len(points) < 10:
        return None
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    tolerance = inlier_tolerance * float(np.median(np.linalg.norm(points, axis=1)))
    min_cos = np.cos(np.radians(max_tilt_deg))
    rng = np.random.default_rng(seed)
    best_inliers: np.ndarray | None = None
    for _ in range(iterations):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm < 1e-12:
            continue
        normal /= norm
        if abs(normal @ up) < min_cos:
            continue
        inliers = np.abs((points - a) @ normal) < tolerance
        if best_inliers is None or inliers.sum() > best_inliers.sum():
            best_inliers = inliers
    if best_inliers is None or best_inliers.sum() < max(10, 0.25 * len(points)):
        return None
    inlier_points = points[best_inliers]
    centroid = inlier_points.mean(axis=0)
    normal = np.linalg.svd(inlier_points - centroid, full_matrices=False)[2][-1]
    if normal @ up < 0:
        normal = -normal
    if normal @ up < min_cos:
        return None
    # The camera (origin) is on the 'up' side of the ground: distance = -(centroid . normal).
    distance = float(-(centroid @ normal))
    if distance <= 0:
        return None
    return PlaneFit(normal, distance, float(best_inliers.mean()))


class ScaleSmoother:
    """Exponential moving average of metres-per-unit in log space (scale errors are multiplicative), and of
    the squared deviation of each frame's log-scale from it: the spread of the ground fits, from which the
    average's own relative standard deviation follows (`relative_std`)."""

    def __init__(self, smoothing: float) -> None:
        self.smoothing = smoothing
        self._log_scale: float | None = None
        self._log_variance = 0.0
        self._updates = 0

    def update(self, scale: float) -> float:
        log_scale = float(np.log(scale))
        if self._log_scale is None:
            self._log_scale = log_scale
        else:
            deviation = log_scale - self._log_scale
            self._log_scale += self.smoothing * deviation
            self._log_variance += self.smoothing * (deviation ** 2 - self._log_variance)
        self._updates += 1
        return float(np.exp(self._log_scale))

    @property
    def value(self) -> float | None:
        return None if self._log_scale is None else float(np.exp(self._log_scale))

    @property
    def relative_std(self) -> float | None:
        """Relative standard deviation of the smoothed scale: the frames' spread times the exponential
        average's reduction of independent noise, sqrt(a / (2 - a)) for smoothing a; None before two fits
        (one fit says nothing about its own spread)."""
        if self._updates < 2:
            return None
        a = self.smoothing
        return float(np.sqrt(self._log_variance * a / (2.0 - a)))

    def reset(self) -> None:
        self._log_scale = None
        self._log_variance = 0.0
        self._updates = 0


def scale_from_camera_height(depth: np.ndarray, intrinsics: np.ndarray, up: np.ndarray,
                             camera_height_m: float, region_fraction: float) -> float | None:
    """Metres per model unit for this frame, or None when no level ground plane is visible."""
    fit = fit_ground_plane(lower_region_points(depth, intrinsics, region_fraction), up)
    if fit is None:
        return None
    return camera_height_m / fit.camera_distance
