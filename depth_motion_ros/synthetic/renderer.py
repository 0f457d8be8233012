"""Vectorised numpy ray caster for the synthetic street scenes, with exact per-frame ground truth.

One primary ray per pixel through the pixel centre; depth is the z of the first hit in the camera optical
frame (rays are scaled to z = 1, so the ray parameter is the depth). Sky pixels have no surface: depth NaN.
Object motion follows the project convention (docs/ARCHITECTURE.md): on frame t's pixel grid, the
displacement of the surface point seen there from t to t+1, in camera t+1 coordinates, so that
p_{t+1} = R_21 p_t + t_21 + motion, where [R_21 | t_21] is the camera ego-motion from t to t+1.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from depth_motion_ros.synthetic import textures
from depth_motion_ros.synthetic.scene import (BUILDING, CAR, LANE_MARKING, SIDEWALK_FROM, Scene)

_SUN_TOWARDS = np.array([0.45, -0.8, -0.4]) / np.linalg.norm([0.45, -0.8, -0.4])  # world, y down
_MIN_COSINE = 0.05
_NO_MOVER = -1


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame and its exact ground truth."""
    index: int
    timestamp: float              # seconds
    rgb: np.ndarray               # uint8 [H, W, 3]
    depth: np.ndarray             # float32 [H, W] metres, NaN on sky
    pose: np.ndarray              # float64 4x4 camera-to-world, optical frame
    intrinsics: np.ndarray        # float64 3x3
    object_motion: np.ndarray     # float32 [H, W, 3] metres per frame, camera t+1 coordinates
    mover_id: np.ndarray          # int16 [H, W]: index into the scene's moving boxes, -1 elsewhere


def camera_rays(intrinsics: np.ndarray, width: int, height: int) -> np.ndarray:
    """[H*W, 3] ray directions in the optical frame through pixel centres, scaled to z = 1."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    x = (u - intrinsics[0, 2]) / intrinsics[0, 0]
    y = (v - intrinsics[1, 2]) / intrinsics[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1).reshape(-1, 3)


def _visible_boxes(lo: np.ndarray, hi: np.ndarray, pose: np.ndarray, max_depth: float) -> np.ndarray:
    """Indices of boxes with a corner in front of the camera and not entirely beyond `max_depth`."""
    corners = np.stack([np.where(np.array([(c >> a) & 1 for a in range(3)], bool), hi, lo)
                        for c in range(8)], axis=1)                           # [K, 8, 3]
    camera_z = (corners - pose[:3, 3]) @ pose[:3, 2]                          # optical z = 3rd column
    return np.flatnonzero((camera_z.max(axis=1) > 0.0) & (camera_z.min(axis=1) < max_depth))


def _intersect_boxes(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest box hit per ray (slab method): ray parameter (inf on miss), box index, face axis.

    Works on one contiguous 1-D array per axis: reductions over a trailing axis of length 3 are several
    times slower in numpy than three element-wise maxima.
    """
    with np.errstate(divide="ignore"):
        inverse = [1.0 / np.ascontiguousarray(dirs[:, axis]) for axis in range(3)]
    best_t = np.full(len(dirs), np.inf)
    best_box = np.full(len(dirs), -1, dtype=np.int64)
    best_axis = np.zeros(len(dirs), dtype=np.int64)
    for k in candidates:
        near, far = [], []
        for axis in range(3):
            with np.errstate(invalid="ignore"):
                t1 = (lo[k, axis] - origin[axis]) * inverse[axis]
                t2 = (hi[k, axis] - origin[axis]) * inverse[axis]
            near.append(np.fmin(t1, t2))
            far.append(np.fmax(t1, t2))
        t_enter = np.fmax(np.fmax(near[0], near[1]), near[2])
        t_exit = np.fmin(np.fmin(far[0], far[1]), far[2])
        hit = np.flatnonzero((t_enter <= t_exit) & (t_enter > 1e-6) & (t_enter < best_t))
        best_t[hit] = t_enter[hit]
        best_box[hit] = k
        best_axis[hit] = np.argmax(np.stack([near[0][hit], near[1][hit], near[2][hit]], axis=1), axis=1)
    return best_t, best_box, best_axis


