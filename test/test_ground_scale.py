"""Ground-plane scale: a synthetic flat road seen by a pitched camera gives the exact metres per unit."""
from __future__ import annotations

import numpy as np
import pytest

from depth_motion_ros.ground_scale import (
    ScaleSmoother,
    fit_ground_plane,
    lower_region_points,
    scale_from_camera_height,
)
from depth_motion_ros.odometry import camera_mount

H, W = 96, 160
K = np.array([[100.0, 0, 79.5], [0, 100.0, 47.5], [0, 0, 1]])


def _road_depth(camera_height_units: float, pitch_down: float) -> tuple[np.ndarray, np.ndarray]:
    """Depth (model units) of a flat ground plane; returns depth and the 'up' direction in the camera."""
    mount = camera_mount([0, 0, camera_height_units, 0, pitch_down, 0])
    up = mount[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    # Ground: points p with p . up = -height. Along a ray p = z * ray: z = -height / (ray . up).
    denominator = rays @ up
    with np.errstate(divide="ignore"):
        depth = np.where(denominator < -1e-6, -camera_height_units / denominator, np.nan)
    return depth.astype(np.float32), up


def test_flat_ground_gives_exact_scale():
    depth, up = _road_depth(camera_height_units=0.75, pitch_down=0.1)
    scale = scale_from_camera_height(depth, K, up, camera_height_m=1.5, region_fraction=0.4)
    assert scale == pytest.approx(2.0, rel=1e-4)


def test_obstacle_in_the_lower_image_does_not_bias_the_fit():
    depth, up = _road_depth(camera_height_units=2.0, pitch_down=0.15)
    depth[60:, 40:80] = 3.0  # a box close to the camera covering a quarter of the region
    fit = fit_ground_plane(lower_region_points(depth, K, 0.4), up)
    assert fit is not None and fit.camera_distance == pytest.approx(2.0, rel=1e-3)
    assert fit.normal @ up > 0.99


def test_wall_instead_of_ground_is_rejected():
    depth = np.full((H, W), 5.0, dtype=np.float32)  # fronto-parallel wall: normal is the viewing axis
    _, up = _road_depth(1.0, 0.0)
    assert scale_from_camera_height(depth, K, up, 1.5, 0.4) is None


def test_too_few_points_is_rejected():
    assert fit_ground_plane(np.zeros((5, 3)), np.array([0, -1.0, 0])) is None


def test_smoother_averages_in_log_space_and_resets():
    smoother = ScaleSmoother(0.5)
    assert smoother.value is None
    assert smoother.update(1.0) == pytest.approx(1.0)
    assert smoother.update(4.0) == pytest.approx(2.0)  # geometric mean of 1 and 4
    smoother.reset()
    assert smoother.value is None
