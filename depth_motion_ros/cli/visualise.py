"""Pictures of predictions for people: coloured depth, coloured motion, panels side by side.

Depth is shown as inverse depth (near = bright), normalised per image by a high percentile, because
monocular depth has an unknown global scale: only the relative structure is meaningful to the eye.
"""
from __future__ import annotations

import cv2
import numpy as np

from depth_motion_ros.ros.motion_visualisation import motion_colour

DEPTH_COLOURMAP = cv2.COLORMAP_MAGMA


def depth_colour(depth: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """float depth [H, W] -> uint8 RGB [H, W, 3]; invalid (NaN, <= 0) pixels black."""
    valid = np.isfinite(depth) & (depth > 0)
    disparity = np.zeros(depth.shape, dtype=np.float32)
    disparity[valid] = 1.0 / depth[valid]
    top = float(np.percentile(disparity[valid], percentile)) if valid.any() else 1.0
    scaled = np.clip(disparity / max(top, 1e-12), 0.0, 1.0)
    coloured = cv2.applyColorMap((scaled * 255.0).astype(np.uint8), DEPTH_COLOURMAP)
    coloured[~valid] = 0
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


def motion_field_colour(field: np.ndarray | None, shape: tuple[int, int], full_scale: float) -> np.ndarray:
    """Object motion [H, W, 3] -> uint8 RGB (the node's colour convention); black when there is no field."""
    if field is None:
        return np.zeros((*shape, 3), dtype=np.uint8)
    return motion_colour(field, full_scale)


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Concatenate uint8 RGB panels horizontally, resizing each to the first panel's height."""
    height = panels[0].shape[0]
    resized = [p if p.shape[0] == height else
               cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height)) for p in panels]
    return np.concatenate(resized, axis=1)
