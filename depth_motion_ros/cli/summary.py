"""The demo's summary picture: what went in, what came out, and where the camera went.

Top row: one input frame, the node's depth for it and its object-motion colour image. Bottom: a top-down
view (the ground seen from above, forward to the right) of the node's point clouds accumulated along
its odometry, with the estimated trajectory and, when known, the true one. The estimate is brought into
the ground truth's frame and scale by a Sim(3) alignment of the two trajectories, the same alignment
the trajectory ATE uses, so what the picture shows is what the number measures.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from depth_motion_ros.cli.demo_analysis import FrameOutputs
from depth_motion_ros.evaluation.trajectory import align_sim3
from depth_motion_ros.visualisation import depth_colour

PANEL_WIDTH = 400
MAP_SIZE = (520, 1200)          # height, width of the top-down view
ESTIMATE_COLOUR = (230, 60, 40)  # RGB
TRUTH_COLOUR = (40, 200, 80)
MAX_MAP_POINTS = 200_000
TRUTH_MAP_MARGIN_M = 12.0


@dataclass(frozen=True)
class Alignment:
    """x -> scale * R @ x + t, from the estimate's world into the ground truth's."""
    scale: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        moved: np.ndarray = self.scale * xyz @ self.rotation.T + self.translation
        return moved


def trajectory_alignment(estimated: np.ndarray, truth: np.ndarray | None) -> Alignment:
    """Sim(3) from estimated to true positions (identity without ground truth or with < 3 poses)."""
    if truth is None or len(truth) < 3 or np.ptp(estimated, axis=0).max() < 1e-9:
        return Alignment()
    scale, rotation, translation = align_sim3(estimated, truth)
    return Alignment(scale, rotation, translation)


def _panel(image: np.ndarray, title: str) -> np.ndarray:
    height = max(1, round(image.shape[0] * PANEL_WIDTH / image.shape[1]))
    panel = cv2.resize(image, (PANEL_WIDTH, height), interpolation=cv2.INTER_NEAREST)
    _label(panel, title, (8, 20))
    return panel


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.55) -> None:
    """White text on a dark box, readable on any background."""
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = origin
    cv2.rectangle(image, (x - 3, y - height - 3), (x + width + 3, y + baseline), (16, 16, 16), -1)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def accumulate_points(frames: list[FrameOutputs], alignment: Alignment, max_range: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All frames' point clouds in the (aligned) world frame, randomly thinned to MAX_MAP_POINTS."""
    clouds, colours = [], []
    for frame in frames:
        if frame.points is None or frame.camera_pose is None:
            continue
        xyz, rgb = frame.points
        near = np.linalg.norm(xyz, axis=1) < max_range
        world = xyz[near] @ frame.camera_pose[:3, :3].T + frame.camera_pose[:3, 3]
        clouds.append(alignment.apply(world))
        colours.append(rgb[near])
    if not clouds:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.uint8)
    xyz, rgb = np.concatenate(clouds), np.concatenate(colours)
    if len(xyz) > MAX_MAP_POINTS:
        keep = rng.choice(len(xyz), MAX_MAP_POINTS, replace=False)
        xyz, rgb = xyz[keep], rgb[keep]
    return xyz, rgb


