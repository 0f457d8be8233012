"""Ground truth of the rendered worlds against known answers: depth by ray casting, a mover's motion and
its image motion, a pure yaw, reproducibility, the mover kinds, and a camera model that leaves the truth alone.

These tests need the GL backend (ModernGL on Mesa's EGL, installed by scripts/setup.sh and .ci/run): they
fail, not skip, when it is broken.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from depth_motion_ros.geometry.projection import warp_frame
from depth_motion_ros.synthetic.paths import PlanarPath, rigid, yaw_rotation
from depth_motion_ros.synthetic.renderer import SceneRenderer, SyntheticFrame
from depth_motion_ros.synthetic.scene import (
    CAR_PAINT,
    FACADE,
    GROUND,
    STREET_MOVER_KINDS,
    Box,
    Lighting,
    Mover,
    Scene,
    SceneParams,
    Wave,
    make_scene,
    make_street_scene,
    pinhole_intrinsics,
)

SMALL = SceneParams(width=160, height=64, frames=12, movers=6, seed=3, camera_effects=False)
STILL = Wave(np.zeros(1), np.zeros(1), np.zeros(1))


@pytest.fixture(scope="module")
def renderer() -> SceneRenderer:
    return SceneRenderer(make_street_scene(SMALL))


@pytest.fixture(scope="module")
def frames(renderer: SceneRenderer) -> list[SyntheticFrame]:
    return list(renderer)


class FixedCamera:
    """A camera at `position` (internal world) with heading `yaw`, turning at `yaw_rate` rad/s."""

    def __init__(self, position=(0.0, -1.5, 0.0), yaw: float = 0.0, yaw_rate: float = 0.0) -> None:
        self.position, self.yaw, self.yaw_rate = position, yaw, yaw_rate

    def pose(self, time: float) -> np.ndarray:
        return rigid(yaw_rotation(self.yaw + self.yaw_rate * time), self.position)


def handmade_scene(camera, static=(), movers=(), width=96, height=64) -> Scene:
    params = SceneParams(width=width, height=height, frames=3, camera_effects=False)
    lighting = Lighting((0.34, -0.91, 0.23), 0.6, STILL, STILL)
    ground = Box((0.0, 0.05, 0.0), (500.0, 0.05, 500.0), GROUND, (1.0, 1.0, 1.0), 1)
    return Scene(params, (ground,) + tuple(static), tuple(movers), camera,
                 pinhole_intrinsics(width, height, params.hfov_deg), lighting)


def ray_cast(scene: Scene, time: float, boxes: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Analytic depth: rays through pixel centres against the ground plane y = 0 and axis-aligned boxes."""
    p = scene.params
    u, v = np.meshgrid(np.arange(p.width, dtype=float), np.arange(p.height, dtype=float))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(scene.intrinsics).T    # z = 1: t is depth
    pose = scene.internal_pose(time)
    dirs = rays @ pose[:3, :3].T
    origin = pose[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        best = np.where(dirs[..., 1] > 0, (0.0 - origin[1]) / dirs[..., 1], np.inf)
        for lo, hi in boxes:
            t1 = (lo - origin) / dirs
            t2 = (hi - origin) / dirs
            near = np.nanmax(np.minimum(t1, t2), axis=-1)
            far = np.nanmin(np.maximum(t1, t2), axis=-1)
            hit = (near <= far) & (near > 0)
            best = np.where(hit & (near < best), near, best)
    return np.where(np.isfinite(best), best, np.nan)


def test_a_pixel_s_depth_is_the_analytic_ray_plane_and_ray_box_intersection() -> None:
    building = Box((3.0, -4.0, 18.0), (2.0, 4.0, 3.0), FACADE, (0.7, 0.6, 0.5), 5)
    scene = handmade_scene(FixedCamera(yaw=0.15), static=[building])
    frame = SceneRenderer(scene).render(0)
    lo, hi = np.subtract(building.centre, building.half), np.add(building.centre, building.half)
    expected = ray_cast(scene, 0.0, [(lo, hi)])
    assert np.array_equal(np.isnan(frame.depth), np.isnan(expected) | (expected > 1000.0))
    both = np.isfinite(frame.depth)
    relative = np.abs(frame.depth[both] - expected[both]) / expected[both]
    # Pixels whose centre lies on a silhouette edge may go either way; every other pixel is exact.
    assert np.mean(relative < 2e-5) > 0.995 and np.median(relative) < 2e-6
    on_box = both & (np.abs(expected - np.clip(expected, 15.0, 21.0)) == 0) & (frame.depth < 22)
    assert on_box.sum() > 100, "the box is in view"
    assert frame.depth[40, 48] == pytest.approx(1.5 * scene.intrinsics[1, 1] / (40 - scene.intrinsics[1, 2]),
                                                rel=1e-5)


def _crossing_and_turning_movers() -> list[Mover]:
    car = (Box((0.0, -0.8, 0.0), (0.9, 0.7, 2.2), CAR_PAINT, (0.8, 0.1, 0.1), 3),)
    crossing = Mover("crossing", car, PlanarPath((-12.0, 20.0), math.pi / 2).straight(1.0), 10.0, 0.0, 2.2, 0.9)
    turning = Mover("turning", car, PlanarPath((6.0, 8.0), 0.0).straight(2.0).turn(7.0, -math.pi / 2),
                    6.0, 3.0, 2.2, 0.9)
    return [crossing, turning]


def test_a_mover_s_object_motion_and_its_image_motion_are_the_rigid_motion_of_its_points() -> None:
    camera = FixedCamera(yaw=0.1, yaw_rate=0.5)
    movers = _crossing_and_turning_movers()
    scene = handmade_scene(camera, movers=movers, width=128, height=80)
    renderer = SceneRenderer(scene)
    frame, following = renderer.render(1), renderer.render(2)
    t1, t2 = scene.time(1), scene.time(2)
    K = scene.intrinsics
    camera_1, camera_2 = scene.internal_pose(t1), scene.internal_pose(t2)
    for index, mover in enumerate(movers):
        pixels = np.argwhere(frame.mover_id == index)
        assert len(pixels) > 30, f"{mover.kind} mover in view"
        v, u = pixels[:, 0], pixels[:, 1]
        z = frame.depth[v, u].astype(float)
        p1 = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
        world = p1 @ camera_1[:3, :3].T + camera_1[:3, 3]
        moved = mover.pose(t2) @ np.linalg.inv(mover.pose(t1))
        world_2 = world @ moved[:3, :3].T + moved[:3, 3]
        expected = (world_2 - world) @ camera_2[:3, :3]            # rotated into camera t+1
        assert np.abs(frame.object_motion[v, u] - expected).max() < 2e-4 * max(1.0, np.abs(expected).max())
        assert np.linalg.norm(expected, axis=1).min() > 0.3
        # The documented convention: p2 = R21 p1 + t21 + motion lands on the same mover in frame t+1.
        relative = np.linalg.inv(camera_2) @ camera_1
        p2 = p1 @ relative[:3, :3].T + relative[:3, 3] + frame.object_motion[v, u]
        u2, v2 = K[0, 0] * p2[:, 0] / p2[:, 2] + K[0, 2], K[1, 1] * p2[:, 1] / p2[:, 2] + K[1, 2]
        inside = (u2 > 0.5) & (u2 < 126.5) & (v2 > 0.5) & (v2 < 78.5)
        r2, c2 = np.rint(v2[inside]).astype(int), np.rint(u2[inside]).astype(int)
        assert inside.sum() > 20
        assert np.mean(following.mover_id[r2, c2] == index) > 0.9
        same = following.mover_id[r2, c2] == index
        assert np.median(np.abs(following.depth[r2, c2][same] - p2[inside, 2][same]) / p2[inside, 2][same]) < 0.01
    assert np.all(frame.object_motion[frame.mover_id < 0] == 0.0)


def test_a_pure_yaw_gives_the_rotation_pose_and_the_depth_independent_image_motion() -> None:
    rate = math.radians(30.0)
    building = Box((0.0, -5.0, 25.0), (30.0, 5.0, 2.0), FACADE, (0.7, 0.6, 0.5), 5)
    scene = handmade_scene(FixedCamera(yaw=-0.2, yaw_rate=rate), static=[building], width=128, height=80)
    renderer = SceneRenderer(scene)
    first, second = renderer.render(0), renderer.render(1)
    relative = np.linalg.inv(second.pose) @ first.pose
    step = rate / scene.params.rate_hz
    assert np.allclose(relative[:3, 3], 0.0, atol=1e-9)
    assert np.allclose(relative[:3, :3], yaw_rotation(-step), atol=1e-9)
    assert np.allclose(first.pose, np.eye(4), atol=1e-12), "the world is the first camera's optical frame"
    # Static pixels move by the homography K R K^-1, whatever their depth.
    K = scene.intrinsics
    v, u = np.mgrid[0:80, 0:128]
    rays = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    mapped = (rays @ relative[:3, :3].T) @ K.T
    u2, v2 = mapped[:, 0] / mapped[:, 2], mapped[:, 1] / mapped[:, 2]
    shift = u2 - u.reshape(-1)
    assert shift.max() < -K[0, 0] * math.tan(step) * 0.99, "the view turns right: the image moves left"
    centre = (u2 > 1) & (u2 < 126) & (v2 > 1) & (v2 < 78)
    c2, r2 = np.rint(u2[centre]).astype(int), np.rint(v2[centre]).astype(int)
    on_grid = (np.abs(u2[centre] - c2) < 0.1) & (np.abs(v2[centre] - r2) < 0.1)
    depth_1 = first.depth.reshape(-1)[centre][on_grid]
    z2 = (rays[centre][on_grid] * depth_1[:, None] @ relative[:3, :3].T)[:, 2]
    depth_2 = second.depth[r2[on_grid], c2[on_grid]]
    finite = np.isfinite(depth_1) & np.isfinite(depth_2)
    assert finite.sum() > 50
    assert np.median(np.abs(depth_2[finite] - z2[finite]) / z2[finite]) < 1e-3


def test_the_street_camera_turns_corners_within_the_yaw_rate_and_speed_limits() -> None:
    turned = 0
    for seed in range(6):
        scene = make_street_scene(SceneParams(frames=200, seed=seed))
        times = np.arange(0.0, 20.0, 0.05)
        _, _, yaw = scene.camera.ground_states(times)
        x, z, _ = scene.camera.ground_states(times)
        rate = np.abs(np.diff(yaw)) / 0.05
        speed = np.hypot(np.diff(x), np.diff(z)) / 0.05
        assert rate.max() <= math.radians(30.0) * 1.001 and speed.max() <= 15.0 + 1e-6
        total = math.degrees(yaw[-1] - yaw[0])
        assert min(abs(total - k * 90.0) for k in range(-4, 5)) < 1e-6, "every turn is a full corner"
        turned += abs(total) > 1.0 or np.any(np.abs(np.diff(yaw)) > 0)
        assert speed.min() < 0.5 or speed.max() > 5.0
    assert turned >= 4, "the default routes turn at junctions"


def test_same_seed_renders_identical_frames_and_another_seed_differs() -> None:
    again = SceneRenderer(make_street_scene(SMALL)).render(5)
    first = SceneRenderer(make_street_scene(SMALL)).render(5)
    other = SceneRenderer(make_street_scene(dataclasses.replace(SMALL, seed=4))).render(5)
    assert np.array_equal(first.rgb, again.rgb) and np.array_equal(first.depth, again.depth, equal_nan=True)
    assert np.array_equal(first.object_motion, again.object_motion)
    assert not np.array_equal(first.rgb, other.rgb)


def test_the_defaults_bring_every_mover_kind() -> None:
    for seed in range(3):
        kinds = make_scene(SceneParams(seed=seed)).mover_kinds
        assert set(kinds) == set(STREET_MOVER_KINDS), kinds


def test_exposure_noise_and_jpeg_change_the_image_but_not_the_ground_truth() -> None:
    clean = SceneRenderer(make_street_scene(SMALL)).render(4)
    camera = SceneRenderer(make_street_scene(dataclasses.replace(SMALL, camera_effects=True))).render(4)
    assert np.array_equal(clean.depth, camera.depth, equal_nan=True)
    assert np.array_equal(clean.object_motion, camera.object_motion)
    assert np.array_equal(clean.mover_id, camera.mover_id) and np.array_equal(clean.pose, camera.pose)
    difference = np.abs(camera.rgb.astype(float) - clean.rgb)
    assert 1.0 < difference.mean() < 40.0


def test_frame_contents_have_the_documented_types_and_shapes(frames: list[SyntheticFrame]) -> None:
    frame = frames[0]
    assert frame.rgb.shape == (64, 160, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (64, 160) and frame.depth.dtype == np.float32
    assert frame.object_motion.shape == (64, 160, 3) and frame.object_motion.dtype == np.float32
    assert frame.mover_id.dtype == np.int16
    assert frame.pose.shape == (4, 4) and np.allclose(frame.pose[:3, :3] @ frame.pose[:3, :3].T, np.eye(3))
    assert np.nanmin(frame.depth) > 0 and np.isnan(frame.depth).any(), "surfaces, and sky"
    assert [f.timestamp for f in frames[:3]] == pytest.approx([0.0, 0.1, 0.2])
    assert frame.rgb.std() > 30.0, "the world must be textured for photometric learning"


def _photometric_check(frame1: SyntheticFrame, frame2: SyntheticFrame,
                       use_object_motion: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp frame 2 into frame 1 with the true depth, ego-motion and (optionally) object motion.

    Returns (per-pixel mean abs RGB error in 0..255, usable-pixel mask, mover mask). A pixel is usable when
    it has a surface, lands inside frame 2 in front of the camera, and frame 2's own depth there agrees
    with the warped point (otherwise it is occluded in frame 2).
    """
    relative = np.linalg.inv(frame2.pose) @ frame1.pose
    has_surface = np.isfinite(frame1.depth)
    depth1 = torch.from_numpy(np.where(has_surface, frame1.depth, 1e4)).double()[None, None]
    depth2 = torch.from_numpy(np.where(np.isfinite(frame2.depth), frame2.depth, 1e4)).double()[None, None]
    image2 = torch.from_numpy(frame2.rgb).double().permute(2, 0, 1)[None]
    residual = torch.from_numpy(frame1.object_motion).double().permute(2, 0, 1)[None]
    args = (torch.from_numpy(frame1.intrinsics)[None], torch.from_numpy(relative[:3, :3])[None],
            torch.from_numpy(relative[:3, 3])[None], residual if use_object_motion else None)
    warped = warp_frame(image2, depth1, *args)
    warped_depth = warp_frame(depth2, depth1, *args)
    z2 = warped.projection.depth[0, 0].numpy()
    visible = np.abs(warped_depth.image[0, 0].numpy() - z2) < 0.01 * z2
    usable = has_surface & (warped.mask[0, 0].numpy() > 0) & visible
    error = np.abs(warped.image[0].permute(1, 2, 0).numpy() - frame1.rgb.astype(np.float64)).mean(axis=2)
    return error, usable, frame1.mover_id >= 0


def test_reprojection_with_true_depth_pose_and_object_motion_reproduces_the_next_frame(
        frames: list[SyntheticFrame]) -> None:
    for frame1, frame2 in zip(frames[:-1:3], frames[1::3], strict=True):
        error, usable, movers = _photometric_check(frame1, frame2)
        assert usable.mean() > 0.6
        assert np.median(error[usable]) < 2.0, "static and moving surfaces must be photo-consistent"
        assert np.percentile(error[usable], 90) < 12.0   # silhouettes and fine texture seen at a new scale
        if (movers & usable).sum() > 50:
            assert np.median(error[movers & usable]) < 3.0


def test_ignoring_object_motion_breaks_consistency_on_movers_only(frames: list[SyntheticFrame]) -> None:
    checked = 0
    for frame1, frame2 in itertools.pairwise(frames):
        error, usable, movers = _photometric_check(frame1, frame2, use_object_motion=False)
        _, usable_true, _ = _photometric_check(frame1, frame2)
        moving = movers & usable_true & (np.linalg.norm(frame1.object_motion, axis=-1) > 0.3)
        if moving.sum() < 50:
            continue
        static = usable & ~movers
        assert np.median(error[static]) < 3.0
        still_consistent = moving & usable & (error < 6.0)
        assert still_consistent.sum() < 0.5 * moving.sum()
        checked += 1
    assert checked >= 3


def test_the_package_imports_without_gl_for_users_who_never_render() -> None:
    code = ("import sys; import depth_motion_ros.synthetic.writers, depth_motion_ros.synthetic.synth_cli; "
            "assert 'moderngl' not in sys.modules and 'glcontext' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        SceneParams(frames=1)
    with pytest.raises(ValueError):
        SceneParams(width=4)
    with pytest.raises(ValueError):
        SceneParams(world="moon")


ROOM = SceneParams(world="room", width=128, height=64, frames=10, seed=5, camera_effects=False)


def test_a_room_is_closed_holds_walking_people_and_its_frames_are_photo_consistent() -> None:
    scene = make_scene(ROOM)
    assert scene.mover_kinds and set(scene.mover_kinds) == {"person"}
    frames = list(SceneRenderer(scene))
    assert all(not np.isnan(frame.depth).any() for frame in frames), "a closed room has a surface everywhere"
    assert max(np.nanmax(f.depth) for f in frames) < 15.0 and min(np.nanmin(f.depth) for f in frames) > 0.3
    assert any((frame.mover_id >= 0).sum() > 30 for frame in frames), "people in view"
    rotations = [np.linalg.inv(a.pose) @ b.pose for a, b in itertools.pairwise(frames)]
    angles = [math.degrees(math.acos(np.clip((np.trace(r[:3, :3]) - 1) / 2, -1, 1))) for r in rotations]
    assert max(angles) > 0.3 and max(angles) < 8.0, "a hand-held camera turns, within a walking person's pace"
    tilt = [math.degrees(math.asin(abs(f.pose[1, 2]))) for f in frames]
    assert max(tilt) > 0.1, "pitch and roll as well as yaw: six degrees of freedom"
    for frame1, frame2 in zip(frames[:-1:3], frames[1::3], strict=True):
        error, usable, _ = _photometric_check(frame1, frame2)
        assert usable.mean() > 0.6 and np.median(error[usable]) < 2.0
