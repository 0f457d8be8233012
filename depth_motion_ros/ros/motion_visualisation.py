"""Object-motion field to a moving-pixel mask and a colour image a person can read in RViz.

Colour follows the optical-flow convention: hue is the direction of motion in the image plane (x right,
y down), brightness grows with speed (saturating at ``full_scale`` metres per frame), and motion along the
viewing axis shows as white (saturation falls as the z component dominates).
"""
from __future__ import annotations

import cv2
import numpy as np


def _squared_norm(field: np.ndarray) -> np.ndarray:
    """Per-pixel squared 3D magnitude (NaN stays NaN); einsum avoids norm's temporaries."""
    return np.einsum("hwc,hwc->hw", field, field)


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
