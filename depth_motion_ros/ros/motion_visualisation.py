"""Object-motion field to a moving-pixel mask and a colour image a person can read in RViz.

Colour follows the optical-flow convention: hue is the direction of motion in the image plane (x right,
y down), brightness grows with speed (saturating at ``full_scale`` metres per frame), and motion along the
viewing axis shows as white (saturation falls as the z component dominates).
"""
from __future__ import annotations

import cv2
import numpy as np


def moving_mask(field: np.ndarray, threshold: float) -> np.ndarray:
    """mono8 mask: 255 where the 3D motion magnitude exceeds ``threshold``, else 0 (NaN counts as still)."""
    with np.errstate(invalid="ignore"):
        moving = np.linalg.norm(field, axis=2) > threshold
    return moving.astype(np.uint8) * 255


def motion_colour(field: np.ndarray, full_scale: float) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB rendering of a ``[H, W, 3]`` motion field (NaN pixels black)."""
    field = np.nan_to_num(field.astype(np.float32), nan=0.0)
    planar = np.hypot(field[..., 0], field[..., 1])
    magnitude = np.linalg.norm(field, axis=2)
    hue = (np.degrees(np.arctan2(field[..., 1], field[..., 0])) % 360.0) / 2.0  # OpenCV hue is 0..180
    saturation = np.divide(planar, magnitude, out=np.zeros_like(planar), where=magnitude > 0)
    value = np.clip(magnitude / max(full_scale, 1e-9), 0.0, 1.0)
    hsv = np.stack([hue, saturation * 255.0, value * 255.0], axis=2).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
