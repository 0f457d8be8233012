"""What a rendered world is: static boxes, rigid movers on planar paths, a camera trajectory, the light.

Generators (`street.py`, `room.py`) build a `Scene` in their internal world frame (paths.py: x right, y down,
z forward, ground at y = 0). Everything is made of boxes: a box's faces are planes, so the renderer's
per-pixel depth (an affine function of the surface point) is exact, and a mover is rigid, so its per-pixel
motion is an affine function of the surface point too. The poses handed out (`Scene.pose`) are expressed in
the optical frame of the camera at time 0, the convention of the sequence folders and bags.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from depth_motion_ros.synthetic.paths import PlanarPath, rigid, yaw_rotation

WORLDS = ("street", "room")
STREET_MOVER_KINDS = ("crossing", "oncoming", "turning", "parallel", "pedestrian")

# Surface materials (the fragment shader's procedural textures, shaders.py).
GROUND, FACADE, CAR_PAINT, GLASS, RUBBER, FABRIC, SKIN, BARK, FOLIAGE, METAL = range(10)
PLASTER, FLOOR_WOOD, FLOOR_TILE, WOOD, PATTERN, CEILING = range(10, 16)


@dataclass(frozen=True)
class SceneParams:
    """What a user may choose about a rendered world (everything else follows from `seed`)."""
    width: int = 416
    height: int = 128
    frames: int = 60
    rate_hz: float = 10.0
    world: str = "street"
    movers: int = 10                 # street: vehicles and pedestrians; room: people (at most 3 fit)
    camera_speed: float = 15.0       # street: fastest cruise speed, m/s (each straight drives at 55-100 %)
    mover_speed: float = 8.0         # street: typical speed of a moving car, m/s (each varies +-40 %)
    hfov_deg: float = 80.0
    camera_height: float = 1.6       # street: m above the ground (the camera stays level)
    camera_effects: bool = True      # exposure and lighting changes, sensor noise, JPEG compression
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
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {WORLDS}, got {self.world!r}")

    @property
    def duration(self) -> float:
        """Seconds from the first frame to one frame past the last (the last frame's motion needs it)."""
        return self.frames / self.rate_hz


@dataclass(frozen=True)
class Box:
    """A box: centre, half extents along its own axes, a yaw about y; one material, colour and texture seed."""
    centre: tuple[float, float, float]
    half: tuple[float, float, float]
    material: int
    colour: tuple[float, float, float]
    seed: int
    yaw: float = 0.0


def box_on_ground(x: float, z: float, width: float, height: float, length: float, material: int,
                  colour, seed: int, yaw: float = 0.0, base: float = 0.0) -> Box:
    """A box standing on the plane y = -base (x, z: centre of its footprint)."""
    return Box((x, -base - height / 2.0, z), (width / 2.0, height / 2.0, length / 2.0), material,
               (float(colour[0]), float(colour[1]), float(colour[2])), int(seed), yaw)


@dataclass(frozen=True)
class Mover:
    """A rigid object driving or walking along `path` at constant `speed`, facing along the path.

    Its parts are in its own frame (x right, y down, z forward, ground at y = 0); `start` is the arc length
    at time 0 (negative: it reaches the path's origin later). `half_length`, `half_width` bound its footprint.
    """
    kind: str
    parts: tuple[Box, ...]
    path: PlanarPath
    speed: float
    start: float
    half_length: float
    half_width: float

    def ground_states(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, z, yaw) of the mover's origin at `times`."""
        return self.path.at(self.start + self.speed * np.asarray(times, dtype=float))

    def pose(self, time: float) -> np.ndarray:
        """4x4 mover-to-world transform at `time` seconds."""
        x, z, yaw = self.ground_states(np.array([time]))
        return rigid(yaw_rotation(float(yaw[0])), (float(x[0]), 0.0, float(z[0])))


class CameraTrajectory(Protocol):
    """Anything that gives a camera-to-world pose (optical frame, internal world) at any time."""

    def pose(self, time: float) -> np.ndarray: ...


@dataclass(frozen=True)
class Wave:
    """A smooth random signal: a sum of sinusoids (amplitudes, angular frequencies, phases)."""
    amplitude: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, amplitude: float, lowest_hz: float, highest_hz: float,
               terms: int = 3) -> Wave:
        weights = rng.uniform(0.5, 1.0, terms)
        return cls(amplitude * weights / weights.sum(), 2.0 * math.pi * rng.uniform(lowest_hz, highest_hz, terms),
                   rng.uniform(0.0, 2.0 * math.pi, terms))

    def __call__(self, time: float | np.ndarray) -> float | np.ndarray:
        """The signal at `time` (seconds, a float or an array of them)."""
        value = np.sin(np.multiply.outer(np.asarray(time, dtype=float), self.frequency) + self.phase) @ self.amplitude
        return float(value) if np.ndim(value) == 0 else value


