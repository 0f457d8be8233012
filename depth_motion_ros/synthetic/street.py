"""The street world: a grid of roads and city blocks, a camera car that turns at junctions, stops and
starts, and traffic in every direction (crossing, oncoming, turning, parallel) plus pedestrians.

Layout (internal world, paths.py): roads along z at x in `roads_x`, roads along x at z in `roads_z`, each
`ROAD_HALF_WIDTH` to either side of its centre line: two lanes each way (lane centres `INNER_LANE` and
`OUTER_LANE` to the right of the centre line; right-hand traffic), a parking strip, then the sidewalk up
to `SIDEWALK_TO`, then buildings. The camera drives in the inner lane. Why movers in every direction: a
mover driving along the camera's road moves mostly along epipolar lines, where one camera cannot tell its
motion from a depth error; crossing and turning traffic and pedestrians move across them.
"""
from __future__ import annotations

import math

import numpy as np

from depth_motion_ros.synthetic.paths import PlanarPath, drive, heading, right_of
from depth_motion_ros.synthetic.scene import (
    BARK,
    CAR_PAINT,
    FABRIC,
    FACADE,
    FOLIAGE,
    GLASS,
    GROUND,
    METAL,
    RUBBER,
    SKIN,
    STREET_MOVER_KINDS,
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
from depth_motion_ros.synthetic.world_tools import (
    DriveCamera,
    camera_sees,
    footprints_clear,
    frame_views,
    random_camera_model,
)

ROAD_HALF_WIDTH = 8.2
INNER_LANE = 1.7
OUTER_LANE = 5.0
PARKING = 7.2
SIDEWALK_TO = 11.2
BUILDING_FROM = 11.6
JUNCTION_CLEAR = 15.0       # no parked cars or street furniture this close to a junction centre
MAX_YAW_RATE = math.radians(30.0)

_BUILDING_PALETTE = np.array([[0.72, 0.52, 0.40], [0.80, 0.76, 0.66], [0.55, 0.58, 0.62], [0.70, 0.62, 0.48],
                              [0.62, 0.42, 0.36], [0.85, 0.82, 0.78], [0.45, 0.40, 0.38], [0.78, 0.70, 0.55]])
_CAR_PALETTE = np.array([[0.75, 0.12, 0.10], [0.12, 0.25, 0.65], [0.85, 0.85, 0.85], [0.15, 0.15, 0.15],
                         [0.90, 0.70, 0.10], [0.20, 0.55, 0.30], [0.55, 0.55, 0.60], [0.45, 0.20, 0.45]])
_CLOTHES_PALETTE = np.array([[0.15, 0.18, 0.35], [0.60, 0.15, 0.15], [0.85, 0.80, 0.70], [0.20, 0.20, 0.22],
                             [0.30, 0.50, 0.30], [0.80, 0.55, 0.20], [0.55, 0.55, 0.60], [0.10, 0.35, 0.60]])
_SKIN_PALETTE = np.array([[0.87, 0.70, 0.58], [0.70, 0.50, 0.38], [0.45, 0.31, 0.22], [0.95, 0.80, 0.68]])


def _grid(rng: np.random.Generator, first: float, low: float, high: float, extent: float) -> tuple[float, ...]:
    """Road centre lines: `first`, then gaps of `low`-`high` metres both ways out to +-`extent`."""
    lines = [first]
    while lines[-1] < extent:
        lines.append(lines[-1] + rng.uniform(low, high))
    while lines[0] > -extent:
        lines.insert(0, lines[0] - rng.uniform(low, high))
    return tuple(lines)


class StreetGrid:
    """The road network: junction look-ups along a heading that is a multiple of 90 degrees."""

    def __init__(self, roads_x: tuple[float, ...], roads_z: tuple[float, ...]) -> None:
        self.roads_x = np.asarray(roads_x)
        self.roads_z = np.asarray(roads_z)

    def road_line(self, point: np.ndarray, yaw: float) -> tuple[np.ndarray, float]:
        """The centre line (a point on it) of the road a car at `point` heading `yaw` drives on, and the
        heading snapped to the road."""
        snapped = round(yaw / (math.pi / 2)) * (math.pi / 2)
        forward = np.round(heading(snapped))
        if forward[1] != 0:   # along z: the road is at one of roads_x
            x = self.roads_x[np.argmin(np.abs(self.roads_x - point[0]))]
            return np.array([x, point[1]]), snapped
        z = self.roads_z[np.argmin(np.abs(self.roads_z - point[1]))]
        return np.array([point[0], z]), snapped

    def junctions_ahead(self, point: np.ndarray, yaw: float, beyond: float = 0.0) -> list[tuple[np.ndarray, float]]:
        """(junction centre, distance along the heading) of the junctions ahead, nearest first."""
        centre, snapped = self.road_line(point, yaw)
        forward = np.round(heading(snapped))
        if forward[1] != 0:
            along = (self.roads_z - point[1]) * forward[1]
            junctions = [np.array([centre[0], z]) for z in self.roads_z]
        else:
            along = (self.roads_x - point[0]) * forward[0]
            junctions = [np.array([x, centre[1]]) for x in self.roads_x]
        order = np.argsort(along)
        return [(junctions[i], float(along[i])) for i in order if along[i] > beyond]


def turn_arc(junction: np.ndarray, yaw: float, sign: int, lane: float, radius: float) -> np.ndarray:
    """Start point of a 90-degree turn (`sign` +1 right, -1 left) from the lane `lane` metres right of the
    centre line onto the same lane of the crossing road.

    The lane lines meet at the corner J + lane (r - sign h); the arc of `radius` is tangent to both.
    """
    h, r = heading(yaw), right_of(yaw)
    corner = junction + lane * r - sign * lane * h
    return corner - radius * h


def _route(rng: np.random.Generator, grid: StreetGrid, start: np.ndarray, yaw: float, needed: float
           ) -> tuple[PlanarPath, list[tuple[float, float, float]], list[tuple[float, float]]]:
    """The camera's route: straight through or turning at each junction (the first one usually turns),
    with the speed limits of the arcs and a few stops before junctions."""
    path = PlanarPath((float(start[0]), float(start[1])), yaw)
    limits: list[tuple[float, float, float]] = []
    stops: list[tuple[float, float]] = []
    first = True
    while path.length < needed:
        point, current = path.end
        ahead = grid.junctions_ahead(point, current, beyond=ROAD_HALF_WIDTH + 2.0)
        junction, _ = ahead[0]
        turn_probability = 0.75 if first else 0.5
        first = False
        stop_before = rng.random() < 0.3
        if rng.random() < turn_probability:
            sign = 1 if rng.random() < 0.5 else -1
            radius = rng.uniform(5.5, 6.5) if sign > 0 else rng.uniform(8.5, 9.9)
            arc_start = turn_arc(junction, current, sign, INNER_LANE, radius)
            approach = float(np.dot(arc_start - point, heading(current)))
            if stop_before:
                stops.append((path.length + approach - 2.0, rng.uniform(0.5, 2.5)))
            path.straight(approach)
            arc_from = path.length
            path.turn(radius, sign * math.pi / 2)
            limits.append((arc_from, path.length, rng.uniform(0.7, 1.0) * MAX_YAW_RATE * radius))
            path.straight(ROAD_HALF_WIDTH + 4.0)
        else:
            through = float(np.dot(junction - point, heading(current)))
            if stop_before:
                stops.append((path.length + through - ROAD_HALF_WIDTH - 3.0, rng.uniform(0.5, 2.5)))
            path.straight(through + ROAD_HALF_WIDTH + 4.0)
    return path, limits, stops


def _building_colour(rng: np.random.Generator) -> np.ndarray:
    return np.asarray(np.clip(_BUILDING_PALETTE[rng.integers(len(_BUILDING_PALETTE))] * rng.uniform(0.8, 1.15), 0, 1))


def _blocks(rng: np.random.Generator, grid: StreetGrid, lo: np.ndarray, hi: np.ndarray) -> list[Box]:
    """Buildings along the four sides of every block that meets the rectangle [lo, hi] (x, z)."""
    boxes = []
    xs, zs = grid.roads_x, grid.roads_z
    for i in range(len(xs) - 1):
        for j in range(len(zs) - 1):
            x0, x1 = xs[i] + BUILDING_FROM, xs[i + 1] - BUILDING_FROM
            z0, z1 = zs[j] + BUILDING_FROM, zs[j + 1] - BUILDING_FROM
            if x1 < lo[0] or x0 > hi[0] or z1 < lo[1] or z0 > hi[1]:
                continue
            for side in range(4):
                along_lo, along_hi = (z0, z1) if side < 2 else (x0, x1)
                position = along_lo
                while position < along_hi - 3.0:
                    length = min(rng.uniform(8.0, 24.0), along_hi - position)
                    gap = rng.uniform(0.0, 1.0) if rng.random() < 0.7 else rng.uniform(2.0, 6.0)
                    depth = rng.uniform(8.0, 16.0)
                    setback = rng.uniform(0.0, 2.5)
                    height = rng.uniform(5.0, 32.0) if rng.random() < 0.85 else rng.uniform(3.0, 5.0)
                    middle = position + length / 2
                    edge = (x0, x1, z0, z1)[side]
                    inward = 1.0 if side in (0, 2) else -1.0
                    across = edge + inward * (setback + depth / 2)
                    if side < 2:
                        box = box_on_ground(across, middle, depth, height, length, FACADE,
                                            _building_colour(rng), int(rng.integers(2**24)))
                    else:
                        box = box_on_ground(middle, across, length, height, depth, FACADE,
                                            _building_colour(rng), int(rng.integers(2**24)))
                    boxes.append(box)
                    position += length + gap
    return boxes


def _kerbside(rng: np.random.Generator, grid: StreetGrid, lo: np.ndarray, hi: np.ndarray) -> list[Box]:
    """Parked cars along the kerbs and street furniture (lamp posts, trees) on the sidewalks."""
    boxes = []
    for along_z, lines, crossing in ((True, grid.roads_x, grid.roads_z), (False, grid.roads_z, grid.roads_x)):
        for centre in lines:
            if not (lo[0] <= centre <= hi[0] if along_z else lo[1] <= centre <= hi[1]):
                continue
            span = (lo[1], hi[1]) if along_z else (lo[0], hi[0])
            for side in (-1.0, 1.0):
                position = span[0] + rng.uniform(0.0, 8.0)
                while position < span[1]:
                    length, width, height = _car_size(rng, vans=False)
                    if np.min(np.abs(crossing - position)) > JUNCTION_CLEAR + length and rng.random() < 0.75:
                        boxes += _placed(_car_parts(rng, length, width, height), centre + side * PARKING, position,
                                         along_z, flip=side < 0)
                    position += length + rng.uniform(1.0, 12.0)
                position = span[0] + rng.uniform(0.0, 20.0)
                while position < span[1]:
                    if np.min(np.abs(crossing - position)) > JUNCTION_CLEAR:
                        offset = centre + side * rng.uniform(10.3, 10.7)
                        boxes += _placed(_furniture(rng), offset, position, along_z, flip=False)
                    position += rng.uniform(12.0, 35.0)
    return boxes


def _placed(parts: list[Box], across: float, along: float, along_z: bool, flip: bool) -> list[Box]:
    """Parts built facing +z at the origin, moved to a kerbside spot (turned 90 degrees for x roads)."""
    placed = []
    for part in parts:
        cx, cy, cz = part.centre
        if flip:
            cx, cz = -cx, -cz
        half = part.half
        if along_z:
            centre = (across + cx, cy, along + cz)
        else:
            centre, half = (along + cz, cy, across - cx), (half[2], half[1], half[0])
        placed.append(Box(centre, half, part.material, part.colour, part.seed, part.yaw))
    return placed


def _car_size(rng: np.random.Generator, vans: bool = True) -> tuple[float, float, float]:
    """(length, width, height) of a car or, one time in five, a van."""
    if vans and rng.random() < 0.2:
        return rng.uniform(5.0, 6.5), rng.uniform(2.0, 2.3), rng.uniform(2.2, 2.8)
    return rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.95), rng.uniform(1.4, 1.7)


