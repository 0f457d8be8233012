"""Writers for rendered worlds: the sequence-folder layout of ../shared/data and a ROS 2 MCAP bag.

Both are written in one pass over the frames. The folder is what the trainer, `depth_motion_infer
--sequence` and `depth_motion_eval` read; the bag is what the demo plays to the node. Object motion and the
movers, which no real dataset has, go to the folder only (`motion/NNNNNN.npy`, `movers/NNNNNN.png` and the
movers' kinds in meta.yaml): in the bag a third image topic would stop tools from auto-detecting the
camera topic. The image is stored losslessly (PNG) as the camera delivered it: after its noise and JPEG
compression, so reading it back gives exactly the rendered frame.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
import yaml
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_motion_ros.sources.poses import write_tum
from depth_motion_ros.synthetic.renderer import SceneRenderer, SyntheticFrame
from depth_motion_ros.synthetic.scene import Scene
from depth_motion_ros.transforms import matrix_to_quaternion

DEPTH_SCALE = 256.0          # uint16 PNG units per metre: 4 mm steps up to 255 m (KITTI's convention)
BAG_EPOCH_NS = 1_700_000_000 * 10**9   # header stamps start here: realistic, fixed, reproducible
CAMERA_FRAME = "camera_optical_frame"
WORLD_FRAME = "world"
IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
POSE_TOPIC = "/groundtruth/pose"
DEPTH_TOPIC = "/groundtruth/depth"


def depth_to_png_units(depth: np.ndarray, depth_scale: float = DEPTH_SCALE) -> np.ndarray:
    """Metres -> uint16 PNG units; 0 (no measurement) for NaN and for depth beyond the format's range."""
    units = np.nan_to_num(depth.astype(np.float64) * depth_scale, nan=0.0)
    units[units > np.iinfo(np.uint16).max] = 0.0
    return np.round(units).astype(np.uint16)


def mover_ids_to_png_units(mover_id: np.ndarray) -> np.ndarray:
    """Per-pixel mover index (-1: none) -> uint16 PNG units (index + 1; 0: no mover)."""
    return (mover_id.astype(np.int32) + 1).astype(np.uint16)


