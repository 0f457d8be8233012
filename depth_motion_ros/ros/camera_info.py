"""CameraInfo validation, intrinsics extraction and building, at any image resolution.

Intrinsics follow docs/ARCHITECTURE.md: pixel centres at integer coordinates, so resizing maps
``cx' = (cx + 0.5) * W2 / W1 - 0.5``. The networks assume a pinhole camera: raw images whose camera_info
has lens distortion are rectified first (`CameraModel.rectifier`; parameter `input_rectification` for an
image_rect input), and outputs advertise a distortion-free pinhole camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from depth_motion_ros.image_rectification import Calibration, CalibrationError, Rectifier


class CameraInfoError(ValueError):
    """A camera_info that cannot be used; the text says why."""


def intrinsics_from_camera_info(msg: CameraInfo) -> np.ndarray:
    """3x3 K of a usable camera_info; raises CameraInfoError for zero size, NaN/inf or non-positive focal."""
    if msg.width == 0 or msg.height == 0:
        raise CameraInfoError(f"camera_info has zero size ({msg.width}x{msg.height})")
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(k)):
        raise CameraInfoError("camera_info K contains NaN or infinite values")
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise CameraInfoError(f"camera_info K has non-positive focal lengths fx={k[0, 0]}, fy={k[1, 1]}")
    return k


@dataclass(frozen=True)
class CameraModel:
    """A usable camera_info: K and the image size it belongs to, and how to make its images pinhole images.

    `rectifier` is None when the images need no rectification or cannot get one; `rectification_error` says
    why not in the second case (an unsupported distortion model, a bad coefficient count).
    """

    k: np.ndarray
    size: tuple[int, int]
    calibration: Calibration
    rectifier: Rectifier | None = None
    rectification_error: str | None = None


def camera_model_from_info(msg: CameraInfo, previous: CameraModel | None = None) -> CameraModel:
    """CameraModel of a camera_info; `previous` is returned as is when the calibration has not changed (building
    the rectification maps costs milliseconds, and drivers republish camera_info with every image).
    Raises CameraInfoError when K itself is unusable."""
    k = intrinsics_from_camera_info(msg)
    calibration = Calibration.from_fields(msg.k, msg.d, msg.distortion_model, msg.r, msg.p,
                                          (int(msg.height), int(msg.width)))
    if previous is not None and previous.calibration.matches(calibration):
        return previous
    if not calibration.needs_rectification:
        return CameraModel(k, calibration.size, calibration)
    try:
        return CameraModel(k, calibration.size, calibration, Rectifier(calibration))
    except CalibrationError as error:
        return CameraModel(k, calibration.size, calibration, rectification_error=str(error))


def build_camera_info(k: np.ndarray, size: tuple[int, int], header: Header) -> CameraInfo:
    """Distortion-free CameraInfo (K, R = I, P = [K | 0]) for an image of ``size = (height, width)``."""
    msg = CameraInfo()
    msg.header = header
    msg.height, msg.width = int(size[0]), int(size[1])
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in np.asarray(k, dtype=np.float64).reshape(9)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    p = np.zeros((3, 4))
    p[:, :3] = k
    msg.p = [float(v) for v in p.reshape(12)]
    return msg