def _car_parts(rng: np.random.Generator, length: float, width: float, height: float) -> list[Box]:
    """A car facing +z in its own frame: body, glass cabin and four wheels."""
    paint = tuple(np.clip(_CAR_PALETTE[rng.integers(len(_CAR_PALETTE))] * rng.uniform(0.85, 1.1), 0, 1))
    seed = int(rng.integers(2**24))
    body_top = 0.6 * height
    cabin_length = length * rng.uniform(0.45, 0.6)
    parts = [box_on_ground(0.0, 0.0, width, body_top - 0.25, length, CAR_PAINT, paint, seed, base=0.25),
             box_on_ground(0.0, -0.05 * length, width * 0.86, height - body_top, cabin_length, GLASS,
                           (0.2, 0.25, 0.3), seed + 1, base=body_top)]
    wheel = 0.33
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(box_on_ground(sx * (width / 2 - 0.12), sz * (length / 2 - 0.75), 0.22, 2 * wheel,
                                       2 * wheel, RUBBER, (0.06, 0.06, 0.06), seed + 2))
    return parts


def person_parts(rng: np.random.Generator) -> list[Box]:
    """A pedestrian facing +z: legs, torso with arms, head."""
    height = rng.uniform(1.5, 1.95)
    legs = 0.47 * height
    torso = 0.33 * height
    seed = int(rng.integers(2**24))
    trousers = tuple(_CLOTHES_PALETTE[rng.integers(len(_CLOTHES_PALETTE))])
    top = tuple(_CLOTHES_PALETTE[rng.integers(len(_CLOTHES_PALETTE))])
    skin = tuple(_SKIN_PALETTE[rng.integers(len(_SKIN_PALETTE))])
    return [box_on_ground(0.0, 0.0, 0.36, legs, 0.24, FABRIC, trousers, seed),
            box_on_ground(0.0, 0.0, 0.5, torso, 0.28, FABRIC, top, seed + 1, base=legs),
            box_on_ground(0.0, 0.0, 0.2, height - legs - torso, 0.23, SKIN, skin, seed + 2, base=legs + torso)]


