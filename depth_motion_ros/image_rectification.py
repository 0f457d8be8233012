"""Lens-distortion removal for camera images, from the calibration a CameraInfo carries (no rclpy).

The networks and every geometric step after them (warping, point clouds, pose refinement) assume a pinhole
camera. A robot camera's `image_raw` usually is not one: a wide lens bends straight lines by tens of pixels
at the edges (EuRoC's cam0: k1 = -0.28). ROS's answer is image_proc's rectification; `Rectifier` does the
same thing in-process, with the conventions of image_geometry's PinholeCameraModel: the calibration's K, D
and R map the raw image to the rectified camera whose matrix is the left 3x3 of P (K when P is unset). One
difference: image_geometry copies the image unchanged when every distortion coefficient is zero, even if R
or P says otherwise; here R and P are applied then too, so that the image always matches P's matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Distortion models of sensor_msgs/CameraInfo that can be removed (sensor_msgs/distortion_models.hpp).
PINHOLE_MODELS = ("plumb_bob", "rational_polynomial")
FISHEYE_MODEL = "equidistant"
DISTORTION_MODELS = (*PINHOLE_MODELS, FISHEYE_MODEL)
#: Coefficient counts OpenCV's pinhole model takes (k1 k2 p1 p2 [k3 [k4 k5 k6 [s1-s4 [tx ty]]]]); drivers
#: publish plumb_bob with 5 and rational_polynomial with 8 or 14, and image_geometry passes D as it comes.
PINHOLE_COEFFICIENT_COUNTS = (4, 5, 8, 12, 14)
#: Maps in OpenCV's fixed-point form, as image_geometry builds them: about twice as fast to apply as floats.
_MAP_TYPE = cv2.CV_16SC2


def is_rectified_topic(topic: str) -> bool:
    """Whether an image topic is, by image_proc's naming, already rectified: `.../image_rect`,
    `.../image_rect_color` (and their `/compressed` transports)."""
    name = topic.rstrip("/").removesuffix("/compressed")
    return name.rsplit("/", 1)[-1].startswith("image_rect")


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
    def from_fields(cls, k, d, distortion_model: str, r, p, size: tuple[int, int]) -> Calibration:
        """From CameraInfo-like fields (flat or shaped); a zero R or P (an uncalibrated driver) means unset."""
        r_matrix = np.asarray(r, dtype=np.float64).reshape(3, 3)
        p_matrix = np.asarray(p, dtype=np.float64).reshape(3, 4)
        return cls(k=np.asarray(k, dtype=np.float64).reshape(3, 3), d=tuple(float(v) for v in d),
                   distortion_model=str(distortion_model),
                   r=np.eye(3) if not r_matrix.any() else r_matrix, p=p_matrix,
                   size=(int(size[0]), int(size[1])))

    def matches(self, other: Calibration) -> bool:
        """Same camera model in every field (a camera driver republishes its camera_info with every image)."""
        return (self.distortion_model == other.distortion_model and self.d == other.d and self.size == other.size
                and all(np.array_equal(a, b) for a, b in ((self.k, other.k), (self.r, other.r), (self.p, other.p))))

    def at_size(self, size: tuple[int, int]) -> Calibration:
        """The same camera for images of another size (binned or resized): K and P scale with the image,
        pixel centres at integer coordinates; D and R are unchanged (they act on normalised coordinates)."""
        height, width = self.size
        sy, sx = size[0] / height, size[1] / width
        scale = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        return Calibration(k=scale @ self.k, d=self.d, distortion_model=self.distortion_model, r=self.r,
                           p=scale @ self.p, size=(int(size[0]), int(size[1])))

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
        if not any(calibration.d):  # an ideal lens, whatever the model is called (drivers leave it empty)
            model = PINHOLE_MODELS[0]
        if model not in DISTORTION_MODELS:
            raise CalibrationError(f"distortion model '{model}' is not supported "
                                   f"(supported: {', '.join(DISTORTION_MODELS)})")
        if not all(np.all(np.isfinite(m)) for m in (calibration.k, calibration.d, calibration.r, calibration.p)):
            raise CalibrationError("the calibration contains NaN or infinite values")
        distortion = np.asarray(calibration.d, dtype=np.float64)
        if model == FISHEYE_MODEL:
            if len(distortion) not in (0, 4):
                raise CalibrationError(f"equidistant needs 4 distortion coefficients, got {len(distortion)}")
        elif len(distortion) not in (0, *PINHOLE_COEFFICIENT_COUNTS):
            raise CalibrationError(f"{model} takes 4, 5, 8, 12 or 14 distortion coefficients, got {len(distortion)}")
        if len(distortion) == 0:
            distortion = np.zeros(5)
        self.calibration = calibration
        self.intrinsics = calibration.rectified_intrinsics
        height, width = calibration.size
        if model == FISHEYE_MODEL:
            self._maps = cv2.fisheye.initUndistortRectifyMap(calibration.k, distortion, calibration.r,
                                                             self.intrinsics, (width, height), _MAP_TYPE)
        else:
            self._maps = cv2.initUndistortRectifyMap(calibration.k, distortion, calibration.r, self.intrinsics,
                                                     (width, height), _MAP_TYPE)

    def rectify(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Raw image of the calibration's size -> rectified image; what lies outside the raw image is black.

        Bilinear for camera images; `nearest` for depth maps, where blending a near and a far pixel would
        invent a surface between them, and where outside the raw image is NaN (unknown, REP 117)."""
        if tuple(image.shape[:2]) != self.calibration.size:
            raise CalibrationError(f"image is {image.shape[1]}x{image.shape[0]} but the calibration is for "
                                   f"{self.calibration.size[1]}x{self.calibration.size[0]}")
        outside = float("nan") if nearest and image.dtype.kind == "f" else 0
        # OpenCV takes a scalar border value (every channel); its stubs list only a sequence.
        rectified: np.ndarray = cv2.remap(  # type: ignore[call-overload]
            image, *self._maps, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=outside)
        return rectified
