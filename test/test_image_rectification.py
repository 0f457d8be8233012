"""Rectification (image_rectification.py): a dot projected through a lens lands where the pinhole camera puts it."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_motion_ros.image_rectification import Calibration, CalibrationError, Rectifier

SIZE = (240, 320)  # (H, W)
K = np.array([[150.0, 0.0, 161.0], [0.0, 152.0, 118.0], [0.0, 0.0, 1.0]])
#: EuRoC cam0's coefficients: strong barrel distortion.
PLUMB_BOB = (-0.2834, 0.0740, 1.9e-4, 1.8e-5, 0.0)
FISHEYE = (0.05, -0.01, 0.002, -0.0005)
POINTS = np.array([[x, y, 4.0] for x in (-2.0, -1.0, 0.0, 1.2) for y in (-1.2, -0.4, 0.6, 1.1)])


def calibration(model: str, d: tuple[float, ...], p: np.ndarray | None = None) -> Calibration:
    projection = np.zeros((3, 4)) if p is None else p
    return Calibration.from_fields(K, d, model, np.zeros(9), projection, SIZE)


def dot_image(pixels: np.ndarray) -> np.ndarray:
    """A black RGB image with a small bright Gaussian blob at each sub-pixel position."""
    rows, cols = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float64)
    image = np.zeros(SIZE)
    for u, v in pixels:
        image += np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * 1.2 ** 2))
    grey = np.clip(255 * image, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def centroids(image: np.ndarray, near: np.ndarray, radius: int = 6) -> np.ndarray:
    grey = image[:, :, 0].astype(np.float64)
    found = []
    for u, v in near:
        u0, v0 = int(round(u)), int(round(v))
        window = grey[v0 - radius:v0 + radius + 1, u0 - radius:u0 + radius + 1]
        rows, cols = np.mgrid[v0 - radius:v0 + radius + 1, u0 - radius:u0 + radius + 1]
        found.append([(cols * window).sum() / window.sum(), (rows * window).sum() / window.sum()])
    return np.array(found)


def pinhole(matrix: np.ndarray) -> np.ndarray:
    projected = POINTS @ matrix.T
    return projected[:, :2] / projected[:, 2:]


@pytest.mark.parametrize("model, d", [("plumb_bob", PLUMB_BOB), ("equidistant", FISHEYE)])
def test_dots_seen_through_the_lens_land_on_their_pinhole_projections(model: str, d: tuple[float, ...]) -> None:
    zero = np.zeros(3)
    if model == "equidistant":
        raw_pixels = cv2.fisheye.projectPoints(POINTS[None], zero, zero, K, np.array(d))[0][0]
    else:
        raw_pixels = cv2.projectPoints(POINTS, zero, zero, K, np.array(d))[0][:, 0]
    ideal = pinhole(K)
    assert np.abs(raw_pixels - ideal).max() > 5.0, "the lens moves the dots by several pixels"
    rectified = Rectifier(calibration(model, d)).rectify(dot_image(raw_pixels))
    np.testing.assert_allclose(centroids(rectified, ideal), ideal, atol=0.3)


def test_the_rectified_camera_is_p_when_set_and_k_otherwise() -> None:
    p = np.hstack([np.diag([120.0, 120.0, 1.0]), np.zeros((3, 1))])
    p[0, 2], p[1, 2] = 158.0, 121.0
    rectifier = Rectifier(calibration("plumb_bob", PLUMB_BOB, p))
    np.testing.assert_array_equal(rectifier.intrinsics, p[:, :3])
    raw_pixels = cv2.projectPoints(POINTS, np.zeros(3), np.zeros(3), K, np.array(PLUMB_BOB))[0][:, 0]
    ideal = pinhole(p[:, :3])
    np.testing.assert_allclose(centroids(rectifier.rectify(dot_image(raw_pixels)), ideal), ideal, atol=0.3)
    np.testing.assert_array_equal(Rectifier(calibration("plumb_bob", PLUMB_BOB)).intrinsics, K)


def test_a_pinhole_calibration_needs_no_rectification() -> None:
    p = np.hstack([K, np.zeros((3, 1))])
    assert not calibration("plumb_bob", (0.0,) * 5, p).needs_rectification
    assert not calibration("plumb_bob", (0.0,) * 5).needs_rectification, "an unset P means K"
    assert calibration("plumb_bob", PLUMB_BOB, p).needs_rectification
    rotated = Calibration.from_fields(K, (0.0,) * 5, "plumb_bob", cv2.Rodrigues(np.array([0.0, 0.02, 0.0]))[0],
                                      p, SIZE)
    assert rotated.needs_rectification, "a stereo rectification rotation alone needs a remap"


@pytest.mark.parametrize("model, d", [("rational_polynomial", PLUMB_BOB[:4] + (0.0, 0.001, 0.0, 0.0)),
                                      ("rational_polynomial", PLUMB_BOB + (0.001,) + (0.0,) * 8),
                                      ("plumb_bob", PLUMB_BOB[:4])])
def test_every_coefficient_count_opencv_takes_is_accepted(model: str, d: tuple[float, ...]) -> None:
    raw_pixels = cv2.projectPoints(POINTS, np.zeros(3), np.zeros(3), K, np.array(d))[0][:, 0]
    rectified = Rectifier(calibration(model, d)).rectify(dot_image(raw_pixels))
    np.testing.assert_allclose(centroids(rectified, pinhole(K)), pinhole(K), atol=0.3)


def test_an_empty_d_is_an_ideal_lens_and_p_still_applies() -> None:
    p = np.hstack([K * [[0.8], [0.8], [1.0]], np.zeros((3, 1))])
    rectifier = Rectifier(Calibration.from_fields(K, (), "", np.zeros(9), p, SIZE))
    ideal = pinhole(K)
    np.testing.assert_allclose(centroids(rectifier.rectify(dot_image(ideal)), pinhole(p[:, :3])), pinhole(p[:, :3]),
                               atol=0.3)


def test_the_calibration_scales_with_the_image() -> None:
    from depth_motion_ros.geometry.intrinsics import resize_intrinsics

    p = np.hstack([K * [[0.8], [0.8], [1.0]], [[-12.0], [0.0], [0.0]]])  # a right stereo camera: Tx = -fx' b
    half = Calibration.from_fields(K, PLUMB_BOB, "plumb_bob", np.zeros(9), p, SIZE).at_size((120, 160))
    np.testing.assert_allclose(half.k, resize_intrinsics(K, SIZE, (120, 160)))
    np.testing.assert_allclose(half.rectified_intrinsics, resize_intrinsics(p[:, :3], SIZE, (120, 160)))
    assert half.p[0, 3] == pytest.approx(-6.0) and half.d == PLUMB_BOB and half.size == (120, 160)


def test_depth_maps_are_remapped_without_blending_near_and_far() -> None:
    depth = np.full(SIZE, 4.0, dtype=np.float32)
    depth[:, SIZE[1] // 2:] = 1.0
    depth[100:110, 100:110] = np.nan
    rectified = Rectifier(calibration("plumb_bob", PLUMB_BOB)).rectify(depth, nearest=True)
    assert set(np.unique(rectified[np.isfinite(rectified)]).tolist()) == {1.0, 4.0}, "only recorded depths"
    assert np.isnan(rectified[100:110, 100:110]).any(), "a hole stays a hole"
    zoomed_out = np.hstack([K @ np.diag([0.6, 0.6, 1.0]), np.zeros((3, 1))])  # a wider view, same centre
    wide = Rectifier(calibration("plumb_bob", (0.0,) * 5, zoomed_out)).rectify(np.ones(SIZE, np.float32), nearest=True)
    assert np.isnan(wide[0, 0]) and wide[SIZE[0] // 2, SIZE[1] // 2] == 1.0, "outside the raw image is unknown"


def test_unusable_calibrations_and_images_are_clear_errors() -> None:
    with pytest.raises(CalibrationError, match="not supported"):
        Rectifier(calibration("kannala_brandt_9", (0.1,) + (0.0,) * 8))
    with pytest.raises(CalibrationError, match="takes 4, 5, 8, 12 or 14"):
        Rectifier(calibration("plumb_bob", (0.1, 0.0, 0.0)))
    with pytest.raises(CalibrationError, match="equidistant needs 4"):
        Rectifier(calibration("equidistant", (0.1, 0.0, 0.0, 0.0, 0.0)))
    with pytest.raises(CalibrationError, match="NaN"):
        Rectifier(calibration("plumb_bob", (float("nan"), 0.0, 0.0, 0.0, 0.0)))
    nan_rotation = Calibration.from_fields(K, PLUMB_BOB, "plumb_bob", [float("nan")] * 9, np.zeros(12), SIZE)
    with pytest.raises(CalibrationError, match="NaN"):
        Rectifier(nan_rotation)
    with pytest.raises(CalibrationError, match="320x240"):
        Rectifier(calibration("plumb_bob", PLUMB_BOB)).rectify(np.zeros((100, 100, 3), dtype=np.uint8))
