"""Camera frames from a ROS bag, with camera_info, depth and ground-truth poses matched by time.

Topics are chosen explicitly or auto-detected (the single colour image topic; a single image topic with
"depth" in its name; the CameraInfo beside the image topic; the single pose topic). Depth is matched to
each image by nearest header stamp within `sync_tolerance` while streaming, holding back at most a
short window of undecoded image messages; poses are interpolated at the image stamp. Only the selected
frames are decoded. Undecodable messages are skipped and counted in `skipped_messages`. Raw images whose
camera_info has lens distortion are rectified (image_rectification.py), their depth maps with them, and
the frame's intrinsics are the rectified camera's (P's matrix), so that training and evaluation see the
pinhole images the node sees; an image_rect topic is already rectified and only takes P's matrix.
"""
from __future__ import annotations

import posixpath
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.image_encoding import ImageDecodeError
from depth_motion_ros.image_rectification import Calibration, CalibrationError, Rectifier, is_rectified_topic
from depth_motion_ros.sources.bag_messages import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPES,
    POSE_TYPES,
    camera_info_calibration,
    depth_to_metres,
    header_stamp,
    image_to_rgb,
    pose_message_to_matrix,
)
from depth_motion_ros.sources.bag_reader import BagMessage, BagReader, TopicInfo
from depth_motion_ros.sources.frame import Frame, FrameRange, FrameSource, SourceError
from depth_motion_ros.sources.poses import PoseTrack

#: Image messages wait at most this long (bag time) for a depth message closer in time to arrive.
MAX_DEPTH_WAIT_S = 1.0


def _is_depth_topic(name: str) -> bool:
    return "depth" in name.lower()


def describe_image_topics(topics: dict[str, TopicInfo]) -> str:
    """'  /a (sensor_msgs/msg/Image, 25 messages)' lines, or a note that there are none."""
    lines = [f"  {t.name} ({t.msgtype}, {t.count} messages)" for t in topics.values() if t.msgtype in IMAGE_TYPES]
    return "\n".join(lines) if lines else "  (none: the bag has no sensor_msgs Image or CompressedImage topic)"


def select_image_topic(topics: dict[str, TopicInfo], requested: str | None) -> str:
    """The colour image topic to read: `requested` if valid, else the only non-depth image topic."""
    if requested is not None:
        info = topics.get(requested)
        if info is None or info.msgtype not in IMAGE_TYPES:
            raise SourceError(f"topic '{requested}' is not an image topic of this bag; image topics:\n"
                              f"{describe_image_topics(topics)}")
        if info.count == 0:
            raise SourceError(f"topic '{requested}' has no messages; image topics:\n{describe_image_topics(topics)}")
        return requested
    candidates = [t.name for t in topics.values()
                  if t.msgtype in IMAGE_TYPES and not _is_depth_topic(t.name) and t.count > 0]
    if len(candidates) != 1:
        reason = "no colour image topic with messages" if not candidates else "several image topics"
        raise SourceError(f"{reason}: choose one with the topic option (--topic); "
                          f"image topics:\n{describe_image_topics(topics)}")
    return candidates[0]


def _single(topics: dict[str, TopicInfo], types: tuple[str, ...], exclude: str = "") -> str | None:
    names = [t.name for t in topics.values() if t.msgtype in types and t.name != exclude and t.count > 0]
    return names[0] if len(names) == 1 else None


def select_camera_info_topic(topics: dict[str, TopicInfo], image_topic: str) -> str | None:
    """`<camera namespace>/camera_info` for `<ns>/image_raw[/compressed]`, else the only CameraInfo topic."""
    base = image_topic[: -len("/compressed")] if image_topic.endswith("/compressed") else image_topic
    beside = posixpath.join(posixpath.dirname(base), "camera_info")
    if beside in topics and topics[beside].msgtype == CAMERA_INFO_TYPE:
        return beside
    return _single(topics, (CAMERA_INFO_TYPE,))


def _check_optional_topic(topics: dict[str, TopicInfo], name: str, types: tuple[str, ...], what: str) -> str:
    if name not in topics or topics[name].msgtype not in types:
        available = ", ".join(t.name for t in topics.values() if t.msgtype in types) or "none"
        raise SourceError(f"{what} topic '{name}' is not in the bag (candidates: {available})")
    return name


@dataclass
class _PendingImage:
    index: int
    stamp: float
    log_time: float
    message: BagMessage
    depth: BagMessage | None = None
    depth_offset: float = float("inf")


