"""Procedural street scenes: static buildings and parked cars, independently moving cars, a camera path.

World frame: the optical frame of the camera at time 0 (x right, y down, z forward, metres), so the ground
is the plane y = camera_height. Everything is an axis-aligned box (buildings, parked and moving cars), which
keeps ray casting vectorised and the ground truth exact: a mover only translates, so its per-pixel motion is
its displacement over one frame interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BUILDING = 0
CAR = 1

LANE_OFFSET = 3.2          # centre of the lanes beside the camera's lane (m)
LANE_MARKING = 1.6         # dashed lines between lanes
SIDEWALK_FROM = 6.8        # |x| where the sidewalk starts
BUILDING_FROM = 8.0        # |x| of the nearest facade
PARKED_OFFSET = 5.6        # centre of the parking strip


@dataclass(frozen=True)
class SceneParams:
    """What a user may choose about a synthetic scene (all deterministic given `seed`)."""
    width: int = 416
    height: int = 128
    frames: int = 60
    rate_hz: float = 10.0
    camera_speed: float = 8.0        # m/s along the street
    movers: int = 4
    mover_speed: float = 6.0         # m/s, typical ground speed of a moving car (each varies +-50 %)
    hfov_deg: float = 80.0
    camera_height: float = 1.6       # m above the ground
    turn_amplitude: float = 1.0      # m of lateral weave (gentle turns)
    turn_length: float = 50.0        # m travelled per weave period
    seed: int = 0

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ValueError(f"image size {self.width}x{self.height} is too small (min 8x8)")
        if self.frames < 2:
            raise ValueError("a sequence needs at least 2 frames")
        if self.rate_hz <= 0 or self.camera_speed < 0 or self.mover_speed < 0 or self.movers < 0:
            raise ValueError("rate must be positive; speeds and the number of movers non-negative")
        if not 10.0 <= self.hfov_deg <= 150.0:
            raise ValueError("hfov_deg must be within [10, 150]")


@dataclass(frozen=True)
class Boxes:
    """Axis-aligned boxes at time 0 with constant velocities (zero for static ones), one row per box."""
    lo: np.ndarray        # [K, 3] world, metres
    hi: np.ndarray        # [K, 3]
    velocity: np.ndarray  # [K, 3] world, m/s
    kind: np.ndarray      # [K] BUILDING or CAR
    colour: np.ndarray    # [K, 3] base albedo in [0, 1]
    texture_seed: np.ndarray  # [K]

    def at(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Box corners at `time` seconds."""
        shift = self.velocity * time
        return self.lo + shift, self.hi + shift

    @property
    def moving(self) -> np.ndarray:
        """Boolean mask of the boxes that move."""
        return np.any(self.velocity != 0.0, axis=1)


@dataclass(frozen=True)
class CameraPath:
    """A camera driving along the street, weaving gently: it always looks along the path's tangent."""
    speed: float
    amplitude: float
    length: float

    def pose(self, time: float) -> np.ndarray:
        """4x4 camera-to-world pose (optical frame) at `time` seconds."""
        s = self.speed * time
        phase = 2.0 * math.pi * s / self.length
        x = self.amplitude * math.sin(phase)
        slope = self.amplitude * 2.0 * math.pi / self.length * math.cos(phase)
        yaw = math.atan(slope)  # rotation about world y (down): positive turns the view towards +x
        c, s_ = math.cos(yaw), math.sin(yaw)
        pose = np.eye(4)
        pose[:3, :3] = [[c, 0.0, s_], [0.0, 1.0, 0.0], [-s_, 0.0, c]]
        pose[:3, 3] = [x, 0.0, s]
        return pose


@dataclass(frozen=True)
class Scene:
    """Everything the renderer needs: parameters, geometry, camera path and intrinsics."""
    params: SceneParams
    boxes: Boxes
    camera: CameraPath
    intrinsics: np.ndarray    # 3x3, pixels

    def time(self, index: int) -> float:
        """Timestamp (s) of frame `index`."""
        return index / self.params.rate_hz


