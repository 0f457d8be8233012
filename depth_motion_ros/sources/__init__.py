"""Frame sources (bags, videos, image folders, sequence folders) shared by training and the CLIs.

`open_source(kind, path, topic=None, start=0, end=None, stride=1, **options)` is the one entry point;
every source yields `Frame`s lazily and re-reads from the start on each iteration.
"""
from __future__ import annotations

from depth_motion_ros.sources.bag_reader import DamagedBagWarning
from depth_motion_ros.sources.bag_source import BagSource
from depth_motion_ros.sources.frame import Frame, FrameRange, FrameSource, SourceError
from depth_motion_ros.sources.image_folder import ImageFolderSource
from depth_motion_ros.sources.sequence_folder import SequenceFolderSource
from depth_motion_ros.sources.video import VideoSource

SOURCE_KINDS = ("bag", "video", "images", "sequence")


def open_source(kind: str, path: str, topic: str | None = None, start: int = 0, end: int | None = None,
                stride: int = 1, **options) -> FrameSource:
    """Open a frame source of `kind` ('bag', 'video', 'images' or 'sequence').

    `start`/`end`/`stride` select frames by index in the whole source (`end` exclusive). `topic` applies
    to bags only. Further keyword options go to the source class: for bags `depth_topic`, `pose_topic`,
    `camera_info_topic`, `sync_tolerance`, `depth_metres_per_unit`, `image_rectified` (None: from the topic
    name; raw images are rectified when the bag's camera_info has distortion); for videos and image folders
    `intrinsics` (3x3); for image folders `rate_hz`.
    """
    frame_range = FrameRange(start, end, stride)
    if kind == "bag":
        return BagSource(path, topic=topic, frame_range=frame_range, **options)
    if topic is not None:
        raise ValueError(f"topic applies to bags only, not to kind '{kind}'")
    if kind == "video":
        return VideoSource(path, frame_range=frame_range, **options)
    if kind == "images":
        return ImageFolderSource(path, frame_range=frame_range, **options)
    if kind == "sequence":
        return SequenceFolderSource(path, frame_range=frame_range, **options)
    raise ValueError(f"unknown source kind '{kind}' (choose from {', '.join(SOURCE_KINDS)})")


__all__ = [
    "SOURCE_KINDS", "BagSource", "DamagedBagWarning", "Frame", "FrameRange", "FrameSource", "ImageFolderSource",
    "SequenceFolderSource", "SourceError", "VideoSource", "open_source",
]