class BagSource(FrameSource):
    """Frames of one image topic of a bag (ROS 2 sqlite3 or MCAP, ROS 1)."""

    def __init__(self, path: str | Path, topic: str | None = None, frame_range: FrameRange | None = None,
                 depth_topic: str | None = None, pose_topic: str | None = None,
                 camera_info_topic: str | None = None, sync_tolerance: float = 0.025,
                 depth_metres_per_unit: float = 0.001, image_rectified: bool | None = None) -> None:
        """`image_rectified`: whether the image topic is already rectified (image_proc's image_rect); None
        decides by its name (`image_rect...`). Raw images are rectified when their camera_info has distortion,
        and so are depth maps unless their own topic is named `image_rect...`.
        """
        self.reader = BagReader(path)
        super().__init__(Path(path).stem, frame_range)
        topics = self.reader.topics
        self.image_topic = select_image_topic(topics, topic)
        self.depth_topic = (_check_optional_topic(topics, depth_topic, IMAGE_TYPES, "depth") if depth_topic
                            else _single({k: v for k, v in topics.items() if _is_depth_topic(k)}, IMAGE_TYPES,
                                         exclude=self.image_topic))
        self.pose_topic = (_check_optional_topic(topics, pose_topic, POSE_TYPES, "pose") if pose_topic
                           else _single(topics, POSE_TYPES))
        self.camera_info_topic = (_check_optional_topic(topics, camera_info_topic, (CAMERA_INFO_TYPE,), "camera_info")
                                  if camera_info_topic else select_camera_info_topic(topics, self.image_topic))
        self.sync_tolerance = sync_tolerance
        self.depth_metres_per_unit = depth_metres_per_unit
        self.skipped_frames = 0  # image messages that failed to decode
        self.skipped_depth = 0  # matched depth messages that failed to decode
        self.image_rectified = is_rectified_topic(self.image_topic) if image_rectified is None else image_rectified
        self._depth_rectified = self.depth_topic is not None and is_rectified_topic(self.depth_topic)
        self._calibration: Calibration | None = None
        #: Rectifiers of the current calibration by image size (None: that size is used as recorded).
        self._rectifiers: dict[tuple[int, int], Rectifier | None] = {}
        self._set_calibration(self._first_camera_info())
        self._pose_track: PoseTrack | None = None
        self.rate_hz, image_size = self._probe_images()
        self.intrinsics = self._intrinsics_for(image_size) if image_size else None

    @property
    def skipped_messages(self) -> int:
        """Messages skipped so far: undeserialisable ones plus images and depth maps that failed to decode."""
        return self.reader.skipped_messages + self.skipped_frames + self.skipped_depth

    def __len__(self) -> int:
        return self.frame_range.count(self.reader.topics[self.image_topic].count)

    def _first_camera_info(self) -> Calibration | None:
        if self.camera_info_topic is None:
            return None
        for message in self.reader.messages([self.camera_info_topic]):
            return camera_info_calibration(message.message)
        return None

    def _set_calibration(self, calibration: Calibration | None) -> None:
        """Keep the newest calibration (its rectifiers are built when first needed)."""
        if calibration is None or (self._calibration is not None and self._calibration.matches(calibration)):
            return
        self._calibration, self._rectifiers = calibration, {}

    def _rectifier_for(self, size: tuple[int, int]) -> Rectifier | None:
        """The rectifier for raw images of `size` (the calibration scaled to it), or None when they are
        pinhole images already or cannot be rectified (said once, with a RuntimeWarning)."""
        size = (int(size[0]), int(size[1]))
        if size not in self._rectifiers:
            rectifier = None
            calibration = self._calibration
            if calibration is not None and calibration.needs_rectification and min(calibration.size) > 0:
                try:
                    rectifier = Rectifier(calibration.at_size(size))
                except CalibrationError as error:
                    warnings.warn(f"{self.name}: the frames of {self.image_topic} are used as recorded, not "
                                  f"rectified: {error}", RuntimeWarning, stacklevel=3)
            self._rectifiers[size] = rectifier
        return self._rectifiers[size]

    def _image_rectifier(self, size: tuple[int, int]) -> Rectifier | None:
        return None if self.image_rectified else self._rectifier_for(size)

    def _probe_images(self, samples: int = 10) -> tuple[float | None, tuple[int, int] | None]:
        """Frame rate (median stamp interval of the first images) and the first decodable image's size."""
        stamps, size = [], None
        for message in self.reader.messages([self.image_topic]):
            stamps.append(self._stamp(message))
            if size is None:
                try:
                    size = image_to_rgb(message.msgtype, message.message).shape[:2]
                except (ImageDecodeError, AttributeError):  # counted when the frame is read
                    pass
            if len(stamps) == samples:
                break
        intervals = np.diff(stamps)
        intervals = intervals[intervals > 0]
        return (float(1.0 / np.median(intervals)) if len(intervals) else None), size

    def _stamp(self, message: BagMessage) -> float:
        stamp = header_stamp(message.message)
        return stamp if stamp is not None else message.log_time_ns * 1e-9

    def _load_pose_track(self) -> PoseTrack | None:
        if self.pose_topic is None:
            return None
        times, poses = [], []
        for message in self.reader.messages([self.pose_topic]):
            times.append(self._stamp(message))
            poses.append(pose_message_to_matrix(message.msgtype, message.message))
        return PoseTrack(times, poses, tolerance=self.sync_tolerance)

    def _matched_images(self) -> Iterator[_PendingImage]:
        """Selected image messages with their nearest depth message, in order, with bounded look-ahead."""
        topics = [t for t in (self.image_topic, self.depth_topic, self.camera_info_topic) if t]
        pending: deque[_PendingImage] = deque()
        last_depth: tuple[float, BagMessage] | None = None
        index = -1
        for message in self.reader.messages(topics):
            now = message.log_time_ns * 1e-9
            if message.topic == self.image_topic:
                index += 1
                if self.frame_range.is_past(index):
                    break
                if not self.frame_range.contains(index):
                    continue
                item = _PendingImage(index, self._stamp(message), now, message)
                if last_depth is not None:
                    self._offer_depth(item, *last_depth)
                pending.append(item)
            elif message.topic == self.depth_topic:
                stamp = self._stamp(message)
                last_depth = (stamp, message)
                for item in pending:
                    self._offer_depth(item, stamp, message)
            elif message.topic == self.camera_info_topic:
                self._set_calibration(camera_info_calibration(message.message))
            while pending and self._is_settled(pending[0], last_depth, now):
                yield pending.popleft()
        yield from pending

    def _offer_depth(self, item: _PendingImage, stamp: float, message: BagMessage) -> None:
        offset = abs(stamp - item.stamp)
        if offset <= self.sync_tolerance and offset < item.depth_offset:
            item.depth, item.depth_offset = message, offset

    def _is_settled(self, item: _PendingImage, last_depth: tuple[float, BagMessage] | None, now: float) -> bool:
        """No later depth message can match `item` better (or waiting any longer is pointless)."""
        if self.depth_topic is None:
            return True
        if last_depth is not None and last_depth[0] > item.stamp + self.sync_tolerance:
            return True
        return now - item.log_time > MAX_DEPTH_WAIT_S

    def _intrinsics_for(self, size: tuple[int, int]) -> np.ndarray | None:
        """The camera matrix of a frame of `size` as returned: P's for a rectified one, else K."""
        if self._calibration is None:
            return None
        rectified = self.image_rectified or self._image_rectifier(size) is not None
        matrix = self._calibration.rectified_intrinsics if rectified else self._calibration.k
        calibrated_size = self._calibration.size
        if calibrated_size[0] <= 0 or calibrated_size[1] <= 0:
            return matrix.copy()
        return resize_intrinsics(matrix, calibrated_size, size)

    def __iter__(self) -> Iterator[Frame]:
        if self._pose_track is None:
            self._pose_track = self._load_pose_track()
        for item in self._matched_images():
            try:
                rgb = image_to_rgb(item.message.msgtype, item.message.message)
            except (ImageDecodeError, AttributeError):  # a corrupt image: skip the frame, keep the stream
                self.skipped_frames += 1
                continue
            depth = None
            if item.depth is not None:
                try:
                    depth = depth_to_metres(item.depth.msgtype, item.depth.message, self.depth_metres_per_unit)
                except (ImageDecodeError, AttributeError):  # the frame stays usable without depth
                    self.skipped_depth += 1
            rectifier = self._image_rectifier(rgb.shape[:2])
            if rectifier is not None:
                rgb = rectifier.rectify(rgb)
            if depth is not None and not self._depth_rectified:
                depth_rectifier = self._rectifier_for(depth.shape)
                if depth_rectifier is not None:
                    depth = depth_rectifier.rectify(depth, nearest=True)
            yield Frame(
                index=item.index,
                timestamp=item.stamp,
                rgb=rgb,
                intrinsics=self._intrinsics_for(rgb.shape[:2]),
                depth=depth,
                pose=None if self._pose_track is None else self._pose_track.at(item.stamp),
            )
