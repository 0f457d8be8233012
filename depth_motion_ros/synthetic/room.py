"""The room world: a closed room with furniture along its walls and some in the middle, a hand-held camera
walking about with pans, tilts and shake (6 degrees of freedom), and people walking through.

Internal world (paths.py): floor y = 0, ceiling y = -height, the room centred on x = z = 0. The camera
stays in the middle of the room, at least `WALL_ZONE` from the walls, where the furniture stands; people
walk laps in the free middle; free-standing furniture is only placed where neither comes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depth_motion_ros.synthetic.paths import PlanarPath, pitch_rotation, rigid, roll_rotation, yaw_rotation
from depth_motion_ros.synthetic.scene import (
    CEILING,
    FABRIC,
    FLOOR_TILE,
    FLOOR_WOOD,
    FOLIAGE,
    GLASS,
    METAL,
    PATTERN,
    PLASTER,
    WOOD,
    Box,
    CameraModel,
    Lighting,
    Mover,
    Scene,
    SceneParams,
    Wave,
    box_on_ground,
    pinhole_intrinsics,
)
from depth_motion_ros.synthetic.street import person_parts
from depth_motion_ros.synthetic.world_tools import (
    camera_sees,
    footprints_clear,
    frame_views,
    random_camera_model,
    spot_clear,
)

WALL_ZONE = 1.25            # furniture stands within this distance of the walls
MAX_PEOPLE = 3
TURN_RADIUS = 0.6           # of a person's U-turn: 1.0-1.6 m/s turn 10-15 degrees per frame at 10 Hz (a
                            # faster pivot changes the shading more than a warp can follow)

_WALL_PALETTE = np.array([[0.90, 0.88, 0.82], [0.80, 0.85, 0.88], [0.88, 0.80, 0.70], [0.70, 0.78, 0.70],
                          [0.95, 0.93, 0.90], [0.75, 0.65, 0.60]])
_WOOD_PALETTE = np.array([[0.55, 0.38, 0.22], [0.70, 0.55, 0.35], [0.35, 0.22, 0.12], [0.80, 0.70, 0.55]])
_FABRIC_PALETTE = np.array([[0.30, 0.35, 0.55], [0.60, 0.20, 0.20], [0.40, 0.55, 0.35], [0.70, 0.65, 0.55],
                            [0.25, 0.25, 0.28], [0.75, 0.55, 0.30]])


@dataclass(frozen=True)
class HandheldCamera:
    """A camera carried by a walking person: smooth wandering position, slow pans and tilts, and shake."""
    centre: tuple[float, float]
    x_wave: Wave
    z_wave: Wave
    eye_height: float
    bob: Wave
    yaw0: float
    yaw_wave: Wave
    pitch0: float
    pitch_wave: Wave
    roll_wave: Wave
    shake_rotation: tuple[Wave, Wave, Wave]
    shake_translation: tuple[Wave, Wave, Wave]

    def position(self, time: float | np.ndarray) -> np.ndarray:
        """[3] position at `time`, or [T, 3] at an array of times."""
        shake = np.stack([wave(time) for wave in self.shake_translation], axis=-1)
        position: np.ndarray = np.stack([self.centre[0] + self.x_wave(time), -self.eye_height - self.bob(time),
                                         self.centre[1] + self.z_wave(time)], axis=-1) + shake
        return position

    def pose(self, time: float) -> np.ndarray:
        yaw_shake, pitch_shake, roll_shake = (wave(time) for wave in self.shake_rotation)
        rotation = (yaw_rotation(float(self.yaw0 + self.yaw_wave(time) + yaw_shake))
                    @ pitch_rotation(float(self.pitch0 + self.pitch_wave(time) + pitch_shake))
                    @ roll_rotation(float(self.roll_wave(time) + roll_shake)))
        return rigid(rotation, self.position(time))

    def footprint(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """The person holding the camera: a 0.8 m square around it."""
        centres = self.position(np.asarray(times, dtype=float))[:, [0, 2]]
        return centres, np.zeros(len(times)), (0.4, 0.4)


def _handheld(rng: np.random.Generator, half_x: float, half_z: float) -> HandheldCamera:
    """The camera wanders in the near half of the middle of the room (z < 0; people walk in the far half),
    mostly looking towards +z; frequencies keep walking speeds under about 1 m/s, pans under about 50 deg/s."""
    free_z = half_z - WALL_ZONE
    reach_x, reach_z = 0.85 * (half_x - WALL_ZONE), 0.85 * 0.45 * free_z

    def walk(reach: float) -> Wave:
        return Wave.random(rng, reach, 0.02, min(0.25, 0.9 / (2 * math.pi * max(reach, 0.1))))

    def shake(amplitude: float) -> Wave:
        return Wave.random(rng, amplitude, 1.5, 6.0, terms=4)

    return HandheldCamera(
        centre=(0.0, -0.45 * free_z), x_wave=walk(reach_x), z_wave=walk(reach_z), eye_height=rng.uniform(1.2, 1.75),
        bob=Wave.random(rng, 0.02, 1.6, 2.0, terms=1), yaw0=rng.uniform(-1.0, 1.0),
        yaw_wave=Wave.random(rng, rng.uniform(0.6, 1.4), 0.02, 0.1),
        pitch0=rng.uniform(-0.1, 0.25), pitch_wave=Wave.random(rng, 0.15, 0.03, 0.25),
        roll_wave=Wave.random(rng, 0.05, 0.03, 0.3),
        shake_rotation=(shake(0.006), shake(0.006), shake(0.004)),
        shake_translation=(shake(0.004), shake(0.004), shake(0.004)))


def _shell(rng: np.random.Generator, half_x: float, half_z: float, height: float) -> list[Box]:
    """Floor, ceiling and four walls (thick boxes outside the interior)."""
    wall_colour = _WALL_PALETTE[rng.integers(len(_WALL_PALETTE))]
    seed = int(rng.integers(2**24))
    floor_material = FLOOR_WOOD if rng.random() < 0.6 else FLOOR_TILE
    floor_colour = (_WOOD_PALETTE[rng.integers(len(_WOOD_PALETTE))] if floor_material == FLOOR_WOOD
                    else np.array([0.75, 0.72, 0.68]) * rng.uniform(0.6, 1.1))
    t = 0.2
    boxes = [Box((0.0, t / 2, 0.0), (half_x + t, t / 2, half_z + t), floor_material, tuple(floor_colour), seed),
             Box((0.0, -height - t / 2, 0.0), (half_x + t, t / 2, half_z + t), CEILING, (0.92, 0.92, 0.9), seed + 1)]
    for k, (centre, half) in enumerate((((half_x + t / 2, -height / 2, 0.0), (t / 2, height / 2 + t, half_z + t)),
                                        ((-half_x - t / 2, -height / 2, 0.0), (t / 2, height / 2 + t, half_z + t)),
                                        ((0.0, -height / 2, half_z + t / 2), (half_x + t, height / 2 + t, t / 2)),
                                        ((0.0, -height / 2, -half_z - t / 2), (half_x + t, height / 2 + t, t / 2)))):
        colour = wall_colour if rng.random() < 0.75 else _WALL_PALETTE[rng.integers(len(_WALL_PALETTE))]
        boxes.append(Box(centre, half, PLASTER, tuple(colour), seed + 2 + k))
    return boxes


def _item(rng: np.random.Generator, width: float, height_limit: float) -> tuple[list[Box], float]:
    """A piece of furniture built facing -z with its back at z = 0 (against a wall): (parts, depth)."""
    wood = tuple(_WOOD_PALETTE[rng.integers(len(_WOOD_PALETTE))] * rng.uniform(0.85, 1.15))
    fabric = tuple(_FABRIC_PALETTE[rng.integers(len(_FABRIC_PALETTE))])
    seed = int(rng.integers(2**24))
    kind = rng.choice(["shelf", "cabinet", "sofa", "table", "bed", "plant"], p=[0.25, 0.2, 0.15, 0.2, 0.1, 0.1])
    if kind == "shelf":
        depth, height = rng.uniform(0.3, 0.45), min(rng.uniform(1.5, 2.3), height_limit - 0.2)
        parts = [box_on_ground(0.0, -depth / 2, width, height, depth, WOOD, wood, seed)]
        for shelf in range(1, int(height / 0.4)):   # rows of books standing out of the shelf's front
            parts.append(box_on_ground(0.0, -depth - 0.03, width * 0.9, 0.28, 0.06, PATTERN, fabric, seed + shelf,
                                       base=shelf * 0.4 - 0.34))
        return parts, depth + 0.06
    if kind == "cabinet":
        depth, height = rng.uniform(0.4, 0.6), rng.uniform(0.7, 1.1)
        parts = [box_on_ground(0.0, -depth / 2, width, height, depth, WOOD, wood, seed)]
        if rng.random() < 0.6:   # something on top
            parts.append(box_on_ground(rng.uniform(-0.3, 0.3) * width, -depth / 2, 0.3, rng.uniform(0.2, 0.5),
                                       0.25, PATTERN, fabric, seed + 1, base=height))
        return parts, depth
    if kind == "sofa":
        depth = rng.uniform(0.8, 0.95)
        parts = [box_on_ground(0.0, -depth / 2, width, 0.45, depth, FABRIC, fabric, seed),
                 box_on_ground(0.0, -0.12, width, 0.85, 0.24, FABRIC, fabric, seed)]
        for k in range(max(1, int(width / 0.7))):
            x = -width / 2 + (k + 0.5) * width / max(1, int(width / 0.7))
            parts.append(box_on_ground(x, -0.35, 0.45, 0.4, 0.15, PATTERN, fabric, seed + 3 + k, base=0.45))
        return parts, depth
    if kind == "table":
        depth, height = rng.uniform(0.6, 0.9), rng.uniform(0.7, 0.78)
        parts = [box_on_ground(0.0, -depth / 2, width, 0.04, depth, WOOD, wood, seed, base=height - 0.04)]
        for sx in (-1, 1):
            for sz in (0, 1):
                parts.append(box_on_ground(sx * (width / 2 - 0.05), -0.05 - sz * (depth - 0.1), 0.05, height - 0.04,
                                           0.05, WOOD, wood, seed))
        if rng.random() < 0.7:
            parts.append(box_on_ground(rng.uniform(-0.3, 0.3) * width, -depth / 2, rng.uniform(0.2, 0.4),
                                       rng.uniform(0.05, 0.35), rng.uniform(0.2, 0.3), PATTERN, fabric, seed + 1,
                                       base=height))
        return parts, depth
    if kind == "bed":
        depth = rng.uniform(1.0, 1.2)
        return [box_on_ground(0.0, -depth / 2, width, 0.5, depth, PATTERN, fabric, seed),
                box_on_ground(0.0, -0.05, width, 1.0, 0.1, WOOD, wood, seed + 1)], depth
    pot = rng.uniform(0.3, 0.45)
    return [box_on_ground(0.0, -0.3, pot, 0.4, pot, METAL, (0.6, 0.35, 0.25), seed),
            box_on_ground(0.0, -0.3, pot * 1.6, rng.uniform(0.6, 1.2), pot * 1.6, FOLIAGE, (0.2, 0.45, 0.18), seed + 1,
                          base=0.4)], 0.6


def _place_on_wall(parts: list[Box], wall: int, along: float, half_x: float, half_z: float) -> list[Box]:
    """Move parts built against z = 0 facing -z to a wall: 0 far (+z), 1 near (-z), 2 right (+x), 3 left."""
    yaw = (0.0, math.pi, math.pi / 2, -math.pi / 2)[wall]
    anchor = ((along, half_z), (along, -half_z), (half_x, along), (-half_x, along))[wall]
    rotation = yaw_rotation(yaw)
    placed = []
    for part in parts:
        centre = rotation @ np.asarray(part.centre)
        half = part.half if wall < 2 else (part.half[2], part.half[1], part.half[0])
        placed.append(Box((anchor[0] + centre[0], centre[1], anchor[1] + centre[2]), half, part.material,
                          part.colour, part.seed, part.yaw))
    return placed


def _furnish_walls(rng: np.random.Generator, half_x: float, half_z: float, height: float) -> list[Box]:
    boxes = []
    for wall in range(4):
        half = half_x if wall < 2 else half_z
        position = -half + rng.uniform(0.0, 0.6)
        while position < half - 0.5:
            width = min(rng.uniform(0.6, 2.2), half - position - 0.05)
            if rng.random() < 0.7 and width > 0.4:
                parts, _ = _item(rng, width, height)
                boxes += _place_on_wall(parts, wall, position + width / 2, half_x, half_z)
            position += width + rng.uniform(0.05, 0.8)
        for _ in range(rng.integers(1, 4)):    # pictures, posters, a door or a window on the wall
            width, tall = rng.uniform(0.4, 1.4), rng.uniform(0.4, 1.2)
            base = rng.uniform(1.0, max(1.05, height - tall - 0.2))
            material, colour = PATTERN, tuple(rng.uniform(0.2, 0.9, 3))
            if rng.random() < 0.25:
                width, tall, base, material, colour = 0.9, 2.05, 0.0, WOOD, tuple(_WOOD_PALETTE[rng.integers(4)])
            elif rng.random() < 0.2:
                material, colour = GLASS, (0.5, 0.6, 0.7)
            along = rng.uniform(-half + width, half - width) if half > width + 0.1 else 0.0
            boxes += _place_on_wall([box_on_ground(0.0, -0.02, width, tall, 0.03, material, colour,
                                                   int(rng.integers(2**24)), base=base)], wall, along, half_x, half_z)
    return boxes


def _people(rng: np.random.Generator, params: SceneParams, camera: HandheldCamera, intrinsics: np.ndarray,
            half_x: float, half_z: float) -> list[Mover]:
    """People walking laps (out, a U-turn, back) across the far half of the middle of the room, never into
    the camera."""
    movers: list[Mover] = []
    views = frame_views(camera, params)
    for _ in range(min(params.movers, MAX_PEOPLE)):
        for _attempt in range(60):
            length = 2 * (half_x - WALL_ZONE - TURN_RADIUS)
            free_z = half_z - WALL_ZONE
            lowest, highest = -0.07 * free_z + 1.1, free_z - 0.35 - 2 * TURN_RADIUS
            if length < 1.0 or highest < lowest:
                break
            path = PlanarPath((-half_x + WALL_ZONE + TURN_RADIUS, rng.uniform(lowest, highest)), math.pi / 2)
            laps = int(params.duration * 1.6 / (2 * length)) + 2
            for _lap in range(laps):   # left turns: towards +z, then back
                path.straight(length).turn(TURN_RADIUS, -math.pi).straight(length).turn(TURN_RADIUS, -math.pi)
            speed = rng.uniform(1.0, 1.6)
            mover = Mover("person", tuple(person_parts(rng)), path, speed, rng.uniform(0.0, 2 * length), 0.2, 0.3)
            if camera_sees(views, mover, intrinsics, params, nearest=0.6, farthest=15.0) and \
                    footprints_clear(mover, movers, camera, params):
                movers.append(mover)
                break
    return movers


def _free_standing(rng: np.random.Generator, params: SceneParams, camera: HandheldCamera, movers: list[Mover],
                   half_x: float, half_z: float) -> list[Box]:
    """A table, chairs, plants or boxes in the middle, wherever neither the camera nor a person comes."""
    boxes = []
    for _ in range(rng.integers(2, 6)):
        width = rng.uniform(0.4, 1.4)
        parts, depth = _item(rng, width, 2.0)
        x = rng.uniform(-half_x + WALL_ZONE, half_x - WALL_ZONE)
        z = rng.uniform(-half_z + WALL_ZONE, half_z - WALL_ZONE)
        if not spot_clear((x, z), (depth / 2, width / 2), movers, camera, params):
            continue
        for part in parts:   # built against z = 0 facing -z: centre it on (x, z)
            cx, cy, cz = part.centre
            boxes.append(Box((x + cx, cy, z + cz + depth / 2), part.half, part.material, part.colour, part.seed))
    return boxes


def build_room(params: SceneParams) -> Scene:
    """Build the deterministic room world of `params` (same seed, same room)."""
    rng = np.random.default_rng(params.seed)
    half_x, half_z = rng.uniform(2.5, 4.5), rng.uniform(3.8, 7.0)
    height = rng.uniform(2.4, 3.2)
    camera = _handheld(rng, half_x, half_z)
    intrinsics = pinhole_intrinsics(params.width, params.height, params.hfov_deg)
    static = _shell(rng, half_x, half_z, height) + _furnish_walls(rng, half_x, half_z, height)
    if rng.random() < 0.6:   # a rug: 1 cm above the floor, so never coplanar with it
        static.append(box_on_ground(0.0, 0.0, 2 * (half_x - WALL_ZONE), 0.01, 2 * (half_z - WALL_ZONE), PATTERN,
                                    tuple(rng.uniform(0.2, 0.8, 3)), int(rng.integers(2**24))))
    movers = _people(rng, params, camera, intrinsics, half_x, half_z)
    static += _free_standing(rng, params, camera, movers, half_x, half_z)
    effects = params.camera_effects
    window = np.array([rng.uniform(-1.0, 1.0), -rng.uniform(0.3, 0.8), rng.uniform(-1.0, 1.0)])
    lighting = Lighting(direction=tuple(window / np.linalg.norm(window)), ambient=rng.uniform(0.5, 0.7),
                        exposure_wave=Wave.random(rng, 0.15 if effects else 0.0, 0.05, 0.5),
                        light_wave=Wave.random(rng, 0.1 if effects else 0.0, 0.05, 0.5),
                        base_exposure=rng.uniform(0.9, 1.15))
    return Scene(params=params, static=tuple(static), movers=tuple(movers), camera=camera, intrinsics=intrinsics,
                 lighting=lighting, camera_model=random_camera_model(rng) if effects else CameraModel(), sky=False)
