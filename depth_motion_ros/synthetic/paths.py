"""Paths on the ground plane and rigid poses built from them: the camera's route and every mover's.

Internal world frame of the generators: x right, y down (gravity), z forward, metres, ground at y = 0.
A heading `yaw` is a rotation about y: the forward direction is (sin yaw, 0, cos yaw), so a positive yaw
rate turns towards +x (a right turn seen from above with y down). Every pose is an analytic function of
time, so the ground truth of any frame (and of the frame after the last) is exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def yaw_rotation(yaw: float) -> np.ndarray:
    """3x3 rotation about the (downward) y axis by `yaw` radians."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def pitch_rotation(pitch: float) -> np.ndarray:
    """3x3 rotation about x: positive pitch tilts the optical axis down (towards +y)."""
    c, s = math.cos(pitch), math.sin(pitch)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def roll_rotation(roll: float) -> np.ndarray:
    """3x3 rotation about the optical axis z."""
    c, s = math.cos(roll), math.sin(roll)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rigid(rotation: np.ndarray, translation: np.ndarray | tuple) -> np.ndarray:
    """4x4 homogeneous transform."""
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = translation
    return pose


def heading(yaw: float | np.ndarray) -> np.ndarray:
    """Unit forward vector(s) on the ground, as (x, z)."""
    return np.stack([np.sin(yaw), np.cos(yaw)], axis=-1)


def right_of(yaw: float | np.ndarray) -> np.ndarray:
    """Unit vector(s) to the right of the heading, as (x, z)."""
    return np.stack([np.cos(yaw), -np.sin(yaw)], axis=-1)


@dataclass(frozen=True)
class Segment:
    """A straight line (curvature 0) or a circular arc (curvature = +-1/radius, + turns right)."""
    start: tuple[float, float]   # (x, z)
    yaw: float                   # heading at the start
    length: float
    curvature: float = 0.0

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, z, yaw) at arc lengths `s` from the segment's start (a line extrapolates both ways)."""
        start = np.asarray(self.start)
        yaw = self.yaw + self.curvature * s
        if self.curvature == 0.0:
            point = start + s[:, None] * heading(self.yaw)
        else:
            radius = 1.0 / self.curvature
            centre = start + radius * right_of(self.yaw)
            point = centre - radius * right_of(yaw)
        return point[:, 0], point[:, 1], yaw


@dataclass
class PlanarPath:
    """Segments joined end to end from `origin`, parametrised by arc length; straight beyond both ends."""
    origin: tuple[float, float]
    yaw: float
    segments: list[Segment] = field(default_factory=list)
    _lookup: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def end(self) -> tuple[np.ndarray, float]:
        """(point, yaw) where the next segment starts."""
        if not self.segments:
            return np.asarray(self.origin, dtype=float), float(self.yaw)
        last = self.segments[-1]
        x, z, yaw = last.at(np.array([last.length]))
        return np.array([x[0], z[0]]), float(yaw[0])

    @property
    def length(self) -> float:
        return float(sum(seg.length for seg in self.segments))

    def straight(self, length: float) -> PlanarPath:
        self._lookup = None
        point, yaw = self.end
        self.segments.append(Segment((float(point[0]), float(point[1])), yaw, float(length)))
        return self

    def turn(self, radius: float, angle: float) -> PlanarPath:
        """An arc of `radius` turning by `angle` radians (positive: right, towards +x from +z)."""
        self._lookup = None
        point, yaw = self.end
        self.segments.append(Segment((float(point[0]), float(point[1])), yaw, abs(angle) * radius,
                                     math.copysign(1.0 / radius, angle)))
        return self

    def at(self, s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, z, yaw) at arc length(s) `s`, vectorised; straight lines continue both ends."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        if self._lookup is None:   # built once per shape of the path: `at` is called for every frame
            point, yaw = self.end
            pieces = ([Segment((float(self.origin[0]), float(self.origin[1])), float(self.yaw), 0.0)]
                      + self.segments + [Segment((float(point[0]), float(point[1])), yaw, math.inf)])
            starts = np.concatenate([[-math.inf, 0.0], np.cumsum([seg.length for seg in self.segments])])
            self._lookup = (pieces, starts)
        pieces, starts = self._lookup
        index = np.where(s < 0.0, 0, np.clip(np.searchsorted(starts, s, side="right") - 1, 1, len(pieces) - 1))
        x, z, heading_yaw = np.empty_like(s), np.empty_like(s), np.empty_like(s)
        for k in np.unique(index):
            rows = index == k
            local = s[rows] - (0.0 if k == 0 else starts[k])
            x[rows], z[rows], heading_yaw[rows] = pieces[k].at(local)
        return x, z, heading_yaw


@dataclass(frozen=True)
class SpeedProfile:
    """Distance travelled along a path as a function of time, tabulated finely and interpolated."""
    times: np.ndarray
    distances: np.ndarray

    def distance(self, time: float | np.ndarray) -> np.ndarray:
        return np.asarray(np.interp(time, self.times, self.distances))


def drive(limits: list[tuple[float, float, float]], stops: list[tuple[float, float]], cruise: float,
          duration: float, initial_speed: float, accel: float = 2.5, decel: float = 3.5,
          dt: float = 0.005) -> SpeedProfile:
    """Simulate a driver: accelerate to `cruise`, brake in time for speed `limits` (s_from, s_to, v_max)
    and for `stops` (s, dwell seconds), never above the limits. Returns the tabulated distance.

    The braking curve v = sqrt(v_limit^2 + 2 decel d) guarantees a limit is met at its start.
    """
    steps = int(math.ceil(duration / dt)) + 2
    times = np.arange(steps) * dt
    distances = np.zeros(steps)
    s, v, dwell = 0.0, initial_speed, 0.0
    pending = sorted(stops)
    for i in range(1, steps):
        if dwell > 0.0:
            dwell -= dt
            distances[i] = s
            continue
        allowed = cruise
        for s_from, s_to, v_max in limits:
            if s_from <= s <= s_to:
                allowed = min(allowed, v_max)
            elif s < s_from:
                allowed = min(allowed, math.sqrt(v_max ** 2 + 2.0 * decel * (s_from - s)))
        if pending:
            gap = pending[0][0] - s
            if gap <= 0.02 and v <= 0.2:
                v, dwell = 0.0, pending.pop(0)[1]
                distances[i] = s
                continue
            allowed = min(allowed, math.sqrt(2.0 * decel * max(gap - 0.01, 0.0)) + 0.05)
        v = min(v + accel * dt, allowed) if v < allowed else max(v - decel * 1.5 * dt, allowed)
        s += v * dt
        distances[i] = s
    return SpeedProfile(times, distances)