class SequenceFolderWriter:
    """Writes `rgb/`, `depth/`, `motion/`, `movers/`, `poses.txt`, `times.txt` and `meta.yaml`."""

    def __init__(self, folder: str | Path, scene: Scene, name: str) -> None:
        self.folder = Path(folder)
        self.scene = scene
        self.name = name
        for sub in ("rgb", "depth", "motion", "movers"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._times: list[float] = []
        self._poses: list[np.ndarray] = []

    def write(self, frame: SyntheticFrame) -> None:
        stem = f"{frame.index:06d}"
        cv2.imwrite(str(self.folder / "rgb" / f"{stem}.png"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(self.folder / "depth" / f"{stem}.png"), depth_to_png_units(frame.depth))
        np.save(self.folder / "motion" / f"{stem}.npy", frame.object_motion)
        cv2.imwrite(str(self.folder / "movers" / f"{stem}.png"), mover_ids_to_png_units(frame.mover_id))
        self._times.append(frame.timestamp)
        self._poses.append(frame.pose)

    def close(self) -> None:
        """Write the per-sequence files (poses, times, meta) once all frames are in."""
        write_tum(self.folder / "poses.txt", self._times, self._poses)
        (self.folder / "times.txt").write_text("".join(f"{t:.6f}\n" for t in self._times))
        p = self.scene.params
        K = self.scene.intrinsics
        meta = {
            "frames": len(self._times), "width": p.width, "height": p.height,
            "intrinsics": {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])},
            "rate_hz": p.rate_hz, "grey": False, "depth_scale": DEPTH_SCALE, "poses": True, "motion": True,
            "name": self.name,
            "source": f"depth_motion_synth (rendered {p.world} world, OpenGL)",
            "licence": "generated; no third-party content",
            "notes": "exact ground truth; depth 0 = sky; motion/NNNNNN.npy: float32 HxWx3 object translation "
                     "from this frame to the next in the next camera's frame (metres per frame); "
                     "movers/NNNNNN.png: uint16 mover index + 1 per pixel (0: static or sky), the index "
                     "into `movers`",
            "synthetic_params": dataclasses.asdict(p),
            "movers": [{"id": index, "kind": kind} for index, kind in enumerate(self.scene.mover_kinds)],
        }
        (self.folder / "meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


class CameraBagWriter:
    """ROS 2 MCAP bag of camera frames: Image (rgb8), plus CameraInfo, ground-truth PoseStamped and depth
    (32FC1) for the frames that carry them.

    Frames are duck-typed: anything with `timestamp` (s), `rgb` and optional `intrinsics`, `depth`, `pose`
    (a `SyntheticFrame` or a `depth_motion_ros.sources.Frame`), so the demo can turn any input into a bag.
    Header stamps are `frame_stamp_ns(timestamp)`: an epoch offset keeps them non-zero (zero means unset).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.typestore = get_typestore(Stores.ROS2_HUMBLE)
        self._writer = Writer(self.path, version=8, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> CameraBagWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._writer.close()

    def _header(self, stamp_ns: int, frame_id: str):
        t = self.typestore.types
        return t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
            frame_id=frame_id)

    def _image(self, stamp_ns: int, array: np.ndarray, encoding: str):
        height, width = array.shape[:2]
        data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        return self.typestore.types["sensor_msgs/msg/Image"](
            header=self._header(stamp_ns, CAMERA_FRAME), height=height, width=width, encoding=encoding,
            is_bigendian=0, step=data.size // height, data=data)

    def _camera_info(self, stamp_ns: int, K: np.ndarray, width: int, height: int):
        t = self.typestore.types
        projection = np.zeros((3, 4))
        projection[:, :3] = K
        return t["sensor_msgs/msg/CameraInfo"](
            header=self._header(stamp_ns, CAMERA_FRAME), height=height, width=width,
            distortion_model="plumb_bob", d=np.zeros(5), k=np.asarray(K, dtype=np.float64).reshape(-1),
            r=np.eye(3).reshape(-1), p=projection.reshape(-1), binning_x=0, binning_y=0,
            roi=t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                      do_rectify=False))

    def _pose(self, stamp_ns: int, pose: np.ndarray):
        t = self.typestore.types
        qx, qy, qz, qw = matrix_to_quaternion(pose[:3, :3])
        x, y, z = pose[:3, 3]
        return t["geometry_msgs/msg/PoseStamped"](
            header=self._header(stamp_ns, WORLD_FRAME),
            pose=t["geometry_msgs/msg/Pose"](position=t["geometry_msgs/msg/Point"](x=x, y=y, z=z),
                                            orientation=t["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)))

    def _put(self, topic: str, stamp_ns: int, message) -> None:
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, message.__msgtype__,
                                                                   typestore=self.typestore)
        self._writer.write(self._connections[topic], stamp_ns,
                           self.typestore.serialize_cdr(message, message.__msgtype__))

    def write(self, frame) -> None:
        stamp = frame_stamp_ns(frame.timestamp)
        height, width = frame.rgb.shape[:2]
        # camera_info first: a player then delivers the calibration before the image it belongs to.
        if getattr(frame, "intrinsics", None) is not None:
            self._put(CAMERA_INFO_TOPIC, stamp, self._camera_info(stamp, frame.intrinsics, width, height))
        self._put(IMAGE_TOPIC, stamp, self._image(stamp, frame.rgb, "rgb8"))
        if getattr(frame, "pose", None) is not None:
            self._put(POSE_TOPIC, stamp, self._pose(stamp, frame.pose))
        if getattr(frame, "depth", None) is not None:
            self._put(DEPTH_TOPIC, stamp, self._image(stamp, frame.depth.astype(np.float32), "32FC1"))


def frame_stamp_ns(timestamp: float) -> int:
    """Header stamp (and bag log time) in nanoseconds of a frame at `timestamp` seconds into the scene."""
    return BAG_EPOCH_NS + int(round(timestamp * 1e9))


def write_scene(scene: Scene, folder: str | Path | None = None, bag: str | Path | None = None,
                name: str = "synthetic_world",
                on_frame: Callable[[SyntheticFrame], None] | None = None) -> list[Path]:
    """Render every frame of `scene` once and write it to the folder and/or the bag; returns what was written.

    `on_frame` is called after each frame (a progress bar, a preview).
    """
    if folder is None and bag is None:
        raise ValueError("nothing to write: give a folder, a bag or both")
    if bag is not None and Path(bag).exists():
        raise FileExistsError(f"{bag} already exists; rosbag2 bags are never overwritten")
    folder_writer = SequenceFolderWriter(folder, scene, name) if folder is not None else None
    bag_writer = CameraBagWriter(bag) if bag is not None else None
    try:
        for frame in SceneRenderer(scene):
            if folder_writer is not None:
                folder_writer.write(frame)
            if bag_writer is not None:
                bag_writer.write(frame)
            if on_frame is not None:
                on_frame(frame)
    finally:
        if bag_writer is not None:
            bag_writer.close()
    if folder_writer is not None:
        folder_writer.close()
    return [Path(p) for p in (folder, bag) if p is not None]
