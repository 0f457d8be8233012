"""What the world generators share: the driving camera, placement checks for movers, the camera model."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_motion_ros.synthetic.paths import PlanarPath, SpeedProfile, heading, rigid, yaw_rotation
from depth_motion_ros.synthetic.scene import CameraModel, CameraTrajectory, Mover, SceneParams

CHECK_STEP_S = 0.05           # time step of the collision checks
MARGIN = 0.3                  # m kept free around every footprint


@dataclass(frozen=True)
class DriveCamera:
    """A level camera `height` above the ground, driven along `path` with the speed of `profile`."""
    path: PlanarPath
    profile: SpeedProfile
    height: float
    body_half: tuple[float, float] = (2.25, 0.95)   # the camera car's footprint (half length, half width)
    body_behind: float = 0.75                      # its centre, behind the camera

    def ground_states(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.path.at(self.profile.distance(np.asarray(times, dtype=float)))

    def ground_state(self, time: float) -> tuple[float, float, float]:
        x, z, yaw = self.ground_states(np.array([time]))
        return float(x[0]), float(z[0]), float(yaw[0])

    def pose(self, time: float) -> np.ndarray:
        x, z, yaw = self.ground_state(time)
        return rigid(yaw_rotation(yaw), (x, -self.height, z))

    def footprint(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """(centres [T, 2], yaws [T], half extents) of the camera car's body."""
        x, z, yaw = self.ground_states(times)
        centres = np.stack([x, z], axis=1) - self.body_behind * heading(yaw)
        return centres, yaw, self.body_half


def _rectangles_overlap(c1: np.ndarray, yaw1: np.ndarray, half1: tuple[float, float], c2: np.ndarray,
                        yaw2: np.ndarray, half2: tuple[float, float]) -> np.ndarray:
    """Per time step: do two oriented rectangles (centre, yaw, (half length, half width)) overlap?

    Separating-axis test on the four edge normals.
    """
    overlap = np.ones(len(c1), dtype=bool)
    d = c2 - c1
    axes1 = (heading(yaw1), np.stack([np.cos(yaw1), -np.sin(yaw1)], axis=1))
    axes2 = (heading(yaw2), np.stack([np.cos(yaw2), -np.sin(yaw2)], axis=1))
    for axis in axes1 + axes2:
        r1 = half1[0] * np.abs(np.sum(axes1[0] * axis, 1)) + half1[1] * np.abs(np.sum(axes1[1] * axis, 1))
        r2 = half2[0] * np.abs(np.sum(axes2[0] * axis, 1)) + half2[1] * np.abs(np.sum(axes2[1] * axis, 1))
        overlap &= np.abs(np.sum(d * axis, 1)) <= r1 + r2
    return overlap


def _mover_footprint(mover: Mover, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    x, z, yaw = mover.ground_states(times)
    return np.stack([x, z], axis=1), yaw, (mover.half_length + MARGIN, mover.half_width + MARGIN)


def footprints_clear(candidate: Mover, placed: list[Mover], camera, params: SceneParams) -> bool:
    """True when the candidate never touches the camera (anything with `footprint(times)`: the camera car,
    the person holding the camera) nor any mover already placed, from the first frame to one past the last."""
    times = np.arange(0.0, params.duration + CHECK_STEP_S, CHECK_STEP_S)
    mine = _mover_footprint(candidate, times)
    if _rectangles_overlap(*mine, *camera.footprint(times)).any():
        return False
    return not any(_rectangles_overlap(*mine, *_mover_footprint(other, times)).any() for other in placed)


def spot_clear(centre: tuple[float, float], half: tuple[float, float], movers: list[Mover], camera,
               params: SceneParams) -> bool:
    """True when a static footprint (axis-aligned: half extents along z, x) never touches the camera or a
    mover."""
    times = np.arange(0.0, params.duration + CHECK_STEP_S, CHECK_STEP_S)
    spot = (np.tile(np.asarray(centre, dtype=float), (len(times), 1)), np.zeros(len(times)),
            (half[0] + MARGIN, half[1] + MARGIN))
    if _rectangles_overlap(*spot, *camera.footprint(times)).any():
        return False
    return not any(_rectangles_overlap(*spot, *_mover_footprint(m, times)).any() for m in movers)


def frame_views(camera: CameraTrajectory, params: SceneParams) -> np.ndarray:
    """[frames, 4, 4] world-to-camera transforms at the frame times (for `camera_sees`)."""
    return np.stack([np.linalg.inv(camera.pose(index / params.rate_hz)) for index in range(params.frames)])


def camera_sees(views: np.ndarray, mover: Mover, intrinsics: np.ndarray, params: SceneParams,
                nearest: float = 1.5, farthest: float = 60.0) -> bool:
    """True when the mover's centre is inside the image, between `nearest` and `farthest` metres, in at
    least three frames (all of them in shorter sequences); `views` from `frame_views`."""
    x, z, _ = mover.ground_states(np.arange(len(views)) / params.rate_hz)
    centres = np.stack([x, np.full_like(x, -0.8), z, np.ones_like(x)], axis=1)
    points = np.einsum("fij,fj->fi", views, centres)[:, :3]
    depth = points[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intrinsics[0, 0] * points[:, 0] / depth + intrinsics[0, 2]
        v = intrinsics[1, 1] * points[:, 1] / depth + intrinsics[1, 2]
    seen = (depth > nearest) & (depth < farthest) & (u >= 0) & (u < params.width) & (v >= 0) & (v < params.height)
    return int(seen.sum()) >= min(3, params.frames)


def random_camera_model(rng: np.random.Generator) -> CameraModel:
    """Noise and compression of a typical small camera: read noise 1-3, shot noise 0.2-0.8 (in 8-bit units,
    sigma^2 = read^2 + shot^2 * value), JPEG quality 70-95."""
    return CameraModel(read_noise=float(rng.uniform(1.0, 3.0)), shot_noise=float(rng.uniform(0.2, 0.8)),
                       jpeg_quality=int(rng.integers(70, 96)))
