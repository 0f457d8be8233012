"""The node's numerical pipeline against direct calls of the predictor (untrained small model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import save_checkpoint
from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.inference import DepthMotionPredictor
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks.model import DepthMotionModel
from depth_motion_ros.ros.odometry import camera_mount, invert_rigid, rigid_from_motion
from depth_motion_ros.ros.pipeline import DepthMotionPipeline, PipelineOptions
from depth_motion_ros.ros.stream_continuity import Continuity

MOUNT = camera_mount([0.1, 0.0, 1.0, 0.0, 0.05, 0.0])


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> DepthMotionPredictor:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    save_checkpoint(path, DepthMotionModel(PRESETS["light"].replace(input_height=64, input_width=96)), {})
    return DepthMotionPredictor.from_checkpoint(path, "cpu")


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (48, 72, 3), dtype=np.uint8) for _ in range(3)]


def test_one_temporal_pass_gives_the_odometry_and_the_previous_frames_field(predictor):
    first, second, _ = _frames()
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    options = PipelineOptions(metres_per_unit=2.5)
    assert pipeline.process(first, 1.0, None, options, want_motion=True, want_field=True).odometry is None
    result = pipeline.process(second, 1.1, None, options, want_motion=True, want_field=True)

    images = [predictor.prepare(frame) for frame in (first, second)]
    depths = [predictor.depth(image) for image in images]
    motion = predictor.motion(images[0], depths[0], images[1], depths[1])  # temporal order, as trained
    rotation = motion.rotation[0].double().numpy()
    current_T_previous = rigid_from_motion(rotation, motion.translation[0].double().numpy() * 2.5)
    np.testing.assert_allclose(result.odometry.odom_T_base,
                               MOUNT @ invert_rigid(current_T_previous) @ invert_rigid(MOUNT), atol=1e-6)
    # The field lies on the previous (first) frame's pixels: p_cur = R p_prev + t + r, moved by R^T r.
    residual = motion.residual_translation[0].permute(1, 2, 0).double().numpy()
    np.testing.assert_allclose(result.motion_field, (residual @ current_T_previous[:3, :3]) * 2.5, atol=1e-6)
    np.testing.assert_allclose(result.depth, depths[1][0, 0].numpy() * 2.5, rtol=1e-6)
    assert result.motion_field.shape == (64, 96, 3) and result.rgb.shape == (64, 96, 3)
    assert list(result.stage_seconds).count("motion_net") == 1


def test_flip_average_reaches_the_depth_and_the_motion_network(predictor):
    first, second, _ = _frames()
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    options = PipelineOptions(flip_average=True)
    pipeline.process(first, 1.0, None, options, want_motion=True)
    result = pipeline.process(second, 1.1, None, options, want_motion=True)
    images = [predictor.prepare(frame) for frame in (first, second)]
    depths = [predictor.depth(image, flip_average=True) for image in images]
    np.testing.assert_allclose(result.depth, depths[1][0, 0].numpy(), rtol=1e-6)
    assert not np.allclose(result.depth, predictor.depth(images[1])[0, 0].numpy(), rtol=1e-3)
    motion = predictor.motion(images[0], depths[0], images[1], depths[1])
    expected = rigid_from_motion(motion.rotation[0].double().numpy(), motion.translation[0].double().numpy())
    np.testing.assert_allclose(result.odometry.odom_T_base, MOUNT @ invert_rigid(expected) @ invert_rigid(MOUNT),
                               atol=1e-6)


def test_the_field_is_converted_only_when_wanted(predictor):
    first, second, _ = _frames()
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    pipeline.process(first, 1.0, None, PipelineOptions(), want_motion=True)
    result = pipeline.process(second, 1.1, None, PipelineOptions(), want_motion=True, want_field=False)
    assert result.odometry is not None and result.motion_field is None


def test_learned_intrinsics_exist_from_the_first_frame_and_camera_info_wins_when_given(predictor):
    first = _frames()[0]
    learned = DepthMotionPipeline(predictor, MOUNT).process(first, 0.0, None, PipelineOptions(), False)
    assert learned.intrinsics is not None and learned.intrinsics[0, 0] > 0
    k = np.array([[60.0, 0, 35.5], [0, 60.0, 23.5], [0, 0, 1]])
    given = DepthMotionPipeline(predictor, MOUNT).process(first, 0.0, k, PipelineOptions(), False)
    np.testing.assert_allclose(given.intrinsics, predictor.intrinsics_at_input(k, (48, 72)))
    forced = DepthMotionPipeline(predictor, MOUNT).process(first, 0.0, k, PipelineOptions(
        intrinsics_source="learned"), False)
    np.testing.assert_allclose(forced.intrinsics, learned.intrinsics)
    waiting = DepthMotionPipeline(predictor, MOUNT).process(first, 0.0, None, PipelineOptions(
        intrinsics_source="camera_info"), False)
    assert waiting.intrinsics is None


def test_learned_intrinsics_have_square_pixels_at_the_camera_s_resolution(predictor):
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    for size in ((48, 72), (40, 120)):  # the network's fy can't know either aspect ratio
        frame = np.random.default_rng(2).integers(0, 256, (*size, 3), dtype=np.uint8)
        k_input = DepthMotionPipeline(predictor, MOUNT).process(frame, 0.0, None, PipelineOptions(), False).intrinsics
        (height, width), (h_in, w_in) = size, predictor.input_size
        assert k_input[0, 0] * width / w_in == pytest.approx(k_input[1, 1] * height / h_in)  # fx = fy in pixels
    image = predictor.prepare(frame)
    depth = predictor.depth(image)
    raw = predictor.motion(image, depth, image, depth).intrinsics[0].double().numpy()
    np.testing.assert_allclose(pipeline.process(frame, 0.0, None, PipelineOptions(), False).intrinsics[[0, 0, 1],
                                                                                                   [0, 2, 2]],
                               raw[[0, 0, 1], [0, 2, 2]], rtol=1e-5)  # fx, cx and cy are the network's


def test_backwards_resets_pose_gap_keeps_it_duplicate_skips_motion(predictor):
    a, b, _ = _frames()
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    options = PipelineOptions(max_frame_gap=1.0)
    pipeline.process(a, 10.0, None, options, True)
    step = pipeline.process(b, 10.1, None, options, True).odometry.odom_T_base
    assert pipeline.process(b, 10.1, None, options, True).continuity is Continuity.DUPLICATE
    jumped = pipeline.process(a, 2.0, None, options, True)
    assert jumped.continuity is Continuity.BACKWARDS and jumped.odometry is None
    np.testing.assert_allclose(pipeline.integrator.state.odom_T_base, np.eye(4))
    np.testing.assert_allclose(pipeline.process(b, 2.1, None, options, True).odometry.odom_T_base, step,
                               atol=1e-9)
    gap = pipeline.process(a, 9.0, None, options, True)
    assert gap.continuity is Continuity.GAP and gap.odometry is None
    np.testing.assert_allclose(pipeline.integrator.state.odom_T_base, step, atol=1e-9)


def test_scale_modes_fixed_ground_plane_and_fallback(predictor):
    from test_ros_ground_scale import K, _road_depth

    road, _ = _road_depth(camera_height_units=0.75, pitch_down=0.1)
    wall = np.full_like(road, 5.0)
    pipeline = DepthMotionPipeline(predictor, camera_mount([0, 0, 0.75, 0, 0.1, 0]))
    fixed = PipelineOptions(metres_per_unit=0.3)
    assert pipeline.update_scale(road, K, fixed) == 0.3
    height = PipelineOptions(scale_mode="camera_height", camera_height=1.5, metres_per_unit=0.3,
                             ground_region=0.4, scale_smoothing=0.5)
    assert pipeline.update_scale(wall, K, height) == 0.3            # no ground yet: fallback
    assert pipeline.update_scale(road, K, height) == pytest.approx(2.0, rel=1e-4)
    assert pipeline.update_scale(wall, K, height) == pytest.approx(2.0, rel=1e-4)  # bad frame: kept
    assert pipeline.update_scale(road * 2, K, height) == pytest.approx(np.sqrt(2.0), rel=1e-3)  # log-mean


def test_no_motion_when_not_wanted_after_intrinsics_are_known(predictor):
    a, b, _ = _frames()
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    pipeline.process(a, 0.0, None, PipelineOptions(), False)
    result = pipeline.process(b, 0.1, None, PipelineOptions(), False)
    assert result.odometry is None and result.motion_field is None and "motion_net" not in result.stage_seconds


def test_pose_refinement_refines_the_odometry_with_the_chosen_intrinsics_and_keeps_the_motion_field(predictor):
    first, second, _ = _frames()
    k = np.array([[60.0, 0, 35.5], [0, 60.0, 23.5], [0, 0, 1]])
    results = {}
    for mode in ("none", "full"):
        pipeline = DepthMotionPipeline(predictor, MOUNT)
        options = PipelineOptions(metres_per_unit=2.5, pose_refinement=mode)
        pipeline.process(first, 1.0, k, options, want_motion=True, want_field=True)
        results[mode] = pipeline.process(second, 1.1, k, options, want_motion=True, want_field=True)

    images = [predictor.prepare(frame) for frame in (first, second)]
    depths = [predictor.depth(image) for image in images]
    camera = predictor.motion(images[0], depths[0], images[1], depths[1])
    k_input = torch.as_tensor(predictor.intrinsics_at_input(k, (48, 72)), dtype=torch.float32)[None]
    rotation, translation = refine_motion(images[0], depths[0], images[1], k_input, camera.rotation,
                                          camera.translation, AlignmentOptions(mode="full"))
    current_T_previous = rigid_from_motion(rotation[0].double().numpy(), translation[0].double().numpy() * 2.5)
    refined = results["full"]
    np.testing.assert_allclose(refined.odometry.odom_T_base,
                               MOUNT @ invert_rigid(current_T_previous) @ invert_rigid(MOUNT), atol=1e-6)
    assert "pose_refinement" in refined.stage_seconds and "pose_refinement" not in results["none"].stage_seconds
    np.testing.assert_array_equal(refined.motion_field, results["none"].motion_field)


def test_pose_refinement_waits_for_intrinsics(predictor):
    first, second, _ = _frames()
    pipeline = DepthMotionPipeline(predictor, MOUNT)
    options = PipelineOptions(intrinsics_source="camera_info", pose_refinement="full")
    pipeline.process(first, 1.0, None, options, want_motion=True)
    result = pipeline.process(second, 1.1, None, options, want_motion=True)
    assert result.odometry is not None and "pose_refinement" not in result.stage_seconds
