"""Boxes to triangle vertex arrays for the GL renderer (two triangles per face, no shared vertices)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from depth_motion_ros.synthetic.scene import Box

#: Per-vertex float attributes, in this order: position (3), normal (3), surface (3: the point in the box's
#: unrotated frame, where the procedural texture is evaluated), face (3: the face's normal in that frame),
#: material (1), colour (3), seed (1).
VERTEX_FORMAT = "3f 3f 3f 3f 1f 3f 1f"
VERTEX_ATTRIBUTES = ("a_position", "a_normal", "a_surface", "a_face", "a_material", "a_colour", "a_seed")
FLOATS_PER_VERTEX = 17

# Each face: its outward normal and four corners (signs of the half extents) in order around it.
_FACES = []
for _axis in range(3):
    for _sign in (-1.0, 1.0):
        _u, _v = [a for a in range(3) if a != _axis]
        _corners = []
        for _cu, _cv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            _corner = [0.0, 0.0, 0.0]
            _corner[_axis], _corner[_u], _corner[_v] = _sign, _cu, _cv
            _corners.append(_corner)
        _normal = [0.0, 0.0, 0.0]
        _normal[_axis] = _sign
        _FACES.append((_normal, _corners))
_TRIANGLE_CORNERS = (0, 1, 2, 0, 2, 3)
_CORNER_SIGNS = np.array([[corners[i] for i in _TRIANGLE_CORNERS] for _, corners in _FACES]).reshape(-1, 3)
_FACE_NORMALS = np.repeat(np.array([normal for normal, _ in _FACES]), len(_TRIANGLE_CORNERS), axis=0)


def box_vertices(boxes: Sequence[Box]) -> np.ndarray:
    """float32 [36 * len(boxes), FLOATS_PER_VERTEX] triangle vertices of `boxes`."""
    if not boxes:
        return np.zeros((0, FLOATS_PER_VERTEX), dtype=np.float32)
    centre = np.array([b.centre for b in boxes], dtype=np.float64)[:, None, :]          # [K, 1, 3]
    half = np.array([b.half for b in boxes], dtype=np.float64)[:, None, :]
    yaw = np.array([b.yaw for b in boxes], dtype=np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.zeros((len(boxes), 3, 3))
    rotation[:, 0, 0], rotation[:, 0, 2], rotation[:, 1, 1], rotation[:, 2, 0], rotation[:, 2, 2] = c, s, 1, -s, c
    offset = _CORNER_SIGNS[None] * half                                                 # [K, 36, 3]
    position = centre + np.einsum("kij,knj->kni", rotation, offset)
    normal = np.einsum("kij,nj->kni", rotation, _FACE_NORMALS)
    surface = centre + offset
    face = np.broadcast_to(_FACE_NORMALS, position.shape)
    count = position.shape[1]
    material = np.repeat(np.array([b.material for b in boxes], dtype=np.float64)[:, None, None], count, 1)
    colour = np.repeat(np.array([b.colour for b in boxes], dtype=np.float64)[:, None, :], count, 1)
    seed = np.repeat(np.array([b.seed % (1 << 24) for b in boxes], dtype=np.float64)[:, None, None], count, 1)
    vertices = np.concatenate([position, normal, surface, face, material, colour, seed], axis=2)
    return vertices.reshape(-1, FLOATS_PER_VERTEX).astype(np.float32)