class SceneRenderer:
    """Renders frames of a `Scene`; stateless between frames, so any frame can be rendered on its own."""

    def __init__(self, scene: Scene, max_depth: float = 1000.0) -> None:
        self.scene = scene
        self.max_depth = max_depth
        p = scene.params
        self._rays = camera_rays(scene.intrinsics, p.width, p.height)
        self.mover_indices = np.flatnonzero(scene.boxes.moving)

    def __len__(self) -> int:
        return self.scene.params.frames

    def __iter__(self) -> Iterator[SyntheticFrame]:
        return (self.render(i) for i in range(len(self)))

    def pose(self, index: int) -> np.ndarray:
        """Camera-to-world pose of frame `index` (also defined one frame past the end)."""
        return self.scene.camera.pose(self.scene.time(index))

    def render(self, index: int) -> SyntheticFrame:
        """Ray cast frame `index` and compute its ground truth."""
        scene, p = self.scene, self.scene.params
        time = scene.time(index)
        pose = self.pose(index)
        origin = pose[:3, 3]
        dirs = self._rays @ pose[:3, :3].T
        lo, hi = scene.boxes.at(time)
        box_t, box_id, box_axis = _intersect_boxes(origin, dirs, lo, hi,
                                                   _visible_boxes(lo, hi, pose, self.max_depth))
        with np.errstate(divide="ignore"):
            ground_t = np.where(dirs[:, 1] > 1e-9, (p.camera_height - origin[1]) / dirs[:, 1], np.inf)
        on_ground = (ground_t < box_t) & (ground_t < self.max_depth)
        on_box = ~on_ground & np.isfinite(box_t) & (box_t < self.max_depth)
        depth = np.where(on_ground, ground_t, np.where(on_box, box_t, np.nan))

        normals = np.zeros_like(dirs)
        normals[on_ground, 1] = -1.0
        box_rows = np.flatnonzero(on_box)
        axis = box_axis[box_rows]
        normals[box_rows, axis] = -np.sign(dirs[box_rows, axis])
        colour = self._shade(origin, dirs, depth, normals, on_ground, on_box, box_id, box_axis, lo, hi)

        next_rotation_cw = self.pose(index + 1)[:3, :3].T
        displacement = (scene.boxes.velocity / p.rate_hz) @ next_rotation_cw.T    # [K, 3] in camera t+1
        moving_hit = on_box & scene.boxes.moving[np.maximum(box_id, 0)]
        motion = np.zeros_like(dirs)
        motion[moving_hit] = displacement[box_id[moving_hit]]
        mover_of_box = np.full(len(scene.boxes.kind), _NO_MOVER, dtype=np.int16)
        mover_of_box[self.mover_indices] = np.arange(len(self.mover_indices), dtype=np.int16)
        mover_id = np.where(moving_hit, mover_of_box[np.maximum(box_id, 0)], _NO_MOVER).astype(np.int16)

        shape = (p.height, p.width)
        rgb = np.clip(colour * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
        return SyntheticFrame(index=index, timestamp=time, rgb=rgb.reshape(*shape, 3),
                              depth=depth.reshape(shape).astype(np.float32), pose=pose,
                              intrinsics=scene.intrinsics.copy(),
                              object_motion=motion.reshape(*shape, 3).astype(np.float32),
                              mover_id=mover_id.reshape(shape))

    def _shade(self, origin: np.ndarray, dirs: np.ndarray, depth: np.ndarray, normals: np.ndarray,
               on_ground: np.ndarray, on_box: np.ndarray, box_id: np.ndarray, box_axis: np.ndarray,
               lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Linear RGB in [0, 1] per ray: textured albedo times a fixed directional light; sky elsewhere."""
        scene = self.scene
        colour = textures.sky_colour(dirs, scene.params.seed)
        safe_depth = np.where(np.isfinite(depth), depth, 0.0)
        points = origin + dirs * safe_depth[:, None]
        ray_length = np.linalg.norm(dirs, axis=1)
        cosine = np.abs(np.sum(normals * dirs, axis=1)) / ray_length
        footprint = safe_depth * ray_length / (scene.intrinsics[0, 0] * np.maximum(cosine, _MIN_COSINE))
        light = 0.55 + 0.45 * np.clip(normals @ _SUN_TOWARDS, 0.0, 1.0)

        g = on_ground
        colour[g] = textures.ground_colour(points[g, 0], points[g, 2], footprint[g], scene.params.seed + 17,
                                           LANE_MARKING, SIDEWALK_FROM)
        for kind, paint in ((BUILDING, self._paint_facades), (CAR, self._paint_cars)):
            rows = np.flatnonzero(on_box & (scene.boxes.kind[np.maximum(box_id, 0)] == kind))
            if rows.size:
                k = box_id[rows]
                along, up = _face_coordinates(points[rows], box_axis[rows], lo[k], hi[k])
                colour[rows] = paint(along, up, footprint[rows], k, lo[k], hi[k])
        return colour * light[:, None]

    def _paint_facades(self, along: np.ndarray, up: np.ndarray, footprint: np.ndarray, k: np.ndarray,
                       lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        boxes = self.scene.boxes
        return textures.facade_colour(along, up, footprint, boxes.texture_seed[k], boxes.colour[k])

    def _paint_cars(self, along: np.ndarray, up: np.ndarray, footprint: np.ndarray, k: np.ndarray,
                    lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Car paint; the car's height (per pixel, from its box) places the window band and wheels."""
        boxes = self.scene.boxes
        return textures.car_colour(along, up, footprint, boxes.texture_seed[k], boxes.colour[k],
                                   hi[:, 1] - lo[:, 1])


def _face_coordinates(points: np.ndarray, axis: np.ndarray, lo: np.ndarray,
                      hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surface coordinates (along, up) in metres, relative to the (moving) box so textures move with it."""
    relative = points - lo
    height_above_bottom = hi[:, 1] - points[:, 1]
    along = np.where(axis == 0, relative[:, 2], relative[:, 0])
    up = np.where(axis == 1, relative[:, 2], height_above_bottom)
    return along, up


def render_sequence(scene: Scene) -> list[SyntheticFrame]:
    """All frames of `scene`, in order."""
    return list(SceneRenderer(scene))