def map_bounds(points: np.ndarray, estimated: np.ndarray, truth: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, z) corners of the map. With ground truth the view follows the true path plus a margin of
    street around it (metres), whatever a poor model's points do; without it, the trajectory and the
    bulk of the points (arbitrary units)."""
    track = (truth if truth is not None else estimated)[:, [0, 2]]
    lo, hi = track.min(axis=0), track.max(axis=0)
    if truth is not None:
        margin = max(0.25 * float(np.max(hi - lo)), TRUTH_MAP_MARGIN_M)
        return lo - margin, hi + margin
    if len(points):
        lo = np.minimum(lo, np.percentile(points[:, [0, 2]], 5, axis=0))
        hi = np.maximum(hi, np.percentile(points[:, [0, 2]], 95, axis=0))
    margin = 0.05 * max(float(np.max(hi - lo)), 1e-6)
    return lo - margin, hi + margin


def top_down_map(points: np.ndarray, colours: np.ndarray, estimated: np.ndarray,
                 truth: np.ndarray | None) -> np.ndarray:
    """uint8 RGB bird's-eye view with equal scale on both axes: forward (z) to the right, the camera's
    right (x) downwards, i.e. the ground seen from above with the start on the left."""
    height, width = MAP_SIZE
    canvas = np.full((height, width, 3), 24, dtype=np.uint8)
    lo, hi = map_bounds(points, estimated, truth)
    margin = 20
    extent = np.maximum(hi - lo, 1e-6)                       # (x, z)
    scale = min((width - 2 * margin) / extent[1], (height - 2 * margin) / extent[0])
    offset = (np.array([width, height]) - scale * extent[::-1]) / 2.0   # centre the content

    def to_pixels(xz: np.ndarray) -> np.ndarray:
        u = offset[0] + (xz[:, 1] - lo[1]) * scale
        v = offset[1] + (xz[:, 0] - lo[0]) * scale
        return np.stack([u, v], axis=1)

    in_view = 0
    if len(points):
        pixels = np.round(to_pixels(points[:, [0, 2]])).astype(int)
        inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
        canvas[pixels[inside, 1], pixels[inside, 0]] = colours[inside]
        in_view = int(inside.sum())
    for track, colour in ((truth, TRUTH_COLOUR), (estimated, ESTIMATE_COLOUR)):
        if track is None or len(track) < 2:
            continue
        polyline = np.round(to_pixels(track[:, [0, 2]])).astype(np.int32)
        cv2.polylines(canvas, [polyline], False, colour, 2, cv2.LINE_AA)
        cv2.circle(canvas, tuple(int(v) for v in polyline[0]), 5, colour, -1)
    _label(canvas, "top-down view of the accumulated point clouds: forward to the right", (10, 22))
    _label(canvas, "estimated trajectory", (10, 46))
    cv2.line(canvas, (200, 41), (240, 41), ESTIMATE_COLOUR, 3)
    if truth is not None:
        _label(canvas, "true trajectory", (10, 68))
        cv2.line(canvas, (200, 63), (240, 63), TRUTH_COLOUR, 3)
    # A model with the wrong depth-to-motion scale throws its points out of the view: say so, not hide it.
    _label(canvas, f"{in_view} of {len(points)} sampled points in view", (10, height - 12))
    return canvas


def render_summary(frames: list[FrameOutputs], input_rgb: dict[int, np.ndarray],
                   truth_poses: dict[int, np.ndarray], text_lines: list[str], max_range: float = 40.0,
                   seed: int = 0) -> np.ndarray:
    """The whole summary picture (uint8 RGB). `input_rgb` and `truth_poses` are keyed by stamp_ns."""
    if not frames:
        raise ValueError("the node produced no output: nothing to summarise")
    shown = max((f for f in frames if f.motion_image is not None), default=frames[len(frames) // 2],
                key=lambda f: 0 if f.motion_image is None else int(np.count_nonzero(f.motion_image.max(axis=2) > 40)))
    rgb = input_rgb.get(shown.stamp_ns)
    assert shown.depth is not None, "collect_outputs keeps the frames with a depth image"
    depth = depth_colour(shown.depth)
    motion = shown.motion_image if shown.motion_image is not None else np.zeros_like(depth)
    panels = [_panel(rgb if rgb is not None else np.zeros_like(depth), "input"),
              _panel(depth, "depth (near = bright)"), _panel(motion, "object motion")]
    top = np.concatenate([p if p.shape[0] == panels[0].shape[0] else
                          cv2.resize(p, (PANEL_WIDTH, panels[0].shape[0])) for p in panels], axis=1)
    posed = [f for f in frames if f.camera_pose is not None]
    estimated = np.stack([f.camera_pose[:3, 3] for f in frames if f.camera_pose is not None])
    truth = None
    if posed and all(f.stamp_ns in truth_poses for f in posed):
        truth = np.stack([truth_poses[f.stamp_ns][:3, 3] for f in posed])
    alignment = trajectory_alignment(estimated, truth)
    points, colours = accumulate_points(posed, alignment, max_range, np.random.default_rng(seed))
    bottom = top_down_map(points, colours, alignment.apply(estimated), truth)
    bottom = cv2.resize(bottom, (top.shape[1], round(bottom.shape[0] * top.shape[1] / bottom.shape[1])))
    text = np.full((22 * len(text_lines) + 16, top.shape[1], 3), 16, dtype=np.uint8)
    for row, line in enumerate(text_lines):
        _label(text, line, (10, 24 + 22 * row), 0.5)
    return np.concatenate([top, bottom, text], axis=0)
