"""Records ROS 2 topics as serialized bytes (rclpy raw subscriptions) and writes them to an MCAP bag.

Nothing is deserialized while recording, so the recorder costs the system under test almost nothing; the
header stamp is read straight from the CDR bytes so that a player can wait for the output of a frame.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_motion_ros.cli.bag_player import cdr_stamp_ns, message_class


@dataclass(frozen=True)
class RecordedMessage:
    topic: str
    receive_time_ns: int
    stamp_ns: int
    data: bytes


class TopicRecorder:
    """Subscribes to `topics` (name -> 'pkg/msg/Type') on `node` and keeps every message it receives."""

    def __init__(self, node: Node, topics: Mapping[str, str], reliable: bool = True, depth: int = 100) -> None:
        self.node = node
        self.types = dict(topics)
        self.messages: list[RecordedMessage] = []
        self._stamps: dict[str, set[int]] = {topic: set() for topic in self.types}
        self._condition = threading.Condition()
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.subscriptions = [
            node.create_subscription(message_class(type_name), topic, self._callback(topic), qos, raw=True)
            for topic, type_name in self.types.items()]

    def _callback(self, topic: str):
        def record(data: bytes) -> None:
            message = RecordedMessage(topic, time.time_ns(), cdr_stamp_ns(data), bytes(data))
            with self._condition:
                self.messages.append(message)
                self._stamps[topic].add(message.stamp_ns)
                self._condition.notify_all()
        return record

    def wait_for_publishers(self, timeout: float) -> bool:
        """Block until every recorded topic has a publisher matched (False on timeout)."""
        deadline = time.monotonic() + timeout
        while any(s.get_publisher_count() == 0 for s in self.subscriptions):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def wait_for_stamp(self, topic: str, stamp_ns: int, timeout: float) -> bool:
        """Block until a message stamped `stamp_ns` has arrived on `topic` (False on timeout)."""
        with self._condition:
            return self._condition.wait_for(lambda: stamp_ns in self._stamps[topic], timeout)

    def missing_topics(self) -> list[str]:
        """Recorded topics on which nothing has arrived yet."""
        with self._condition:
            return [topic for topic, stamps in self._stamps.items() if not stamps]

    def clear(self) -> None:
        """Forget everything received so far (e.g. a warm-up)."""
        with self._condition:
            self.messages.clear()
            for stamps in self._stamps.values():
                stamps.clear()

    def keep_only(self, stamps: set[int]) -> None:
        """Drop the messages whose header stamp is not in `stamps` (late arrivals of a warm-up)."""
        with self._condition:
            self.messages[:] = [m for m in self.messages if m.stamp_ns in stamps]

    def wait_for_counts(self, minimum: dict[str, int], timeout: float, stamps: set[int] | None = None) -> bool:
        """Block until every topic of `minimum` has at least that many messages (False on timeout); with
        `stamps`, only messages stamped with one of them count."""
        def enough() -> bool:
            counts: dict[str, int] = {}
            for message in self.messages:
                if stamps is None or message.stamp_ns in stamps:
                    counts[message.topic] = counts.get(message.topic, 0) + 1
            return all(counts.get(topic, 0) >= count for topic, count in minimum.items())
        with self._condition:
            return self._condition.wait_for(enough, timeout)

    def received(self, topic: str) -> list[RecordedMessage]:
        with self._condition:
            return [m for m in self.messages if m.topic == topic]

    def counts(self) -> dict[str, int]:
        with self._condition:
            return {topic: sum(m.topic == topic for m in self.messages) for topic in self.types}

    def write_mcap(self, path: str | Path) -> Path:
        """Write everything received, in arrival order, to a new MCAP bag (log time = receive time)."""
        typestore = get_typestore(Stores.ROS2_HUMBLE)
        with self._condition:
            messages = list(self.messages)
        writer = Writer(Path(path), version=8, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        try:
            connections = {topic: writer.add_connection(topic, type_name, typestore=typestore)
                           for topic, type_name in self.types.items()}
            for message in messages:
                writer.write(connections[message.topic], message.receive_time_ns, message.data)
        finally:
            writer.close()
        return Path(path)
