"""Coloured point clouds as binary little-endian PLY files (readable by MeshLab, CloudCompare, Open3D)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

PLY_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                       ("red", "u1"), ("green", "u1"), ("blue", "u1")])


def write_ply(path: str | Path, points: np.ndarray, colours: np.ndarray) -> int:
    """Write the finite points of `points` [H, W, 3] (or [N, 3]) with their uint8 RGB `colours`; returns the count."""
    xyz = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    rgb = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    keep = np.all(np.isfinite(xyz), axis=1)
    vertices = np.empty(int(keep.sum()), dtype=PLY_VERTEX)
    for axis, name in enumerate("xyz"):
        vertices[name] = xyz[keep, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = rgb[keep, channel]
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(vertices)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with open(path, "wb") as stream:
        stream.write(header.encode("ascii"))
        stream.write(vertices.tobytes())
    return len(vertices)


def read_ply(path: str | Path) -> np.ndarray:
    """Vertices of a PLY written by `write_ply` as a structured array with x y z red green blue."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    if header[1] != "format binary_little_endian 1.0" or header[3:9] != [
            f"property {kind} {name}" for kind, name in
            [("float", "x"), ("float", "y"), ("float", "z"), ("uchar", "red"), ("uchar", "green"),
             ("uchar", "blue")]]:
        raise ValueError(f"{path} is not a PLY in this project's layout")
    count = int(header[2].split()[-1])
    return np.frombuffer(data, dtype=PLY_VERTEX, count=count, offset=end)