def _furniture(rng: np.random.Generator) -> list[Box]:
    """A lamp post or a tree, built at the origin."""
    seed = int(rng.integers(2**24))
    if rng.random() < 0.5:
        height = rng.uniform(4.0, 6.0)
        return [box_on_ground(0.0, 0.0, 0.16, height, 0.16, METAL, (0.35, 0.37, 0.4), seed),
                box_on_ground(0.0, 0.0, 0.35, 0.2, 0.6, METAL, (0.8, 0.8, 0.7), seed + 1, base=height)]
    trunk = rng.uniform(2.3, 3.2)
    crown = rng.uniform(1.8, 3.2)
    return [box_on_ground(0.0, 0.0, 0.3, trunk + 0.3, 0.3, BARK, (0.35, 0.25, 0.18), seed),
            box_on_ground(0.0, 0.0, crown, crown * rng.uniform(0.8, 1.3), crown, FOLIAGE,
                          (0.22, 0.42, 0.16) * rng.uniform(0.8, 1.2, 3), seed + 1, base=trunk)]


def _mover_kinds(rng: np.random.Generator, count: int) -> list[str]:
    """Every kind once (shuffled) while `count` allows, then kinds drawn by how common they are."""
    base = list(STREET_MOVER_KINDS)
    rng.shuffle(base)
    extra = rng.choice(STREET_MOVER_KINDS, size=max(count - len(base), 0), p=[0.25, 0.2, 0.2, 0.1, 0.25])
    return (base + [str(kind) for kind in extra])[:count]


