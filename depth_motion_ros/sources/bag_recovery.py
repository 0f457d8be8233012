"""Sequential readers for bags whose index is damaged (a recording cut short by a crash or a full disk).

MCAP and ROS 1 bags keep their index at the end of the file, so the `rosbags` readers refuse a truncated
file outright even though every message before the damage is intact. These scanners walk the records
from the start, as `rosbag reindex` or `mcap recover` would, and stop at the first record that cannot
be read. They yield raw records; `bag_reader` turns them into messages. (A truncated SQLite bag cannot
be handled this way: SQLite itself refuses the file; see `bag_reader`.)
"""
from __future__ import annotations

import bz2
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

import lz4.frame

MCAP_MAGIC = b"\x89MCAP0\r\n"
ROS1_MAGIC = b"#ROSBAG V2.0\n"


class TruncatedRecord(Exception):
    """The file ends (or is corrupt) inside a record: everything before it was read."""


@dataclass(frozen=True)
class RecoveredConnection:
    """A topic found while scanning: its id in the file, type, and definition text for deserialising."""

    connection_id: int
    topic: str
    msgtype: str  # normalised to 'pkg/msg/Name'
    definition: str
    definition_format: str  # 'ros2msg', 'ros2idl', 'ros1msg' or '' (none stored)


@dataclass(frozen=True)
class RecoveredMessage:
    connection_id: int
    log_time_ns: int
    data: bytes


def normalize_msgtype(name: str) -> str:
    """'sensor_msgs/Image' (ROS 1) -> 'sensor_msgs/msg/Image'; ROS 2 names are returned unchanged."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise TruncatedRecord(f"needed {size} bytes, file has {len(data)} left")
    return data


def _zstd_decompress(data: bytes) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14; the checker reads 3.11
    except ImportError:
        from backports import zstd  # installed with rosbags
    decompressed: bytes = zstd.decompress(data)
    return decompressed


_MCAP_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    "lz4": lz4.frame.decompress,
    "zstd": _zstd_decompress,
}


def _mcap_string(record: memoryview, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", record, offset)
    end = offset + 4 + length
    if end > len(record):
        raise TruncatedRecord("string runs past its record")
    return bytes(record[offset + 4:end]).decode("utf-8"), end


def scan_mcap(path: Path) -> Iterator[RecoveredConnection | RecoveredMessage]:
    """Schemas, channels and messages of an MCAP file in file order, up to the first unreadable record."""
    schemas: dict[int, tuple[str, str, str]] = {}
    with path.open("rb") as stream:
        if stream.read(8) != MCAP_MAGIC:
            raise TruncatedRecord("not an MCAP file (bad magic)")
        yield from _mcap_records(stream, schemas)


def _mcap_records(stream: BinaryIO, schemas: dict[int, tuple[str, str, str]]
                  ) -> Iterator[RecoveredConnection | RecoveredMessage]:
    while True:
        head = stream.read(9)
        if not head:
            return
        if len(head) < 9:
            raise TruncatedRecord("file ends inside a record header")
        opcode, length = struct.unpack("<BQ", head)
        record = memoryview(_read(stream, length))
        if opcode == 0x03:  # Schema
            (schema_id,) = struct.unpack_from("<H", record, 0)
            name, offset = _mcap_string(record, 2)
            encoding, offset = _mcap_string(record, offset)
            (data_length,) = struct.unpack_from("<I", record, offset)
            schemas[schema_id] = (name, encoding, bytes(record[offset + 4:offset + 4 + data_length]).decode())
        elif opcode == 0x04:  # Channel
            channel_id, schema_id = struct.unpack_from("<HH", record, 0)
            topic, _ = _mcap_string(record, 4)
            name, encoding, text = schemas.get(schema_id, ("", "", ""))
            yield RecoveredConnection(channel_id, topic, normalize_msgtype(name), text, encoding)
        elif opcode == 0x05:  # Message
            channel_id, _sequence, log_time, _publish_time = struct.unpack_from("<HIQQ", record, 0)
            yield RecoveredMessage(channel_id, log_time, bytes(record[22:]))
        elif opcode == 0x06:  # Chunk: records of the same kinds, possibly compressed
            _start, _end, uncompressed_size, _crc = struct.unpack_from("<QQQI", record, 0)
            compression, offset = _mcap_string(record, 28)
            (compressed_size,) = struct.unpack_from("<Q", record, offset)
            payload = bytes(record[offset + 8:offset + 8 + compressed_size])
            if compression not in _MCAP_DECOMPRESSORS:
                raise TruncatedRecord(f"unsupported MCAP chunk compression '{compression}'")
            inner = _MCAP_DECOMPRESSORS[compression](payload)
            if len(inner) != uncompressed_size:
                raise TruncatedRecord("MCAP chunk decompressed to the wrong size")
            chunk_items = list(_mcap_records(BytesIO(inner), schemas))
            messages = sorted((x for x in chunk_items if isinstance(x, RecoveredMessage)),
                              key=lambda m: m.log_time_ns)
            yield from (x for x in chunk_items if isinstance(x, RecoveredConnection))
            yield from messages
        elif opcode in (0x0E, 0x0F, 0x02):  # Data End, Footer, or Summary section reached
            return


def _ros1_header(data: bytes) -> dict[str, bytes]:
    fields, offset = {}, 0
    while offset + 4 <= len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        field = data[offset + 4:offset + 4 + length]
        if len(field) != length or b"=" not in field:
            raise TruncatedRecord("malformed ROS 1 record header")
        name, value = field.split(b"=", 1)
        fields[name.decode()] = value
        offset += 4 + length
    return fields


def _ros1_record(stream: BinaryIO) -> tuple[dict[str, bytes], bytes] | None:
    head = stream.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise TruncatedRecord("file ends inside a record")
    (header_length,) = struct.unpack("<I", head)
    header = _ros1_header(_read(stream, header_length))
    (data_length,) = struct.unpack("<I", _read(stream, 4))
    return header, _read(stream, data_length)


def scan_ros1(path: Path) -> Iterator[RecoveredConnection | RecoveredMessage]:
    """Connections and messages of a ROS 1 (v2.0) bag in file order, up to the first unreadable record."""
    with path.open("rb") as stream:
        if stream.read(len(ROS1_MAGIC)) != ROS1_MAGIC:
            raise TruncatedRecord("not a ROS 1 v2.0 bag (bad magic)")
        yield from _ros1_records(stream)


def _ros1_records(stream: BinaryIO) -> Iterator[RecoveredConnection | RecoveredMessage]:
    while (record := _ros1_record(stream)) is not None:
        header, data = record
        opcode = header.get("op", b"\x00")[0]
        if opcode == 0x07:  # Connection: the data is the connection header (type, definition)
            info = _ros1_header(data)
            yield RecoveredConnection(
                struct.unpack("<I", header["conn"])[0], header["topic"].decode(),
                normalize_msgtype(info["type"].decode()), info.get("message_definition", b"").decode(), "ros1msg")
        elif opcode == 0x02:  # Message data
            seconds, nanoseconds = struct.unpack("<II", header["time"])
            yield RecoveredMessage(struct.unpack("<I", header["conn"])[0], seconds * 10**9 + nanoseconds, data)
        elif opcode == 0x05:  # Chunk
            compression = header.get("compression", b"none").decode()
            if compression == "bz2":
                data = bz2.decompress(data)
            elif compression == "lz4":
                data = lz4.frame.decompress(data)
            elif compression != "none":
                raise TruncatedRecord(f"unsupported ROS 1 chunk compression '{compression}'")
            yield from _ros1_records(BytesIO(data))