@dataclass(frozen=True)
class Lighting:
    """A directional light (the sun, or a room's windows) and an ambient term, and how they and the
    exposure change.

    `exposure(t)` and `light(t)` are exp of smooth random waves: an auto-exposure drifting, and clouds or
    lamps dimming; both change every frame a little, as on a real camera. Why no point lights: a lamp near
    a walking person changes its shading by tens of grey levels per frame, which no warp can explain.
    """
    direction: tuple[float, float, float]   # towards the light, world, unit
    ambient: float
    exposure_wave: Wave
    light_wave: Wave
    base_exposure: float = 1.0

    def exposure(self, time: float) -> float:
        return self.base_exposure * math.exp(self.exposure_wave(time))

    def light(self, time: float) -> float:
        return math.exp(self.light_wave(time))


@dataclass(frozen=True)
class CameraModel:
    """Sensor noise (read and shot, in 8-bit units) and JPEG quality (0: none) of the rendered camera."""
    read_noise: float = 0.0
    shot_noise: float = 0.0
    jpeg_quality: int = 0


@dataclass(frozen=True)
class Scene:
    """Everything the renderer needs. `camera.pose` is in the internal world; `Scene.pose` re-expresses it."""
    params: SceneParams
    static: tuple[Box, ...]
    movers: tuple[Mover, ...]
    camera: CameraTrajectory
    intrinsics: np.ndarray            # 3x3, pixels
    lighting: Lighting
    camera_model: CameraModel = CameraModel()
    sky: bool = True
    roads_x: tuple[float, ...] = ()   # street: x of the roads along z (the ground shader draws them)
    roads_z: tuple[float, ...] = ()   # street: z of the roads along x
    origin: np.ndarray = field(init=False, repr=False)  # internal pose of the camera at time 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", np.asarray(self.camera.pose(0.0), dtype=float))

    def time(self, index: int) -> float:
        """Timestamp (s) of frame `index`."""
        return index / self.params.rate_hz

    def internal_pose(self, time: float) -> np.ndarray:
        return np.asarray(self.camera.pose(time), dtype=float)

    def pose(self, time: float) -> np.ndarray:
        """Camera-to-world pose at `time`, world = the optical frame of the camera at time 0."""
        return np.linalg.solve(self.origin, self.internal_pose(time))

    @property
    def mover_kinds(self) -> list[str]:
        return [mover.kind for mover in self.movers]


def pinhole_intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Square-pixel pinhole with the principal point at the image centre (pixel centres at integers)."""
    fx = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fx, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def make_scene(params: SceneParams) -> Scene:
    """The world `params.world` names, built deterministically from `params.seed`."""
    if params.world == "room":
        from depth_motion_ros.synthetic.room import build_room
        return build_room(params)
    return make_street_scene(params)


def make_street_scene(params: SceneParams) -> Scene:
    """The street world of `params` (whatever `params.world` says)."""
    from depth_motion_ros.synthetic.street import build_street
    return build_street(params)
