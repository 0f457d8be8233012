"""The unit every source yields, the base class of sources and the frame-range selection they share.

Training, the inference CLI, the evaluation and the demo all consume frames the same way whatever the
container (bag, video, folder), so each source only has to know how to read its container; range
selection, lengths and naming behave identically everywhere.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


class SourceError(RuntimeError):
    """A source that cannot be opened or read as asked; the message says what exists instead."""


@dataclass
class Frame:
    """One camera frame with whatever ground truth its container carries.

    `index` is the frame's position in the whole source (before range selection), so outputs can be
    numbered like the input and ground truth files can be found again.
    """

    index: int
    timestamp: float  # seconds
    rgb: np.ndarray  # uint8 [H, W, 3]
    intrinsics: np.ndarray | None = None  # 3x3 at this frame's resolution
    depth: np.ndarray | None = None  # float32 [H, W] metres, NaN where unknown
    pose: np.ndarray | None = None  # 4x4 camera-to-world (optical frame) ground truth
    #: float32 [H, W, 3] metres: true translation of each pixel's scene point to the next frame, in the next
    #: camera's frame (rendered sequences only: `motion/NNNNNN.npy`).
    object_motion: np.ndarray | None = None


@dataclass(frozen=True)
class FrameRange:
    """Which frames of a source to yield: indices `start, start + stride, ...` below `end` (exclusive).

    `end=None` means up to the last frame. The semantics are those of Python's `range`, e.g. 7-Scenes
    validation frames 800-999 are `FrameRange(800, 1000)`.
    """

    start: int = 0
    end: int | None = None
    stride: int = 1

    def __post_init__(self) -> None:
        if self.start < 0:
            raise ValueError(f"start must be >= 0, got {self.start}")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")

    def contains(self, index: int) -> bool:
        """Whether the frame at `index` of the whole source is selected."""
        if index < self.start or (self.end is not None and index >= self.end):
            return False
        return (index - self.start) % self.stride == 0

    def is_past(self, index: int) -> bool:
        """Whether `index` and every later frame lie beyond the range (lets readers stop early)."""
        return self.end is not None and index >= self.end

    def count(self, total: int) -> int:
        """Number of selected frames in a source of `total` frames."""
        return len(range(self.start, total if self.end is None else min(self.end, total), self.stride))


class FrameSource(ABC):
    """An iterable of `Frame` read lazily from one container; each iteration starts from the beginning."""

    name: str
    intrinsics: np.ndarray | None  # 3x3 at the frames' resolution, None when unknown
    rate_hz: float | None  # nominal frame rate, None when unknown

    def __init__(self, name: str, frame_range: FrameRange | None = None) -> None:
        self.name = name
        self.frame_range = frame_range or FrameRange()
        self.intrinsics = None
        self.rate_hz = None

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Yield the selected frames in order, decoding one at a time."""
