"""A small rosbag player over rclpy, for machines without `ros2 bag play` (rosbag2_py is not always there).

Messages are published byte for byte as stored (ROS 1 bags are converted to CDR first), in bag order,
either paced like the recording (scaled by `rate`) or in lockstep with a consumer: after each image the
player waits until the consumer says it has handled that frame, which makes a run reproducible on any
machine. Publishers are reliable with a deep queue, so they match both reliable and best-effort
subscriptions (the node's inputs are best-effort by default).
"""
from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def message_class(type_name: str) -> type:
    """'sensor_msgs/msg/Image' -> the rclpy message class sensor_msgs.msg.Image."""
    package, kind, name = type_name.split("/")
    cls: type = getattr(importlib.import_module(f"{package}.{kind}"), name)
    return cls


def cdr_stamp_ns(data: bytes) -> int:
    """Header stamp (ns) of a CDR-serialised message whose first field is a std_msgs/Header."""
    byteorder: Literal["little", "big"] = "little" if data[1] == 1 else "big"
    sec = int.from_bytes(data[4:8], byteorder, signed=True)
    nanosec = int.from_bytes(data[8:12], byteorder)
    return sec * 10**9 + nanosec


def with_cdr_stamp(data: bytes, stamp_ns: int) -> bytes:
    """A copy of a CDR-serialised message starting with a std_msgs/Header, with another header stamp."""
    byteorder: Literal["little", "big"] = "little" if data[1] == 1 else "big"
    sec, nanosec = divmod(stamp_ns, 10**9)
    return (data[:4] + sec.to_bytes(4, byteorder, signed=True) + nanosec.to_bytes(4, byteorder)
            + data[12:])


@dataclass(frozen=True)
class PlaybackStats:
    published: int          # messages published
    images: int             # of which on image topics
    unanswered: int         # lockstep images the consumer did not confirm in time
    seconds: float
    image_stamps: tuple[int, ...] = ()   # header stamps (ns) of the images, as published


class BagPlayer:
    """Plays the topics of `topic_map` (bag topic -> published topic) from the bag at `path` on `node`."""

    def __init__(self, node: Node, path: str | Path, topic_map: Mapping[str, str], queue_depth: int = 100) -> None:
        self.node = node
        self.path = Path(path)
        self.topic_map = dict(topic_map)
        self._typestore = get_typestore(Stores.ROS2_HUMBLE)
        with AnyReader([self.path], default_typestore=self._typestore) as reader:
            available = {c.topic: c.msgtype for c in reader.connections}
        missing = sorted(set(self.topic_map) - set(available))
        if missing:
            raise ValueError(f"{self.path} has no topic(s) {', '.join(missing)}; "
                             f"it has: {', '.join(sorted(available))}")
        self.types = {topic: available[topic] for topic in self.topic_map}
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=queue_depth, reliability=ReliabilityPolicy.RELIABLE)
        self.publishers: dict[str, Publisher] = {
            topic: node.create_publisher(message_class(self.types[topic]), self.topic_map[topic], qos)
            for topic in self.topic_map}

    def wait_for_subscribers(self, bag_topic: str, timeout: float) -> bool:
        """Block until something subscribes to the topic `bag_topic` is published on (False on timeout)."""
        publisher = self.publishers[bag_topic]
        deadline = time.monotonic() + timeout
        while publisher.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def play(self, rate: float | None = 1.0, frame_done: Callable[[int], bool] | None = None,
             max_images: int | None = None, republish: int = 2,
             stop_when: Callable[[], bool] | None = None, stamp_offset_ns: int = 0) -> PlaybackStats:
        """Publish the bag once.

        `rate`: playback speed relative to the recording (None: no pacing). `frame_done(stamp_ns)`, when
        given, is called after each image and should block until the consumer has handled it, returning
        False on timeout; the image is then published again, up to `republish` times. That covers the
        discovery race of DDS: a publisher can see a subscription match before the subscriber has
        matched the publisher, and a best-effort subscriber then misses the first message.
        `max_images` stops after that many images, `stop_when()` (checked after each image) when it is True.
        `stamp_offset_ns` shifts every header stamp (all played types start with a Header), e.g. to warm a
        consumer up on frames that cannot be confused with the real run.
        """
        start = time.monotonic()
        published = images = unanswered = 0
        image_stamps: list[int] = []
        first_log_time: int | None = None
        with AnyReader([self.path], default_typestore=self._typestore) as reader:
            connections = [c for c in reader.connections if c.topic in self.topic_map]
            for connection, log_time, raw in reader.messages(connections=connections):
                is_image = connection.msgtype in IMAGE_TYPES
                if is_image and max_images is not None and images >= max_images:
                    break
                if rate is not None and rate > 0:
                    first_log_time = log_time if first_log_time is None else first_log_time
                    delay = (log_time - first_log_time) / 1e9 / rate - (time.monotonic() - start)
                    if delay > 0:
                        time.sleep(delay)
                data = bytes(raw if reader.is2 else self._typestore.ros1_to_cdr(raw, connection.msgtype))
                if stamp_offset_ns:
                    data = with_cdr_stamp(data, cdr_stamp_ns(data) + stamp_offset_ns)
                self.publishers[connection.topic].publish(data)
                published += 1
                if is_image:
                    images += 1
                    image_stamps.append(cdr_stamp_ns(data))
                    if frame_done is not None and not self._confirmed(connection.topic, data, frame_done,
                                                                      republish):
                        unanswered += 1
                    if stop_when is not None and stop_when():
                        break
        return PlaybackStats(published, images, unanswered, time.monotonic() - start, tuple(image_stamps))

    def _confirmed(self, topic: str, data: bytes, frame_done: Callable[[int], bool], republish: int) -> bool:
        stamp = cdr_stamp_ns(data)
        for _ in range(republish):
            if frame_done(stamp):
                return True
            self.publishers[topic].publish(data)
        return frame_done(stamp)
