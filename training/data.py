"""Training data: a decode-once frame cache, frame pairs, the static-pair filter and the time split.

Why a cache: bags can be many GB and JPEG/PNG decoding costs more than a training step's data needs.
Every source is streamed exactly once and its frames are resized to a fixed size a bit larger than the
network input (so random crops still have room) and appended to one raw uint8 file, read back as a
numpy memmap. Later epochs (and resumed runs) only slice that memmap. Resizing is anisotropic, to the
whole frame, exactly as `DepthMotionPredictor.prepare` feeds frames at inference, so training and
inference see the same geometry; the intrinsics are rescaled accordingly.

Pairs are (i, i + stride) within one source; the stride may differ per source (`SourceSpec.stride`).
Pairs whose mean absolute RGB difference is below a threshold are dropped (the official
`duplicates_filter_threshold`, 0.01 on [0, 1] images): a robot standing still gives no parallax and
only teaches the network that everything is static.

The split is by time: the last `val_fraction` of each source's frames is held out for validation and
no training pair reaches into it. With 0.2 this is frames 800-999 of 7scenes_redkitchen and 641-800 of
kitti_odometry_03, the validation frames of the project.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from depth_motion_ros.geometry import resize_intrinsics
from depth_motion_ros.training.augment import (
    AugmentConfig,
    augment_pair,
    geometry_of_map,
    mirror_rigid_motion,
    resize_pair,
)

LOG = logging.getLogger(__name__)

#: Part of every cache's key: raise it when cached frames would differ (2: bag frames are rectified when
#: their camera_info has lens distortion; 3: the metadata records the source's frame size; 4: ground-truth
#: poses are kept beside the depth).
CACHE_FORMAT = 4


@dataclass(frozen=True)
class SourceSpec:
    """One training source as given on the command line."""

    kind: str  # 'bag' | 'video' | 'images' | 'sequence'
    path: str
    topic: str | None = None
    #: Frame step of this source's training pairs (None: the config's `data.stride`). Sources differ:
    #: a 10 Hz car moves ~1 m per frame, a 30 Hz handheld camera a few mm, so one stride cannot give
    #: both a useful parallax.
    stride: int | None = None
    #: Camera motion this source's losses use (None: the config's `pose_refinement`; needs
    #: ego_motion left out of `optim.train` unless "none"). Handheld indoor video and driving differ: the refined
    #: translation helps the first and hurts the second (docs/decisions/per-source-refinement.md).
    pose_refinement: str | None = None
    #: Frames [first, end) this source's training pairs are drawn from (None: all of its training part).
    #: The time split is applied first, so a range never reaches the held-out frames; the frames left out
    #: of training before them can serve as a development set no training step has seen.
    frames: tuple[int, int] | None = None

    def key(self, cache_size: tuple[int, int]) -> str:
        """Cache folder name: readable stem plus a hash of everything that changes the cached pixels."""
        resolved = str(Path(self.path).resolve())
        digest = hashlib.sha1(json.dumps([CACHE_FORMAT, self.kind, resolved, self.topic, list(cache_size)])
                              .encode()).hexdigest()[:10]
        stem = Path(self.path).stem or "source"
        return f"{stem}-{digest}"


class FrameCache:
    """Frames of one source at a fixed size in a memmapped uint8 file, plus timestamps, intrinsics and
    any ground-truth depth (float16, NaN where unknown), all at the cached size, any ground-truth poses
    (4x4 camera-to-world, optical frame), and the size the source's frames had (`source_hw`), which the
    cached pixels no longer show."""

    RGB_FILE = "rgb.u8"
    DEPTH_FILE = "depth.npz"
    POSES_FILE = "poses.npz"
    META_FILE = "meta.json"

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        meta_path = self.directory / self.META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"no complete frame cache in {self.directory}")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"frame cache {self.directory} has format {self.meta.get('format')}, this version "
                             f"reads format {CACHE_FORMAT}: delete the folder and it is rebuilt from the source")
        self.name: str = self.meta["name"]
        self.height: int = self.meta["height"]
        self.width: int = self.meta["width"]
        self.source_hw: tuple[int, int] = (self.meta["source_height"], self.meta["source_width"])
        self.timestamps = np.asarray(self.meta["timestamps"], dtype=np.float64)
        k = self.meta["intrinsics"]
        self.intrinsics: np.ndarray | None = None if k is None else np.asarray(k, dtype=np.float64)
        count = len(self.timestamps)
        self.rgb = np.memmap(self.directory / self.RGB_FILE, dtype=np.uint8, mode="r",
                             shape=(count, self.height, self.width, 3))
        depth_path = self.directory / self.DEPTH_FILE
        self.depth: dict[int, np.ndarray] = {}
        if depth_path.is_file():
            with np.load(depth_path) as stored:
                for index, depth in zip(stored["indices"], stored["depth"], strict=True):
                    self.depth[int(index)] = depth
        poses_path = self.directory / self.POSES_FILE
        self.poses: dict[int, np.ndarray] = {}
        if poses_path.is_file():
            with np.load(poses_path) as stored:
                self.poses = {int(index): pose for index, pose in zip(stored["indices"], stored["poses"], strict=True)}

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def build(cls, frames: Iterable, directory: Path, size: tuple[int, int], name: str,
              source_intrinsics: np.ndarray | None = None) -> FrameCache:
        """Stream ``frames`` (objects with .timestamp, .rgb, .intrinsics, .depth, .pose) into ``directory``.

        The metadata is written last, by atomic rename, so an interrupted build is never mistaken for a
        complete cache. Intrinsics come from ``source_intrinsics`` or else the first frame that has
        them (one camera per source is assumed).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        height, width = size
        timestamps: list[float] = []
        depth_indices: list[int] = []
        depth_maps: list[np.ndarray] = []
        pose_indices: list[int] = []
        poses: list[np.ndarray] = []
        intrinsics = None if source_intrinsics is None else np.asarray(source_intrinsics, dtype=np.float64)
        intrinsics_size: tuple[int, int] | None = None
        with open(directory / cls.RGB_FILE, "wb") as rgb_file:
            for frame in frames:
                rgb = np.ascontiguousarray(frame.rgb)
                if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                    raise ValueError(f"{name}: frame {len(timestamps)} is not uint8 HxWx3")
                frame_hw = rgb.shape[:2]
                if intrinsics_size is None:
                    intrinsics_size = frame_hw
                    if intrinsics is None and getattr(frame, "intrinsics", None) is not None:
                        intrinsics = np.asarray(frame.intrinsics, dtype=np.float64)
                rgb_file.write(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA).tobytes())
                depth = getattr(frame, "depth", None)
                if depth is not None and np.isfinite(depth).any():
                    # Nearest neighbour: averaging across a depth edge invents surfaces that do not exist.
                    depth_maps.append(cv2.resize(depth.astype(np.float32), (width, height),
                                                 interpolation=cv2.INTER_NEAREST).astype(np.float16))
                    depth_indices.append(len(timestamps))
                pose = getattr(frame, "pose", None)
                if pose is not None and np.isfinite(pose).all():
                    poses.append(np.asarray(pose, dtype=np.float64))
                    pose_indices.append(len(timestamps))
                timestamps.append(float(frame.timestamp))
        if not timestamps or intrinsics_size is None:
            raise ValueError(f"{name}: the source produced no frames")
        if depth_maps:
            np.savez(directory / cls.DEPTH_FILE, indices=np.asarray(depth_indices), depth=np.stack(depth_maps))
        if poses:
            np.savez(directory / cls.POSES_FILE, indices=np.asarray(pose_indices), poses=np.stack(poses))
        scaled = None if intrinsics is None else resize_intrinsics(intrinsics, intrinsics_size, size).tolist()
        meta = {"format": CACHE_FORMAT, "name": name, "height": height, "width": width,
                "source_height": intrinsics_size[0], "source_width": intrinsics_size[1],
                "timestamps": timestamps, "intrinsics": scaled}
        tmp = directory / (cls.META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, directory / cls.META_FILE)
        return cls(directory)


