"""The sequence-folder layout of the project's real data (`../shared/data/*`) and of generated scenes.

Layout: `rgb/NNNNNN.jpg|png`, optional `depth/NNNNNN.png` (uint16, metres = value / depth_scale, 0 = no
measurement), optional `poses.txt` (TUM, camera-to-world, optical), `times.txt` (one timestamp per frame),
optional `motion/NNNNNN.npy` (rendered sequences: true object motion to the next frame, `Frame.object_motion`)
and `meta.yaml` (`intrinsics: {fx, fy, cx, cy}` or null, `depth_scale`, `rate_hz`, ...).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from depth_motion_ros.image_encoding import compressed_depth_to_metres
from depth_motion_ros.sources.frame import Frame, FrameRange, FrameSource, SourceError
from depth_motion_ros.sources.image_folder import list_images, read_rgb
from depth_motion_ros.sources.poses import PoseTrack, read_tum


def read_meta(folder: Path) -> dict:
    """`meta.yaml` as a dict ({} when the folder has none)."""
    path = folder / "meta.yaml"
    if not path.is_file():
        return {}
    meta = yaml.safe_load(path.read_text()) or {}
    if not isinstance(meta, dict):
        raise SourceError(f"{path} is not a mapping")
    return meta


def pinhole_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """3x3 float64 camera matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def intrinsics_from_meta(meta: dict) -> np.ndarray | None:
    """The `intrinsics` entry of meta.yaml as a 3x3 matrix, None when absent or null (unknown)."""
    entry = meta.get("intrinsics")
    if entry is None:
        return None
    try:
        return pinhole_matrix(float(entry["fx"]), float(entry["fy"]), float(entry["cx"]), float(entry["cy"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"meta.yaml intrinsics must be {{fx, fy, cx, cy}} or null, got {entry!r}") from exc


def read_depth_png(path: Path, depth_scale: float) -> np.ndarray:
    """uint16 depth PNG -> float32 metres with NaN where there is no measurement."""
    return compressed_depth_to_metres("png", path.read_bytes(), 1.0 / depth_scale)


class SequenceFolderSource(FrameSource):
    """Frames of a sequence folder with the depth and poses it has.

    Depth is attached only to frames that have a depth file (7-Scenes keeps depth for some frames only);
    poses are matched to `times.txt` by timestamp.
    """

    def __init__(self, path: str | Path, frame_range: FrameRange | None = None) -> None:
        self.folder = Path(path)
        rgb_folder = self.folder / "rgb"
        if not rgb_folder.is_dir():
            raise SourceError(f"{self.folder} is not a sequence folder (no rgb/ inside)")
        meta = read_meta(self.folder)
        super().__init__(str(meta.get("name") or self.folder.name), frame_range)
        self.files = list_images(rgb_folder)
        if not self.files:
            raise SourceError(f"no images in {rgb_folder}")
        self.intrinsics = intrinsics_from_meta(meta)
        self.rate_hz = float(meta["rate_hz"]) if meta.get("rate_hz") else None
        self.depth_scale = float(meta["depth_scale"]) if meta.get("depth_scale") else None
        self.timestamps = self._read_times()
        self.pose_track = self._read_poses()

    def _read_times(self) -> np.ndarray:
        path = self.folder / "times.txt"
        if path.is_file():
            times = np.loadtxt(path, dtype=np.float64, ndmin=1)
            if len(times) != len(self.files):
                raise SourceError(f"{path} has {len(times)} timestamps for {len(self.files)} images")
            return times
        rate = self.rate_hz or 1.0
        return np.arange(len(self.files), dtype=np.float64) / rate

    def _read_poses(self) -> PoseTrack | None:
        path = self.folder / "poses.txt"
        if not path.is_file():
            return None
        times, poses = read_tum(path)
        return PoseTrack(times, poses, tolerance=1e-4)

    def __len__(self) -> int:
        return self.frame_range.count(len(self.files))

    def _depth(self, image_path: Path) -> np.ndarray | None:
        depth_path = self.folder / "depth" / (image_path.stem + ".png")
        if self.depth_scale is None or not depth_path.is_file():
            return None
        return read_depth_png(depth_path, self.depth_scale)

    def _object_motion(self, image_path: Path) -> np.ndarray | None:
        motion_path = self.folder / "motion" / (image_path.stem + ".npy")
        if not motion_path.is_file():
            return None
        motion: np.ndarray = np.load(motion_path, allow_pickle=False)
        if motion.ndim != 3 or motion.shape[2] != 3:
            raise SourceError(f"{motion_path} holds an array of shape {motion.shape}, not [H, W, 3]")
        return motion.astype(np.float32, copy=False)

    def __iter__(self) -> Iterator[Frame]:
        r = self.frame_range
        for index in range(r.start, len(self.files) if r.end is None else min(r.end, len(self.files)), r.stride):
            image_path = self.files[index]
            timestamp = float(self.timestamps[index])
            yield Frame(
                index=index,
                timestamp=timestamp,
                rgb=read_rgb(image_path),
                intrinsics=self.intrinsics,
                depth=self._depth(image_path),
                pose=None if self.pose_track is None else self.pose_track.at(timestamp),
                object_motion=self._object_motion(image_path),
            )
