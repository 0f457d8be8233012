"""OpenGL renderer of the rendered worlds (ModernGL on Mesa's headless EGL), with exact ground truth.

One pass per frame writes three attachments: colour (RGBA8), geometry (RGBA32F: object motion x, y, z and
view-space z) and the mover id (R32F, -1 where nothing moves). Depth is the z of the surface at the pixel
centre in the camera optical frame; NaN on sky. Object motion follows the project convention
(docs/ARCHITECTURE.md): on frame t's pixel grid, the displacement of the surface point seen there from t
to t+1, in camera t+1 coordinates, so that p_{t+1} = R_21 p_t + t_21 + motion, where [R_21 | t_21] is the
camera ego-motion from t to t+1. Both are affine in the surface point of a planar face, which the
rasteriser interpolates exactly (to float32 rounding); the matrices are composed in float64 first.

The camera model (exposure and lighting changes, sensor noise, JPEG) acts on the colour only: the ground
truth is that of the geometry. GL is imported when a renderer is made, never on package import.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from depth_motion_ros.synthetic.meshes import VERTEX_ATTRIBUTES, VERTEX_FORMAT, box_vertices
from depth_motion_ros.synthetic.scene import CameraModel, Scene
from depth_motion_ros.synthetic.shaders import FRAGMENT, SKY_FRAGMENT, SKY_VERTEX, VERTEX

NEAR = 0.05
FAR = 1000.0
_NO_MOVER = -1
_MAX_ROADS = 64
_context = None


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame and its exact ground truth."""
    index: int
    timestamp: float              # seconds
    rgb: np.ndarray               # uint8 [H, W, 3], as the camera delivers it (after noise and JPEG)
    depth: np.ndarray             # float32 [H, W] metres, NaN on sky
    pose: np.ndarray              # float64 4x4 camera-to-world, optical frame
    intrinsics: np.ndarray        # float64 3x3
    object_motion: np.ndarray     # float32 [H, W, 3] metres per frame, camera t+1 coordinates
    mover_id: np.ndarray          # int16 [H, W]: index into the scene's movers, -1 elsewhere


class GLUnavailable(RuntimeError):
    """No headless OpenGL: the renderer needs ModernGL and Mesa's EGL (see scripts/setup.sh)."""


def gl_context():
    """The process's headless GL context (created once). llvmpipe threads: LP_NUM_THREADS, else all cores."""
    global _context
    if _context is None:
        try:
            import moderngl
        except ImportError as exc:
            raise GLUnavailable("the renderer needs the moderngl package (pip install -r requirements.txt)") from exc
        try:
            # moderngl's stubs type `backend` as a dict; the runtime passes the name on to glcontext.
            _context = moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 (glcontext raises plain Exceptions)
            raise GLUnavailable(f"no headless EGL context ({exc}); install libegl1 libegl-mesa0 "
                                "libgl1-mesa-dri (scripts/setup.sh, .ci/run)") from exc
        _context.gc_mode = "auto"
    return _context


def projection_matrix(intrinsics: np.ndarray, width: int, height: int, near: float = NEAR,
                      far: float = FAR) -> np.ndarray:
    """Optical-frame camera (x right, y down, z forward) -> GL clip space, pixel centres exact.

    Column u maps to window x = u + 0.5 and row v to window y = v + 0.5, so the framebuffer's first row is
    the image's first row and no flip is needed.
    """
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    return np.array([[2 * fx / width, 0.0, 2 * (cx + 0.5) / width - 1.0, 0.0],
                     [0.0, 2 * fy / height, 2 * (cy + 0.5) / height - 1.0, 0.0],
                     [0.0, 0.0, (far + near) / (far - near), -2.0 * far * near / (far - near)],
                     [0.0, 0.0, 1.0, 0.0]])


def _gl(matrix: np.ndarray) -> bytes:
    """Row-major float64 matrix -> the column-major float32 bytes GL expects."""
    return np.ascontiguousarray(np.asarray(matrix, dtype=np.float64).T, dtype=np.float32).tobytes()