def depth_as_input(depth: torch.Tensor, min_depth: float, far: float) -> torch.Tensor:
    """True depth fed where a network's depth would be (`given.depth`): pixels without a surface (NaN: the sky)
    at the far limit, so they warp as (nearly) at infinity; everything within [min_depth, far]."""
    return torch.nan_to_num(depth, nan=far).clamp(min_depth, far)


def square_pixel_aspect(cache: FrameCache, cached_k: np.ndarray, sample_k: np.ndarray) -> float:
    """fy / fx of a sample's camera if the source camera has square pixels (fx = fy at the source size).

    Why: every frame reaches the network resized to one input size, so the aspect ratio its pixels had is
    not in the image, and the motion network's learned fy is not observable
    (docs/decisions/square-pixel-intrinsics.md). Inference therefore takes fy for square pixels
    (`square_pixel_intrinsics`); training with learned intrinsics does the same with this factor. Resizing
    the source to the cache and the crop and resize of augmentation each scale x and y by their own factors;
    `cached_k` -> `sample_k` carries the second (any matrix works: only the ratio of the focal lengths'
    changes is used).
    """
    source_h, source_w = cache.source_hw
    to_cache = (cache.height / source_h) / (cache.width / source_w)
    augmentation = (sample_k[1, 1] / sample_k[0, 0]) / (cached_k[1, 1] / cached_k[0, 0])
    return float(to_cache * augmentation)


