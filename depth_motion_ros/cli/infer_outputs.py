"""The output folder of `depth_motion_infer`: one stable, documented contract (docs/demo.md).

    depth/NNNNNN.npy      float32 [H, W] depth at the input resolution (model units), every frame
    depth_vis/NNNNNN.png  colour-mapped inverse depth, every frame
    motion/NNNNNN.npy     float32 [H, W, 3] object motion to the next frame, in this frame's camera (model
                          units), every frame but the last
    points/NNNNNN.ply     coloured points in the camera optical frame (only with --points)
    trajectory.txt        TUM 't tx ty tz qx qy qz qw', camera-to-world, optical frame, one line per frame
    intrinsics.txt        'index fx fy cx cy source' per frame, source = given | learned
    video.mp4             input | depth | motion side by side (unless disabled)

NNNNNN is the input frame's index in its source, so outputs line up with the input's own numbering.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depth_motion_ros.cli.ply import write_ply
from depth_motion_ros.cli.sequence_inference import InferredFrame
from depth_motion_ros.sources.poses import write_tum
from depth_motion_ros.visualisation import depth_colour, motion_field_colour, side_by_side

#: Object motion (metres, or model units, per frame) drawn at full brightness in the video.
MOTION_FULL_SCALE = 0.5


def depth_to_points(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Depth [H, W] and its 3x3 intrinsics -> float32 points [H, W, 3] in the optical frame.

    Pixels with non-finite or non-positive depth give NaN points, so callers can drop them.
    """
    depth = np.asarray(depth, dtype=np.float32)
    height, width = depth.shape
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    u = (np.arange(width, dtype=np.float32) - cx) / fx
    v = (np.arange(height, dtype=np.float32) - cy) / fy
    z = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)
    return np.stack([u[None, :] * z, v[:, None] * z, z], axis=-1)


class InferenceOutputWriter:
    """Writes each `InferredFrame` as it arrives; `close()` writes the per-sequence files."""

    def __init__(self, folder: str | Path, points: bool = False, point_stride: int = 1,
                 video: bool = True, fps: float = 10.0) -> None:
        if point_stride < 1:
            raise ValueError("point_stride must be >= 1")
        self.folder = Path(folder)
        self.points = points
        self.point_stride = point_stride
        self.fps = fps if fps > 0 else 10.0
        self._want_video = video
        self._video: cv2.VideoWriter | None = None
        self._stamps: list[float] = []
        self._poses: list[np.ndarray] = []
        self._intrinsics_lines: list[str] = []
        for sub in ("depth", "depth_vis", "motion") + (("points",) if points else ()):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    @property
    def video_path(self) -> Path:
        return self.folder / "video.mp4"

    def write(self, result: InferredFrame) -> None:
        stem = f"{result.frame.index:06d}"
        np.save(self.folder / "depth" / f"{stem}.npy", result.depth.astype(np.float32))
        depth_vis = depth_colour(result.depth)
        cv2.imwrite(str(self.folder / "depth_vis" / f"{stem}.png"), cv2.cvtColor(depth_vis, cv2.COLOR_RGB2BGR))
        if result.motion is not None:
            np.save(self.folder / "motion" / f"{stem}.npy", result.motion.astype(np.float32))
        if self.points:
            s = self.point_stride
            xyz = depth_to_points(result.depth, result.intrinsics)[::s, ::s]
            write_ply(self.folder / "points" / f"{stem}.ply", xyz, result.frame.rgb[::s, ::s])
        if self._want_video:
            self._write_video_frame(result, depth_vis)
        self._stamps.append(result.frame.timestamp)
        self._poses.append(result.pose)
        K = result.intrinsics
        source = "learned" if result.intrinsics_learned else "given"
        self._intrinsics_lines.append(f"{stem} {K[0, 0]:.6f} {K[1, 1]:.6f} {K[0, 2]:.6f} {K[1, 2]:.6f} {source}")

    def _write_video_frame(self, result: InferredFrame, depth_vis: np.ndarray) -> None:
        panel = side_by_side([result.frame.rgb, depth_vis,
                              motion_field_colour(result.motion, result.depth.shape, MOTION_FULL_SCALE)])
        if self._video is None:
            height, width = panel.shape[:2]
            self._video = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps,
                                          (width, height))
            if not self._video.isOpened():
                raise RuntimeError(f"OpenCV cannot write MP4 video to {self.video_path}")
            self._video_size = (width, height)
        if (panel.shape[1], panel.shape[0]) != self._video_size:
            panel = cv2.resize(panel, self._video_size)  # a source whose frame size changes mid-stream
        self._video.write(cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))

    def close(self) -> list[Path]:
        """Finish the video and write trajectory.txt and intrinsics.txt; returns the per-sequence files."""
        if self._video is not None:
            self._video.release()
        write_tum(self.folder / "trajectory.txt", self._stamps, self._poses)
        (self.folder / "intrinsics.txt").write_text(
            "# index fx fy cx cy source (pixels of the input frames; given by the source or learned)\n"
            + "".join(line + "\n" for line in self._intrinsics_lines))
        files = [self.folder / "trajectory.txt", self.folder / "intrinsics.txt"]
        return files + ([self.video_path] if self._video is not None else [])