def _propose(rng: np.random.Generator, kind: str, params: SceneParams, grid: StreetGrid, camera: DriveCamera
             ) -> Mover | None:
    """One candidate mover of `kind`, placed relative to where the camera is at a random moment so that it
    is in view then; None when the camera has no junction near enough for the kind."""
    seen_at = rng.uniform(0.0, 0.8 * params.duration)
    x, z, yaw = camera.ground_state(seen_at)
    centre, road_yaw = grid.road_line(np.array([x, z]), yaw)
    h, r = heading(road_yaw), right_of(road_yaw)
    ahead = [(j, d) for j, d in grid.junctions_ahead(np.array([x, z]), road_yaw) if 12.0 < d < 70.0]
    is_car = kind in ("crossing", "oncoming", "turning", "parallel")
    if is_car:
        length, width, height = _car_size(rng)
        parts = _car_parts(rng, length, width, height)
        half_length, half_width = length / 2, width / 2
    else:
        parts = person_parts(rng)
        half_length, half_width = 0.2, 0.3
    position = np.array([x, z])
    lateral = float(np.dot(position - centre, r))
    on_road = position - lateral * r
    if kind == "oncoming":
        lane = OUTER_LANE if rng.random() < 0.4 else INNER_LANE
        origin, direction = on_road - lane * r + rng.uniform(12.0, 60.0) * h, road_yaw + math.pi
        speed, pass_at = params.mover_speed * rng.uniform(0.6, 1.4), seen_at
        path = PlanarPath((float(origin[0]), float(origin[1])), direction).straight(1.0)
        return Mover(kind, tuple(parts), path, speed, -speed * pass_at, half_length, half_width)
    if kind == "parallel":
        origin = on_road + OUTER_LANE * r + rng.uniform(8.0, 40.0) * h
        speed = params.mover_speed * rng.uniform(0.5, 1.4)
        path = PlanarPath((float(origin[0]), float(origin[1])), road_yaw).straight(1.0)
        return Mover(kind, tuple(parts), path, speed, -speed * seen_at, half_length, half_width)
    if kind == "pedestrian" and (not ahead or rng.random() < 0.4):
        side = 1.0 if rng.random() < 0.5 else -1.0
        origin = on_road + side * rng.uniform(8.8, 9.6) * r + rng.uniform(5.0, 40.0) * h
        direction = road_yaw if rng.random() < 0.5 else road_yaw + math.pi
        speed = rng.uniform(1.1, 1.9)
        path = PlanarPath((float(origin[0]), float(origin[1])), direction).straight(1.0)
        return Mover(kind, tuple(parts), path, speed, -speed * seen_at, half_length, half_width)
    if not ahead:
        return None
    junction, _ = ahead[rng.integers(min(len(ahead), 2))]
    pass_at = seen_at + rng.uniform(-1.0, 1.0)
    if kind == "pedestrian":        # along the sidewalk, over a crosswalk, on along the far sidewalk
        if rng.random() < 0.5:      # the crosswalk across the camera's road, before or after the junction
            middle, across = junction - rng.choice([-1.0, 1.0]) * 10.5 * h, road_yaw + rng.choice([0.5, -0.5]) * math.pi
        else:                       # one across the crossing road
            middle, across = junction - rng.choice([-1.0, 1.0]) * 10.5 * r, road_yaw + rng.choice([0.0, 1.0]) * math.pi
        kerb, corner, lead = 9.7, 0.8, 20.0
        sign = rng.choice([-1, 1])
        approach = across - sign * math.pi / 2
        origin = middle - kerb * heading(across) - (lead + corner) * heading(approach)
        path = PlanarPath((float(origin[0]), float(origin[1])), float(approach)).straight(lead)
        path.turn(corner, sign * math.pi / 2).straight(2 * (kerb - corner))
        path.turn(corner, rng.choice([-1, 1]) * math.pi / 2).straight(lead)
        speed = rng.uniform(1.1, 1.9)
        middle_s = lead + corner * math.pi / 2 + kerb - corner
        return Mover(kind, tuple(parts), path, speed, middle_s - speed * pass_at, half_length, half_width)
    if kind == "crossing":
        direction = road_yaw + (0.5 if rng.random() < 0.5 else -0.5) * math.pi
        lane = OUTER_LANE if rng.random() < 0.4 else INNER_LANE
        origin = junction + lane * right_of(direction)
        speed = params.mover_speed * rng.uniform(0.6, 1.4)
        path = PlanarPath((float(origin[0]), float(origin[1])), float(direction)).straight(1.0)
        return Mover(kind, tuple(parts), path, speed, -speed * pass_at, half_length, half_width)
    # turning: enters the junction from one of the three arms the camera does not come from
    entry = road_yaw + rng.choice([0.5, -0.5, 1.0]) * math.pi
    sign = 1 if rng.random() < 0.5 else -1
    radius = rng.uniform(5.5, 6.5) if sign > 0 else rng.uniform(8.5, 9.9)
    arc_start = turn_arc(junction, entry, sign, INNER_LANE, radius)
    lead = 40.0
    origin = arc_start - lead * heading(entry)
    path = PlanarPath((float(origin[0]), float(origin[1])), float(entry)).straight(lead)
    path.turn(radius, sign * math.pi / 2).straight(40.0)
    speed = rng.uniform(3.0, min(8.0, MAX_YAW_RATE * radius * 1.3))
    middle = lead + radius * math.pi / 4
    return Mover(kind, tuple(parts), path, speed, middle - speed * pass_at, half_length, half_width)