def apply_camera_model(rgb: np.ndarray, model: CameraModel, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise (sigma^2 = read^2 + shot^2 * value, 8-bit units), then JPEG compression and decoding."""
    if model.read_noise > 0 or model.shot_noise > 0:
        value = rgb.astype(np.float32)
        sigma = np.sqrt(model.read_noise ** 2 + model.shot_noise ** 2 * value)
        value += sigma * rng.standard_normal(value.shape, dtype=np.float32)
        rgb = np.clip(value + 0.5, 0, 255).astype(np.uint8)
    if model.jpeg_quality <= 0:
        return rgb
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, model.jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class SceneRenderer:
    """Renders frames of a `Scene`; stateless between frames, so any frame can be rendered on its own."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        p = scene.params
        ctx = gl_context()
        self._ctx = ctx
        self._program = ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        self._sky = ctx.program(vertex_shader=SKY_VERTEX, fragment_shader=SKY_FRAGMENT)
        self._sky_vao = ctx.vertex_array(self._sky, [(ctx.buffer(np.array([-1, -1, 3, -1, -1, 3], "f4")), "2f",
                                                      "a_corner")])
        self._static = self._vertex_array(box_vertices(scene.static))
        self._movers = [self._vertex_array(box_vertices(m.parts)) for m in scene.movers]
        size = (p.width, p.height)
        self._fbo = ctx.framebuffer([ctx.texture(size, 4, dtype="f1"), ctx.texture(size, 4, dtype="f4"),
                                     ctx.texture(size, 1, dtype="f4")], ctx.depth_renderbuffer(size))
        self._program["u_projection"].write(_gl(projection_matrix(scene.intrinsics, p.width, p.height)))
        for name, lines in (("u_roads_x", scene.roads_x), ("u_roads_z", scene.roads_z)):
            values = list(lines)[:_MAX_ROADS]
            if name in self._program:
                self._program[name].value = values + [1e9] * (_MAX_ROADS - len(values))
                self._program[name + "_count"].value = len(values)
        light = scene.lighting
        self._program["u_ambient"].value = light.ambient
        self._program["u_light_direction"].value = tuple(light.direction)
        self._sky["u_seed"].value = int(p.seed) % (1 << 31)
        self._inverse_k = np.linalg.inv(scene.intrinsics)

    def _vertex_array(self, vertices: np.ndarray):
        if len(vertices) == 0:
            return None
        buffer = self._ctx.buffer(vertices.tobytes())
        return self._ctx.vertex_array(self._program, [(buffer, VERTEX_FORMAT, *VERTEX_ATTRIBUTES)])

    def __len__(self) -> int:
        return self.scene.params.frames

    def __iter__(self) -> Iterator[SyntheticFrame]:
        return (self.render(i) for i in range(len(self)))

    def pose(self, index: int) -> np.ndarray:
        """Camera-to-world pose of frame `index` (also defined one frame past the end)."""
        return self.scene.pose(self.scene.time(index))

    def _draw(self, vao, modelview: np.ndarray, motion: np.ndarray, model: np.ndarray, mover_id: int) -> None:
        program = self._program
        program["u_modelview"].write(_gl(modelview))
        program["u_motion"].write(_gl(motion))
        program["u_rotation"].write(_gl(model[:3, :3]))
        program["u_mover_id"].value = float(mover_id)
        vao.render()

    def render(self, index: int) -> SyntheticFrame:
        """Render frame `index` and read back its ground truth."""
        import moderngl
        scene, p = self.scene, self.scene.params
        time, next_time = scene.time(index), scene.time(index + 1)
        camera = scene.internal_pose(time)
        view = np.linalg.inv(camera)
        next_rotation = scene.internal_pose(next_time)[:3, :3]
        exposure = scene.lighting.exposure(time)

        self._fbo.use()
        ctx = self._ctx
        ctx.viewport = (0, 0, p.width, p.height)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        if scene.sky:
            self._sky["u_ray"].write(_gl(camera[:3, :3] @ self._inverse_k))
            self._sky["u_exposure"].value = exposure
            self._sky_vao.render()
        ctx.enable(moderngl.DEPTH_TEST)
        self._program["u_exposure"].value = exposure
        self._program["u_light"].value = scene.lighting.light(time)
        draws = []
        if self._static is not None:
            draws.append((self._static, view, np.zeros((4, 4)), np.eye(4), _NO_MOVER))
        for mover_index, (mover, vao) in enumerate(zip(scene.movers, self._movers, strict=True)):
            here, there = mover.pose(time), mover.pose(next_time)
            motion = np.zeros((4, 4))
            motion[:3] = next_rotation.T @ (there - here)[:3]
            draws.append((vao, view @ here, motion, here, mover_index))
        # Depth first with colour writes off, then shade only the nearest surface (same program and
        # matrices in both passes, so the depths are identical and '<=' passes exactly them).
        self._fbo.color_mask = ((False,) * 4,) * 3
        ctx.depth_func = "<"
        self._program["u_depth_only"].value = 1
        for draw in draws:
            self._draw(*draw)
        self._fbo.color_mask = ((True,) * 4,) * 3
        ctx.depth_func = "<="
        self._program["u_depth_only"].value = 0
        for draw in draws:
            self._draw(*draw)

        shape = (p.height, p.width)
        colour = np.frombuffer(self._fbo.read(components=4, attachment=0), np.uint8).reshape(*shape, 4)
        geometry = np.frombuffer(self._fbo.read(components=4, attachment=1, dtype="f4"),
                                 np.float32).reshape(*shape, 4)
        mover_ids = np.frombuffer(self._fbo.read(components=1, attachment=2, dtype="f4"), np.float32).reshape(shape)
        depth = geometry[..., 3].copy()
        depth[~(depth > 0)] = np.nan
        rgb = apply_camera_model(np.ascontiguousarray(colour[..., :3]), scene.camera_model,
                                       np.random.default_rng([p.seed, index]))
        return SyntheticFrame(index=index, timestamp=time, rgb=rgb, depth=depth, pose=scene.pose(time),
                              intrinsics=scene.intrinsics.copy(),
                              object_motion=np.ascontiguousarray(geometry[..., :3]),
                              mover_id=np.rint(mover_ids).astype(np.int16))


def limit_threads(threads: int) -> None:
    """Cap llvmpipe's rasteriser threads for this process (before the first renderer is made)."""
    os.environ["LP_NUM_THREADS"] = str(threads)
