"""Deserialised messages of a ROS 1 / ROS 2 (sqlite3, MCAP) bag, streamed, surviving damage.

An intact bag is read through `rosbags.highlevel.AnyReader` (indexed, time ordered). A bag whose index
cannot be read is scanned record by record (`bag_recovery`) with a warning; a bag that breaks while
being read yields everything before the break, again with a warning, so a crashed recording still
trains and evaluates on what it holds. Messages that fail to deserialise are skipped and counted.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

from depth_motion_ros.sources.bag_recovery import (
    RecoveredConnection,
    RecoveredMessage,
    scan_mcap,
    scan_ros1,
)
from depth_motion_ros.sources.frame import SourceError


class DamagedBagWarning(UserWarning):
    """The bag is truncated or corrupt; only the messages before the damage are read."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str  # 'pkg/msg/Name'
    count: int  # messages stored (for a damaged bag: messages readable)


class BagMessage(NamedTuple):
    topic: str
    msgtype: str
    log_time_ns: int
    message: object  # the deserialised rosbags message


def _bag_file(path: Path, suffix: str) -> Path | None:
    """The storage file of a bag given as a file or as a ROS 2 bag folder."""
    if path.is_file():
        return path if path.suffix == suffix else None
    matches = sorted(path.glob(f"*{suffix}")) if path.is_dir() else []
    return matches[0] if matches else None


class BagReader:
    """Topics and messages of one bag; every call to `messages` reads the bag again from the start."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"bag {self.path} does not exist")
        self.skipped_messages = 0  # messages that could not be deserialised
        self._damage_reported = False
        self._scanner: Callable[[], Iterator[RecoveredConnection | RecoveredMessage]] | None = None
        try:
            with AnyReader([self.path]) as reader:
                self.topics = {
                    name: TopicInfo(name, info.msgtype or "", info.msgcount) for name, info in reader.topics.items()
                }
        except AnyReaderError as exc:
            self._scanner = self._recovery_scanner(exc)
            self.topics = self._scan_topics()

    def _recovery_scanner(self, error: Exception) -> Callable[[], Iterator[RecoveredConnection | RecoveredMessage]]:
        mcap, ros1 = _bag_file(self.path, ".mcap"), _bag_file(self.path, ".bag")
        if mcap is not None:
            scanner = partial(scan_mcap, mcap)
        elif ros1 is not None:
            scanner = partial(scan_ros1, ros1)
        elif _bag_file(self.path, ".db3") is not None:
            raise SourceError(
                f"cannot open bag {self.path}: {error}. SQLite refuses a damaged database file as a whole; "
                f"try `sqlite3 BAG.db3 .recover | sqlite3 fixed.db3` and copy metadata.yaml beside it") from error
        else:
            raise SourceError(f"cannot open bag {self.path}: {error}") from error
        warnings.warn(f"bag {self.path} has an unreadable index ({error}); reading it record by record "
                      f"up to the damage", DamagedBagWarning, stacklevel=3)
        return scanner

    def _scan_records(self) -> Iterator[RecoveredConnection | RecoveredMessage]:
        """The scanner's records, ending with a warning at the first damaged one."""
        assert self._scanner is not None, "only a bag with a damaged index is read record by record"
        try:
            yield from self._scanner()
        except Exception as exc:  # any failure inside a record means the file is damaged from there on
            self._report_damage(f"bag {self.path} is damaged ({exc}); read up to the damage")

    def _scan_topics(self) -> dict[str, TopicInfo]:
        connections: dict[int, RecoveredConnection] = {}
        counts: dict[int, int] = {}
        for record in self._scan_records():
            if isinstance(record, RecoveredConnection):
                connections[record.connection_id] = record
            else:
                counts[record.connection_id] = counts.get(record.connection_id, 0) + 1
        topics: dict[str, TopicInfo] = {}
        for cid, connection in connections.items():
            previous = topics.get(connection.topic)
            count = counts.get(cid, 0) + (previous.count if previous else 0)
            topics[connection.topic] = TopicInfo(connection.topic, connection.msgtype, count)
        return topics

    def messages(self, topics: Collection[str]) -> Iterator[BagMessage]:
        """Messages of `topics` in time order (file order for a damaged bag)."""
        wanted = set(topics)
        if self._scanner is not None:
            yield from self._recovered_messages(wanted)
            return
        try:
            with AnyReader([self.path]) as reader:
                connections = [c for c in reader.connections if c.topic in wanted]
                for connection, log_time, raw in reader.messages(connections=connections):
                    try:
                        message = reader.deserialize(raw, connection.msgtype)
                    except Exception:  # a corrupt payload: skip this message, keep the stream
                        self.skipped_messages += 1
                        continue
                    yield BagMessage(connection.topic, connection.msgtype, log_time, message)
        except Exception as exc:  # rosbags, sqlite3 and struct each raise their own types on damaged data
            self._report_damage(f"bag {self.path} is damaged ({exc}); read up to the damage")

    def _report_damage(self, text: str) -> None:
        """Warn once per reader: the same damage is met again by every pass over the bag."""
        if not self._damage_reported:
            self._damage_reported = True
            warnings.warn(text, DamagedBagWarning, stacklevel=4)

    def _recovered_messages(self, wanted: set[str]) -> Iterator[BagMessage]:
        typestore = get_typestore(Stores.EMPTY)
        connections: dict[int, RecoveredConnection] = {}
        for record in self._scan_records():
            if isinstance(record, RecoveredConnection):
                if record.topic in wanted:
                    connections[record.connection_id] = record
                    _register_type(typestore, record)
                continue
            connection = connections.get(record.connection_id)
            if connection is None:
                continue
            try:
                if connection.definition_format == "ros1msg":
                    message = typestore.deserialize_ros1(record.data, connection.msgtype)
                else:
                    message = typestore.deserialize_cdr(record.data, connection.msgtype)
            except Exception:  # a corrupt payload: skip this message, keep the stream
                self.skipped_messages += 1
                continue
            yield BagMessage(connection.topic, connection.msgtype, record.log_time_ns, message)


def _register_type(typestore, connection: RecoveredConnection) -> None:
    """Teach the typestore a connection's type from the definition stored in the bag (or ROS 2 defaults)."""
    if connection.msgtype in typestore.fielddefs:
        return
    try:
        if connection.definition_format in ("ros2msg", "ros1msg") and connection.definition:
            types = get_types_from_msg(connection.definition, connection.msgtype)
        elif connection.definition_format == "ros2idl" and connection.definition:
            types = get_types_from_idl(connection.definition)
        else:
            types = get_typestore(Stores.LATEST).fielddefs
    except Exception:  # an unparsable stored definition: the standard ROS 2 types may still fit
        types = get_typestore(Stores.LATEST).fielddefs
    typestore.register({k: v for k, v in types.items() if k not in typestore.fielddefs})