def pinhole_intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Square-pixel pinhole with the principal point at the image centre (pixel centres at integers)."""
    fx = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fx, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


_BUILDING_PALETTE = np.array([[0.72, 0.52, 0.40], [0.80, 0.76, 0.66], [0.55, 0.58, 0.62],
                              [0.70, 0.62, 0.48], [0.62, 0.42, 0.36], [0.85, 0.82, 0.78]])
_CAR_PALETTE = np.array([[0.75, 0.12, 0.10], [0.12, 0.25, 0.65], [0.85, 0.85, 0.85], [0.15, 0.15, 0.15],
                         [0.90, 0.70, 0.10], [0.20, 0.55, 0.30], [0.55, 0.55, 0.60]])


def _buildings(rng: np.random.Generator, z_start: float, z_end: float, ground_y: float) -> list[tuple]:
    """Rows of buildings on both sides, with varying widths, heights, set-backs and narrow gaps."""
    rows = []
    for side in (-1.0, 1.0):
        z = z_start
        while z < z_end:
            length = rng.uniform(8.0, 22.0)
            setback = rng.uniform(0.0, 2.5)
            height = rng.uniform(6.0, 20.0)
            depth = rng.uniform(8.0, 14.0)
            near = BUILDING_FROM + setback
            x_lo, x_hi = (near, near + depth) if side > 0 else (-near - depth, -near)
            rows.append(((x_lo, ground_y - height, z), (x_hi, ground_y, z + length), (0.0, 0.0, 0.0), BUILDING,
                         _BUILDING_PALETTE[rng.integers(len(_BUILDING_PALETTE))]))
            z += length + rng.uniform(0.5, 4.0)
    return rows


def _car_size(rng: np.random.Generator) -> tuple[float, float, float]:
    """(length, width, height) of a car or, one time in five, a van."""
    if rng.random() < 0.2:
        return rng.uniform(5.0, 6.5), rng.uniform(2.0, 2.3), rng.uniform(2.2, 2.8)
    return rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.95), rng.uniform(1.4, 1.7)


def _parked_cars(rng: np.random.Generator, z_start: float, z_end: float, ground_y: float) -> list[tuple]:
    """Static cars along both kerbs: near, strongly textured, static parallax."""
    rows = []
    for side in (-1.0, 1.0):
        z = z_start + rng.uniform(0.0, 10.0)
        while z < z_end:
            length, width, height = _car_size(rng)
            x = side * PARKED_OFFSET
            rows.append(((x - width / 2, ground_y - height, z), (x + width / 2, ground_y, z + length),
                         (0.0, 0.0, 0.0), CAR, _CAR_PALETTE[rng.integers(len(_CAR_PALETTE))]))
            z += length + rng.uniform(2.0, 25.0)
    return rows


def _movers(rng: np.random.Generator, params: SceneParams, camera: CameraPath, ground_y: float) -> list[tuple]:
    """Cars in three lanes, placed so that each is ahead of the camera for part of the sequence.

    Oncoming traffic uses the left lane, same-direction traffic the right lane and the camera's lane (there
    always faster than the camera, starting ahead of it). Placements that would make two cars in one lane,
    or a car and the camera, overlap at any frame are redrawn.
    """
    duration = (params.frames - 1) / params.rate_hz
    times = np.arange(params.frames + 1) / params.rate_hz
    camera_z = np.array([camera.pose(t)[2, 3] for t in times])
    placed: list[tuple] = []
    for _ in range(params.movers):
        for _attempt in range(200):
            length, width, height = _car_size(rng)
            lane = rng.choice([-1, 0, 1], p=[0.4, 0.2, 0.4])
            speed = params.mover_speed * rng.uniform(0.5, 1.5)
            if lane == 0:
                speed = params.camera_speed + max(speed, 1.0)
            direction = -1.0 if lane < 0 else 1.0
            seen_at = rng.uniform(0.0, 0.7 * duration)
            ahead = rng.uniform(10.0, 35.0)
            z0 = camera.pose(seen_at)[2, 3] + ahead - direction * speed * seen_at
            x = lane * LANE_OFFSET
            candidate = ((x - width / 2, ground_y - height, z0), (x + width / 2, ground_y, z0 + length),
                         (0.0, 0.0, direction * speed), CAR, _CAR_PALETTE[rng.integers(len(_CAR_PALETTE))])
            if _fits(candidate, placed, times, camera_z):
                placed.append(candidate)
                break
        else:
            raise ValueError("could not place the requested number of moving cars without collisions")
    return placed


def _fits(candidate: tuple, placed: list[tuple], times: np.ndarray, camera_z: np.ndarray) -> bool:
    """True when the candidate never overlaps a car in its lane nor comes within 3 m of the camera."""
    lo, hi, vel = (np.asarray(candidate[i], dtype=float) for i in range(3))
    z_lo = lo[2] + vel[2] * times
    z_hi = hi[2] + vel[2] * times
    if lo[0] < 0.0 < hi[0] and np.any((z_lo - 3.0 < camera_z) & (camera_z < z_hi + 3.0)):
        return False
    for other in placed:
        o_lo, o_hi, o_vel = (np.asarray(other[i], dtype=float) for i in range(3))
        if o_hi[0] < lo[0] or hi[0] < o_lo[0]:
            continue
        o_z_lo = o_lo[2] + o_vel[2] * times
        o_z_hi = o_hi[2] + o_vel[2] * times
        if np.any((z_lo < o_z_hi + 2.0) & (o_z_lo < z_hi + 2.0)):
            return False
    return True


def make_street_scene(params: SceneParams) -> Scene:
    """Build the deterministic street scene of `params` (same seed, same scene)."""
    rng = np.random.default_rng(params.seed)
    camera = CameraPath(params.camera_speed, params.turn_amplitude, params.turn_length)
    ground_y = params.camera_height
    travel = params.camera_speed * params.frames / params.rate_hz
    z_start, z_end = -20.0, travel + 150.0
    rows = _buildings(rng, z_start, z_end, ground_y) + _parked_cars(rng, z_start, z_end, ground_y)
    rows += _movers(rng, params, camera, ground_y)
    boxes = Boxes(lo=np.array([r[0] for r in rows], dtype=float),
                  hi=np.array([r[1] for r in rows], dtype=float),
                  velocity=np.array([r[2] for r in rows], dtype=float),
                  kind=np.array([r[3] for r in rows], dtype=np.int64),
                  colour=np.array([r[4] for r in rows], dtype=float),
                  texture_seed=rng.integers(0, 2**31 - 1, size=len(rows)))
    return Scene(params=params, boxes=boxes, camera=camera,
                 intrinsics=pinhole_intrinsics(params.width, params.height, params.hfov_deg))
