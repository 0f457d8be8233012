"""Video files read with OpenCV, one frame decoded at a time."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from depth_motion_ros.sources.frame import Frame, FrameRange, FrameSource, SourceError


class VideoSource(FrameSource):
    """Frames of a video file; timestamps are `index / fps`.

    Frames before `start` and between strides are skipped with `grab()` (no colour conversion) rather
    than by seeking, because seeking is frame-exact only for some codecs and containers.
    """

    def __init__(self, path: str | Path, frame_range: FrameRange | None = None,
                 intrinsics: np.ndarray | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist")
        super().__init__(self.path.stem, frame_range)
        capture = self._open()
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        self.rate_hz = fps if fps and fps > 0 else None
        self.intrinsics = None if intrinsics is None else np.asarray(intrinsics, dtype=np.float64)

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise SourceError(f"OpenCV cannot open video {self.path}")
        return capture

    def __len__(self) -> int:
        """The container's frame count, which is an estimate for some formats."""
        return self.frame_range.count(self.frame_count)

    def __iter__(self) -> Iterator[Frame]:
        capture = self._open()
        rate = self.rate_hz or 1.0
        try:
            index = 0
            while not self.frame_range.is_past(index):
                if not capture.grab():
                    return
                if self.frame_range.contains(index):
                    ok, bgr = capture.retrieve()
                    if not ok:
                        return
                    yield Frame(index=index, timestamp=index / rate, rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                                intrinsics=self.intrinsics)
                index += 1
        finally:
            capture.release()
