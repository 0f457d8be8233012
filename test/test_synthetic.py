"""Ground truth of the synthetic scenes: determinism, known depth, object motion and photometric consistency."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.geometry.projection import warp_frame
from depth_motion_ros.synthetic.renderer import SceneRenderer, SyntheticFrame
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene

SMALL = SceneParams(width=160, height=64, frames=12, movers=4, seed=3)


@pytest.fixture(scope="module")
def renderer() -> SceneRenderer:
    return SceneRenderer(make_street_scene(SMALL))


@pytest.fixture(scope="module")
def frames(renderer: SceneRenderer) -> list[SyntheticFrame]:
    return list(renderer)


def _relative_motion(frame1: SyntheticFrame, frame2: SyntheticFrame) -> tuple[np.ndarray, np.ndarray]:
    """(R_21, t_21): camera-1 coordinates to camera-2 coordinates, from camera-to-world poses."""
    relative = np.linalg.inv(frame2.pose) @ frame1.pose
    return relative[:3, :3], relative[:3, 3]


def _photometric_check(frame1: SyntheticFrame, frame2: SyntheticFrame,
                       use_object_motion: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp frame 2 into frame 1 with the true depth, ego-motion and (optionally) object motion.

    Returns (per-pixel mean abs RGB error in 0..255, usable-pixel mask, mover mask). A pixel is usable when
    it has a surface, lands inside frame 2 in front of the camera, and frame 2's own depth there agrees
    with the warped point (otherwise it is occluded in frame 2).
    """
    rotation, translation = _relative_motion(frame1, frame2)
    has_surface = np.isfinite(frame1.depth)
    depth1 = torch.from_numpy(np.where(has_surface, frame1.depth, 1e4)).double()[None, None]
    depth2 = torch.from_numpy(np.where(np.isfinite(frame2.depth), frame2.depth, 1e4)).double()[None, None]
    image2 = torch.from_numpy(frame2.rgb).double().permute(2, 0, 1)[None]
    residual = torch.from_numpy(frame1.object_motion).double().permute(2, 0, 1)[None]
    args = (torch.from_numpy(frame1.intrinsics)[None], torch.from_numpy(rotation)[None],
            torch.from_numpy(translation)[None], residual if use_object_motion else None)
    warped = warp_frame(image2, depth1, *args)
    warped_depth = warp_frame(depth2, depth1, *args)
    z2 = warped.projection.depth[0, 0].numpy()
    visible = np.abs(warped_depth.image[0, 0].numpy() - z2) < 0.01 * z2
    usable = has_surface & (warped.mask[0, 0].numpy() > 0) & visible
    error = np.abs(warped.image[0].permute(1, 2, 0).numpy() - frame1.rgb.astype(np.float64)).mean(axis=2)
    return error, usable, frame1.mover_id >= 0


def test_same_seed_renders_identical_frames_and_another_seed_differs() -> None:
    again = SceneRenderer(make_street_scene(SMALL)).render(5)
    first = SceneRenderer(make_street_scene(SMALL)).render(5)
    other = SceneRenderer(make_street_scene(SceneParams(**{**SMALL.__dict__, "seed": 4}))).render(5)
    assert np.array_equal(first.rgb, again.rgb) and np.array_equal(first.depth, again.depth, equal_nan=True)
    assert not np.array_equal(first.rgb, other.rgb)


def test_frame_contents_have_the_documented_types_and_shapes(frames: list[SyntheticFrame]) -> None:
    frame = frames[0]
    assert frame.rgb.shape == (64, 160, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (64, 160) and frame.depth.dtype == np.float32
    assert frame.object_motion.shape == (64, 160, 3) and frame.object_motion.dtype == np.float32
    assert frame.pose.shape == (4, 4) and np.allclose(frame.pose[:3, :3] @ frame.pose[:3, :3].T, np.eye(3))
    assert np.nanmin(frame.depth) > 0
    assert [f.timestamp for f in frames[:3]] == pytest.approx([0.0, 0.1, 0.2])
    assert frame.rgb.std() > 30.0, "the scene must be textured for photometric learning"


def test_ground_depth_at_the_bottom_centre_matches_camera_height(frames: list[SyntheticFrame]) -> None:
    # The camera only yaws about the vertical axis, so a ground pixel at row v has depth h * fy / (v - cy).
    K = frames[0].intrinsics
    row = SMALL.height - 1
    expected = SMALL.camera_height * K[1, 1] / (row - K[1, 2])
    for frame in frames:
        assert frame.depth[row, SMALL.width // 2] == pytest.approx(expected, rel=1e-5)


def test_camera_moves_forward_at_the_requested_speed(frames: list[SyntheticFrame]) -> None:
    step = np.linalg.norm(frames[1].pose[:3, 3] - frames[0].pose[:3, 3])
    assert step == pytest.approx(SMALL.camera_speed / SMALL.rate_hz, rel=0.01)
    _, translation = _relative_motion(frames[0], frames[1])
    assert translation[2] < -0.7, "the world moves towards a forward-moving camera"


def test_object_motion_is_zero_on_static_pixels_and_the_box_displacement_on_movers(
        renderer: SceneRenderer, frames: list[SyntheticFrame]) -> None:
    boxes = renderer.scene.boxes
    velocities = boxes.velocity[renderer.mover_indices]
    seen_movers = set()
    for frame in frames:
        static = frame.mover_id < 0
        assert np.all(frame.object_motion[static] == 0.0)
        next_world_to_camera = np.linalg.inv(renderer.pose(frame.index + 1))[:3, :3]
        for mover in np.unique(frame.mover_id[~static]):
            expected = next_world_to_camera @ velocities[mover] / SMALL.rate_hz
            assert np.allclose(frame.object_motion[frame.mover_id == mover], expected, atol=1e-6)
            assert np.linalg.norm(expected) > 0.2
            seen_movers.add(int(mover))
    assert len(seen_movers) >= 2, "the sequence should show several movers"


def test_reprojection_with_true_depth_pose_and_object_motion_reproduces_the_next_frame(
        frames: list[SyntheticFrame]) -> None:
    for frame1, frame2 in zip(frames[:-1:3], frames[1::3]):
        error, usable, movers = _photometric_check(frame1, frame2)
        assert usable.mean() > 0.6
        assert np.median(error[usable]) < 1.5, "static and moving surfaces must be photo-consistent"
        assert np.percentile(error[usable], 90) < 8.0
        if (movers & usable).sum() > 50:
            assert np.median(error[movers & usable]) < 1.5


def test_ignoring_object_motion_breaks_consistency_on_movers_only(frames: list[SyntheticFrame]) -> None:
    checked = 0
    for frame1, frame2 in zip(frames[:-1], frames[1:]):
        error, usable, movers = _photometric_check(frame1, frame2, use_object_motion=False)
        _, usable_true, _ = _photometric_check(frame1, frame2)
        moving = movers & usable_true
        if moving.sum() < 50:
            continue
        static = usable & ~movers
        assert np.median(error[static]) < 3.0
        # Without the object motion the depth test rejects most mover pixels or their colours disagree.
        still_consistent = moving & usable & (error < 6.0)
        assert still_consistent.sum() < 0.5 * moving.sum()
        checked += 1
    assert checked >= 3


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        SceneParams(frames=1)
    with pytest.raises(ValueError):
        SceneParams(width=4)