def build_street(params: SceneParams) -> Scene:
    """Build the deterministic street world of `params` (same seed, same world)."""
    rng = np.random.default_rng(params.seed)
    duration = params.duration
    roads_x = _grid(rng, 0.0, 45.0, 85.0, 400.0)
    first_crossing = rng.uniform(15.0, 45.0)
    roads_z = _grid(rng, first_crossing, 45.0, 85.0, 400.0)
    grid = StreetGrid(roads_x, roads_z)
    start = np.array([INNER_LANE, 0.0])
    path, limits, stops = _route(rng, grid, start, 0.0, needed=params.camera_speed * (duration + 1.0) + 20.0)
    cruise = params.camera_speed * rng.uniform(0.55, 1.0)
    initial = cruise * rng.uniform(0.5, 1.0)   # moving from the first frame; stops come at junctions
    profile = drive(limits, stops, cruise, duration + 1.0, initial)
    camera = DriveCamera(path, profile, params.camera_height)

    times = np.arange(0.0, duration + 1e-9, 0.5)
    xs, zs, _ = camera.ground_states(times)
    lo = np.array([xs.min(), zs.min()]) - 130.0
    hi = np.array([xs.max(), zs.max()]) + 130.0
    intrinsics = pinhole_intrinsics(params.width, params.height, params.hfov_deg)
    static = [Box((0.0, 0.05, 0.0), (2000.0, 0.05, 2000.0), GROUND, (1.0, 1.0, 1.0), int(rng.integers(2**24)))]
    static += _blocks(rng, grid, lo, hi) + _kerbside(rng, grid, lo, hi)

    movers: list[Mover] = []
    views = frame_views(camera, params)
    for kind in _mover_kinds(rng, params.movers):
        for _attempt in range(60):
            mover = _propose(rng, kind, params, grid, camera)
            if mover is None or not camera_sees(views, mover, intrinsics, params):
                continue
            if footprints_clear(mover, movers, camera, params):
                movers.append(mover)
                break

    sun = np.array([rng.uniform(-0.6, 0.6), -rng.uniform(0.5, 0.9), rng.uniform(-0.6, 0.6)])
    lighting = Lighting(direction=tuple(sun / np.linalg.norm(sun)),
                        ambient=rng.uniform(0.45, 0.6),
                        exposure_wave=Wave.random(rng, 0.12 if params.camera_effects else 0.0, 0.05, 0.5),
                        light_wave=Wave.random(rng, 0.2 if params.camera_effects else 0.0, 0.03, 0.3),
                        base_exposure=rng.uniform(0.9, 1.1))
    return Scene(params=params, static=tuple(static), movers=tuple(movers), camera=camera,
                 intrinsics=intrinsics, lighting=lighting,
                 camera_model=random_camera_model(rng) if params.camera_effects else CameraModel(),
                 sky=True, roads_x=roads_x, roads_z=roads_z)