def open_or_build_cache(spec: SourceSpec, cache_root: Path, size: tuple[int, int]) -> FrameCache:
    """The cache of ``spec`` under ``cache_root``, decoding the source only when no complete cache exists."""
    directory = Path(cache_root) / spec.key(size)
    if (directory / FrameCache.META_FILE).is_file():
        return FrameCache(directory)
    from depth_motion_ros.sources import open_source  # imported late: bag readers are heavy

    source = open_source(spec.kind, spec.path, topic=spec.topic or None)
    LOG.info("decoding %s (%s) once into %s", spec.path, spec.kind, directory)
    return FrameCache.build(source, directory, size, name=getattr(source, "name", Path(spec.path).stem),
                            source_intrinsics=getattr(source, "intrinsics", None))


def cache_size_for(input_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """Cached frame size: the network input enlarged by ``scale`` (room for random crops)."""
    return (int(round(input_hw[0] * scale)), int(round(input_hw[1] * scale)))


def split_index(count: int, val_fraction: float) -> int:
    """First validation frame: the last floor(count * val_fraction) frames are held out."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("val_fraction must lie in [0, 1)")
    return count - int(math.floor(count * val_fraction + 1e-9))


def make_pairs(start: int, stop: int, stride: int) -> np.ndarray:
    """Pairs (i, i + stride) with both frames in [start, stop), as an int array [P, 2]."""
    if stride < 1:
        raise ValueError("stride must be at least 1")
    first = np.arange(start, max(stop - stride, start), dtype=np.int64)
    return np.stack([first, first + stride], axis=1)


def pair_differences(rgb: np.ndarray, pairs: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Mean absolute RGB difference on [0, 1] of every pair (chunked: the memmap may be large)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for begin in range(0, len(pairs), chunk):
        block = pairs[begin:begin + chunk]
        a = rgb[block[:, 0]].astype(np.int16)
        b = rgb[block[:, 1]].astype(np.int16)
        out[begin:begin + chunk] = np.abs(a - b).mean(axis=(1, 2, 3)) / 255.0
    return out


def drop_static_pairs(rgb: np.ndarray, pairs: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    """Pairs whose mean absolute difference exceeds ``threshold``, and how many were dropped."""
    if threshold <= 0 or len(pairs) == 0:
        return pairs, 0
    keep = pair_differences(rgb, pairs) > threshold
    return pairs[keep], int((~keep).sum())


@dataclass(frozen=True)
class DataConfig:
    cache_scale: float = 1.15
    stride: int = 1
    static_threshold: float = 0.01
    val_fraction: float = 0.2
    val_stride: int = 1

    @classmethod
    def from_dict(cls, values: dict) -> DataConfig:
        return cls(**values)


@dataclass(frozen=True)
class PairIndex:
    """Pairs of every cache: rows (cache number, frame i, frame j)."""

    rows: np.ndarray  # [P, 3] int64
    dropped_static: int = 0

    def __len__(self) -> int:
        return len(self.rows)


def build_pair_indices(caches: list[FrameCache], config: DataConfig,
                       specs: Sequence[SourceSpec] | None = None) -> tuple[PairIndex, PairIndex]:
    """Training pairs (static ones dropped) and validation pairs, split by time within each source.

    ``specs`` (one per cache) give each source's training-pair stride (None: ``config.stride``) and frame
    range (None: the whole training part).
    """
    train_rows: list[np.ndarray] = []
    val_rows: list[np.ndarray] = []
    dropped = 0
    for number, cache in enumerate(caches):
        boundary = split_index(len(cache), config.val_fraction)
        spec = specs[number] if specs is not None else None
        stride = (spec.stride if spec is not None else None) or config.stride
        first, end = spec.frames if spec is not None and spec.frames is not None else (0, boundary)
        train, removed = drop_static_pairs(cache.rgb, make_pairs(max(first, 0), min(end, boundary), stride),
                                           config.static_threshold)
        dropped += removed
        val = make_pairs(boundary, len(cache), config.val_stride)
        for rows, pairs in ((train_rows, train), (val_rows, val)):
            if len(pairs):
                rows.append(np.concatenate([np.full((len(pairs), 1), number, dtype=np.int64), pairs], axis=1))
    def stack(rows: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)
    return PairIndex(stack(train_rows), dropped), PairIndex(stack(val_rows))


class PairDataset(torch.utils.data.Dataset):
    """Frame pairs from the caches as network-ready tensors.

    Training samples are augmented with an RNG seeded by (seed, epoch, index), so the data of a step
    depends only on those numbers: identical across data-loader workers, ranks and resumed runs.
    Validation samples are only resized, and carry frame 1's ground-truth depth (NaN where unknown)
    at the cached size (``with_depth``).

    ``with_ground_truth`` adds what the ground-truth-given rungs of a diagnosis feed the losses in place of
    a network's output (`GivenGroundTruth`), following the sample's own crop, resize and flip: both frames'
    depth at the output size (``given_depth1``, ``given_depth2`` [1, H, W], NaN where unknown) and the
    camera motion of the pair (``given_motion`` 4x4, points of camera 1 into camera 2, NaN where unknown).
    """

    def __init__(self, caches: list[FrameCache], pairs: PairIndex, output_hw: tuple[int, int],
                 augment: AugmentConfig | None, seed: int = 0, with_depth: bool = False,
                 with_ground_truth: bool = False):
        self.caches = caches
        self.rows = pairs.rows
        self.output_hw = output_hw
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.with_depth = with_depth
        self.with_ground_truth = with_ground_truth

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        number, i, j = (int(v) for v in self.rows[index])
        cache = self.caches[number]
        intrinsics = cache.intrinsics
        has_intrinsics = intrinsics is not None
        k: np.ndarray = intrinsics if intrinsics is not None else np.eye(3)
        cache_hw = (cache.height, cache.width)
        if self.augment is not None and self.augment.enabled:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            rgb1, rgb2, k_out, geometry = augment_pair(cache.rgb[i], cache.rgb[j], k, self.output_hw, rng,
                                                       self.augment)
        else:
            rgb1, rgb2, k_out, geometry = resize_pair(cache.rgb[i], cache.rgb[j], k, self.output_hw)
        sample = {
            "rgb1": rgb1, "rgb2": rgb2, "source": torch.tensor(number),
            "intrinsics": torch.as_tensor(k_out, dtype=torch.float32),
            "has_intrinsics": torch.tensor(has_intrinsics),
            "square_pixel_aspect": torch.tensor(square_pixel_aspect(cache, k, k_out), dtype=torch.float32),
        }
        if self.with_depth:
            depth = cache.depth.get(i)
            sample["depth1"] = (torch.from_numpy(depth.astype(np.float32)) if depth is not None
                                else torch.full(cache_hw, float("nan")))
        if self.with_ground_truth:
            for name, frame in (("given_depth1", i), ("given_depth2", j)):
                depth = cache.depth.get(frame)
                sample[name] = (torch.from_numpy(geometry_of_map(depth.astype(np.float32), geometry,
                                                                 self.output_hw))[None]
                                if depth is not None else torch.full((1, *self.output_hw), float("nan")))
            motion = np.full((4, 4), np.nan)
            if i in cache.poses and j in cache.poses:  # camera-to-world poses: p2 = inv(T_w2) T_w1 p1
                motion = np.linalg.solve(cache.poses[j], cache.poses[i])
                if geometry.flip:
                    motion = mirror_rigid_motion(motion)
            sample["given_motion"] = torch.as_tensor(motion, dtype=torch.float32)
        return sample


def epoch_batches(dataset_size: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world_size: int = 1) -> list[list[int]]:
    """This rank's batches of one epoch: a seeded permutation, sharded by rank, incomplete batch dropped.

    Every rank gets the same number of batches (DistributedDataParallel needs equal step counts).
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(dataset_size, generator=generator).tolist()
    per_rank = dataset_size // world_size
    mine = order[rank * per_rank:(rank + 1) * per_rank]
    count = len(mine) // batch_size
    return [mine[b * batch_size:(b + 1) * batch_size] for b in range(count)]
