"""Pictures of predictions for people (RViz, the inference video, the demo summary), and the moving mask.

Depth is shown as inverse depth (near = bright), normalised per image by a high percentile, because
monocular depth has an unknown global scale: only the relative structure is meaningful to the eye.
Object-motion colour follows the optical-flow convention: hue is the direction of motion in the image
plane (x right, y down), brightness grows with speed (saturating at ``full_scale`` metres per frame), and
motion along the viewing axis shows as white (saturation falls as the z component dominates).
"""
from __future__ import annotations

import cv2
import numpy as np

DEPTH_COLOURMAP = cv2.COLORMAP_MAGMA


def _squared_norm(field: np.ndarray) -> np.ndarray:
    """Per-pixel squared 3D magnitude (NaN stays NaN); einsum avoids norm's temporaries."""
    squared: np.ndarray = np.einsum("hwc,hwc->hw", field, field)
    return squared


def moving_mask(field: np.ndarray, threshold: float) -> np.ndarray:
    """mono8 mask: 255 where the 3D motion magnitude exceeds ``threshold``, else 0 (NaN counts as still)."""
    with np.errstate(invalid="ignore"):
        moving = _squared_norm(field) > np.float32(threshold) ** 2
    return moving.astype(np.uint8) * 255


def motion_colour(field: np.ndarray, full_scale: float) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB rendering of a ``[H, W, 3]`` motion field (NaN pixels black)."""
    field = np.nan_to_num(field.astype(np.float32, copy=False), nan=0.0)
    planar, angle_deg = cv2.cartToPolar(np.ascontiguousarray(field[..., 0]), np.ascontiguousarray(field[..., 1]),
                                        angleInDegrees=True)
    magnitude = np.sqrt(_squared_norm(field))
    saturation = np.divide(planar, magnitude, out=np.zeros_like(planar), where=magnitude > 0)
    value = np.minimum(magnitude * np.float32(1.0 / max(full_scale, 1e-9)), 1.0)
    hsv = cv2.merge([(angle_deg * 0.5).astype(np.uint8),  # OpenCV hue is 0..180
                     (saturation * 255.0).astype(np.uint8), (value * 255.0).astype(np.uint8)])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def depth_colour(depth: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """float depth [H, W] -> uint8 RGB [H, W, 3]; invalid (NaN, <= 0) pixels black."""
    valid = np.isfinite(depth) & (depth > 0)
    disparity = np.zeros(depth.shape, dtype=np.float32)
    disparity[valid] = 1.0 / depth[valid]
    top = float(np.percentile(disparity[valid], percentile)) if valid.any() else 1.0
    scaled = np.clip(disparity / max(top, 1e-12), 0.0, 1.0)
    coloured = cv2.applyColorMap((scaled * 255.0).astype(np.uint8), DEPTH_COLOURMAP)
    coloured[~valid] = 0
    rgb: np.ndarray = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    return rgb


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
