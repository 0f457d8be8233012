"""A folder of image files, read in natural order (frame2 before frame10), one decode per frame."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from depth_motion_ros.sources.frame import Frame, FrameRange, FrameSource, SourceError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def natural_sort_key(path: Path) -> list:
    """Sort key that orders embedded numbers by value, so unpadded frame numbers stay in sequence."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, naturally sorted."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=natural_sort_key)


def read_rgb(path: Path) -> np.ndarray:
    """An image file -> uint8 [H, W, 3] RGB (grey images are replicated to three channels)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"cannot decode image file {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageFolderSource(FrameSource):
    """Frames from the image files of one folder.

    Image folders carry no time, so timestamps are `index / rate_hz` when a rate is given and the frame
    index (as seconds) otherwise. Intrinsics, when known, are given as a 3x3 matrix at the images' size.
    """

    def __init__(self, path: str | Path, frame_range: FrameRange | None = None,
                 intrinsics: np.ndarray | None = None, rate_hz: float | None = None) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise SourceError(f"image folder {folder} does not exist")
        super().__init__(folder.name, frame_range)
        self.files = list_images(folder)
        if not self.files:
            raise SourceError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        self.intrinsics = None if intrinsics is None else np.asarray(intrinsics, dtype=np.float64)
        self.rate_hz = rate_hz

    def __len__(self) -> int:
        return self.frame_range.count(len(self.files))

    def timestamp(self, index: int) -> float:
        return index / self.rate_hz if self.rate_hz else float(index)

    def __iter__(self) -> Iterator[Frame]:
        r = self.frame_range
        for index in range(r.start, len(self.files) if r.end is None else min(r.end, len(self.files)), r.stride):
            yield Frame(index=index, timestamp=self.timestamp(index), rgb=read_rgb(self.files[index]),
                        intrinsics=self.intrinsics)
