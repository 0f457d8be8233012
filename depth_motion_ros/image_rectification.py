"""Lens-distortion removal for camera images, from the calibration a CameraInfo carries (no rclpy).

The networks and every geometric step after them (warping, point clouds, pose refinement) assume a pinhole
camera. A robot camera's `image_raw` usually is not one: a wide lens bends straight lines by tens of pixels
at the edges (EuRoC's cam0: k1 = -0.28). ROS's answer is image_proc's rectification; `Rectifier` does the
same thing in-process, with the same conventions as image_geometry's PinholeCameraModel: the calibration's
K, D and R map the raw image to the rectified camera whose matrix is the left 3x3 of P (K when P is unset).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Distortion models of sensor_msgs/CameraInfo that can be removed (sensor_msgs/distortion_models.hpp).
PINHOLE_MODELS = ("plumb_bob", "rational_polynomial")
FISHEYE_MODEL = "equidistant"
DISTORTION_MODELS = (*PINHOLE_MODELS, FISHEYE_MODEL)


class CalibrationError(ValueError):
    """A calibration that cannot be used for rectification; the text says why."""


@dataclass(frozen=True, eq=False)
class Calibration:
    """What rectification needs from a CameraInfo: K, D and its model, R, P and the image size (H, W)."""

    k: np.ndarray
    d: tuple[float, ...]
    distortion_model: str
    r: np.ndarray
    p: np.ndarray
    size: tuple[int, int]

    @classmethod
    def from_fields(cls, k, d, distortion_model: str, r, p, size: tuple[int, int]) -> "Calibration":
        """From CameraInfo-like fields (flat or shaped); a zero R or P (an uncalibrated driver) means unset."""
        r_matrix = np.asarray(r, dtype=np.float64).reshape(3, 3)
        p_matrix = np.asarray(p, dtype=np.float64).reshape(3, 4)
        return cls(k=np.asarray(k, dtype=np.float64).reshape(3, 3), d=tuple(float(v) for v in d),
                   distortion_model=str(distortion_model),
                   r=np.eye(3) if not r_matrix.any() else r_matrix, p=p_matrix,
                   size=(int(size[0]), int(size[1])))

    def matches(self, other: "Calibration") -> bool:
        """Same camera model in every field (a camera driver republishes its camera_info with every image)."""
        return (self.distortion_model == other.distortion_model and self.d == other.d and self.size == other.size
                and all(np.array_equal(a, b) for a, b in ((self.k, other.k), (self.r, other.r), (self.p, other.p))))

    @property
    def rectified_intrinsics(self) -> np.ndarray:
        """3x3 matrix of the rectified image: P's left 3x3 when P is set, else K."""
        if self.p[0, 0] > 0 and self.p[1, 1] > 0 and np.all(np.isfinite(self.p)):
            return self.p[:, :3].copy()
        return self.k.copy()

    @property
    def needs_rectification(self) -> bool:
        """False for an image that is already a pinhole image of the rectified camera (no-op rectification)."""
        return (any(v != 0.0 for v in self.d) or not np.allclose(self.r, np.eye(3))
                or not np.allclose(self.rectified_intrinsics, self.k))


class Rectifier:
    """Remaps raw images of one calibration to its rectified pinhole camera (maps built once, ~1 ms a frame)."""

    def __init__(self, calibration: Calibration) -> None:
        model = calibration.distortion_model
        if model not in DISTORTION_MODELS:
            raise CalibrationError(f"distortion model '{model}' is not supported "
                                   f"(supported: {', '.join(DISTORTION_MODELS)})")
        if not (np.all(np.isfinite(calibration.k)) and np.all(np.isfinite(calibration.d))):
            raise CalibrationError("the calibration contains NaN or infinite values")
        expected = {"plumb_bob": 5, "rational_polynomial": 8, FISHEYE_MODEL: 4}[model]
        if len(calibration.d) != expected:
            raise CalibrationError(f"{model} needs {expected} distortion coefficients, got {len(calibration.d)}")
        self.calibration = calibration
        self.intrinsics = calibration.rectified_intrinsics
        height, width = calibration.size
        distortion = np.asarray(calibration.d, dtype=np.float64)
        if model == FISHEYE_MODEL:
            self._maps = cv2.fisheye.initUndistortRectifyMap(calibration.k, distortion, calibration.r,
                                                             self.intrinsics, (width, height), cv2.CV_32FC1)
        else:
            self._maps = cv2.initUndistortRectifyMap(calibration.k, distortion, calibration.r, self.intrinsics,
                                                     (width, height), cv2.CV_32FC1)

    def rectify(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Raw image of the calibration's size -> rectified image (outside the raw image: 0).

        Bilinear for camera images; `nearest` for depth maps, where blending a near and a far pixel would
        invent a surface between them (a NaN stays NaN either way)."""
        if tuple(image.shape[:2]) != self.calibration.size:
            raise CalibrationError(f"image is {image.shape[1]}x{image.shape[0]} but the calibration is for "
                                   f"{self.calibration.size[1]}x{self.calibration.size[0]}")
        return cv2.remap(image, *self._maps, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)
