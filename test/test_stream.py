"""The per-frame engine (stream.py) against direct calls of the predictor (untrained small model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import save_checkpoint
from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks.model import DepthMotionModel
from depth_motion_ros.odometry import MotionUncertainty, camera_mount, up_in_camera
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.stream import UNKNOWN_SCALE, Continuity, DepthMotionStream, StreamOptions
from depth_motion_ros.transforms import invert_rigid, rigid_from_motion


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> DepthMotionPredictor:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    save_checkpoint(path, DepthMotionModel(PRESETS["light"].replace(input_height=64, input_width=96)), {})
    return DepthMotionPredictor.from_checkpoint(path, "cpu")


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (48, 72, 3), dtype=np.uint8) for _ in range(3)]


def test_one_temporal_pass_gives_the_camera_motion_and_the_previous_frames_field(predictor):
    first, second, _ = _frames()
    stream = DepthMotionStream(predictor)
    options = StreamOptions(metres_per_unit=2.5)
    assert stream.step(first, 1.0, None, options, want_motion=True, want_field=True).camera_motion is None
    result = stream.step(second, 1.1, None, options, want_motion=True, want_field=True)

    images = [predictor.prepare(frame) for frame in (first, second)]
    depths = [predictor.depth(image) for image in images]
    motion = predictor.motion(images[0], depths[0], images[1], depths[1])  # temporal order, as trained
    rotation = motion.rotation[0].double().numpy()
    current_T_previous = rigid_from_motion(rotation, motion.translation[0].double().numpy() * 2.5)
    np.testing.assert_allclose(result.camera_motion, invert_rigid(current_T_previous), atol=1e-6)
    np.testing.assert_allclose(result.pose, result.camera_motion)  # the first frame is the world origin
    np.testing.assert_allclose(result.network_motion, result.camera_motion)  # no refinement asked for
    # The field lies on the previous (first) frame's pixels: p_cur = R p_prev + t + r, moved by R^T r.
    residual = motion.residual_translation[0].permute(1, 2, 0).double().numpy()
    # Per second: the stamps are 0.1 s apart.
    np.testing.assert_allclose(result.motion_field, (residual @ current_T_previous[:3, :3]) * 2.5 / 0.1,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.depth, depths[1][0, 0].numpy() * 2.5, rtol=1e-6)
    assert result.motion_field.shape == (64, 96, 3) and result.rgb.shape == (64, 96, 3)
    assert list(result.stage_seconds).count("motion_net") == 1


def test_flip_average_reaches_the_depth_and_the_motion_network(predictor):
    first, second, _ = _frames()
    stream = DepthMotionStream(predictor)
    options = StreamOptions(flip_average=True)
    stream.step(first, 1.0, None, options, want_motion=True)
    result = stream.step(second, 1.1, None, options, want_motion=True)
    images = [predictor.prepare(frame) for frame in (first, second)]
    depths = [predictor.depth(image, flip_average=True) for image in images]
    np.testing.assert_allclose(result.depth, depths[1][0, 0].numpy(), rtol=1e-6)
    assert not np.allclose(result.depth, predictor.depth(images[1])[0, 0].numpy(), rtol=1e-3)
    motion = predictor.motion(images[0], depths[0], images[1], depths[1])
    expected = rigid_from_motion(motion.rotation[0].double().numpy(), motion.translation[0].double().numpy())
    np.testing.assert_allclose(result.camera_motion, invert_rigid(expected), atol=1e-6)


def test_the_field_is_converted_only_when_wanted(predictor):
    first, second, _ = _frames()
    stream = DepthMotionStream(predictor)
    stream.step(first, 1.0, None, StreamOptions(), want_motion=True)
    result = stream.step(second, 1.1, None, StreamOptions(), want_motion=True, want_field=False)
    assert result.camera_motion is not None and result.motion_field is None and result.moving_mask(0.1) is None


def test_learned_intrinsics_exist_from_the_first_frame_and_camera_info_wins_when_given(predictor):
    first = _frames()[0]
    learned = DepthMotionStream(predictor).step(first, 0.0, None, StreamOptions(), False)
    assert learned.intrinsics is not None and learned.intrinsics[0, 0] > 0
    k = np.array([[60.0, 0, 35.5], [0, 60.0, 23.5], [0, 0, 1]])
    given = DepthMotionStream(predictor).step(first, 0.0, k, StreamOptions(), False)
    np.testing.assert_allclose(given.intrinsics, predictor.intrinsics_at_input(k, (48, 72)))
    forced = DepthMotionStream(predictor).step(first, 0.0, k, StreamOptions(
        intrinsics_source="learned"), False)
    np.testing.assert_allclose(forced.intrinsics, learned.intrinsics)
    waiting = DepthMotionStream(predictor).step(first, 0.0, None, StreamOptions(
        intrinsics_source="camera_info"), False)
    assert waiting.intrinsics is None


def test_learned_intrinsics_have_square_pixels_at_the_camera_s_resolution(predictor):
    stream = DepthMotionStream(predictor)
    for size in ((48, 72), (40, 120)):  # the network's fy can't know either aspect ratio
        frame = np.random.default_rng(2).integers(0, 256, (*size, 3), dtype=np.uint8)
        k_input = DepthMotionStream(predictor).step(frame, 0.0, None, StreamOptions(), False).intrinsics
        (height, width), (h_in, w_in) = size, predictor.input_size
        assert k_input[0, 0] * width / w_in == pytest.approx(k_input[1, 1] * height / h_in)  # fx = fy in pixels
    image = predictor.prepare(frame)
    depth = predictor.depth(image)
    raw = predictor.motion(image, depth, image, depth).intrinsics[0].double().numpy()
    np.testing.assert_allclose(stream.step(frame, 0.0, None, StreamOptions(), False).intrinsics[[0, 0, 1],
                                                                                                   [0, 2, 2]],
                               raw[[0, 0, 1], [0, 2, 2]], rtol=1e-5)  # fx, cx and cy are the network's


def test_backwards_resets_pose_gap_keeps_it_duplicate_skips_motion(predictor):
    a, b, _ = _frames()
    stream = DepthMotionStream(predictor)
    options = StreamOptions(max_frame_gap=1.0)
    stream.step(a, 10.0, None, options, True)
    step = stream.step(b, 10.1, None, options, True).pose
    duplicate = stream.step(b, 10.1, None, options, True)
    assert duplicate.continuity is Continuity.DUPLICATE and duplicate.camera_motion is None
    np.testing.assert_allclose(duplicate.pose, step)
    jumped = stream.step(a, 2.0, None, options, True)
    assert jumped.continuity is Continuity.BACKWARDS and jumped.camera_motion is None
    np.testing.assert_allclose(jumped.pose, np.eye(4))
    np.testing.assert_allclose(stream.step(b, 2.1, None, options, True).pose, step, atol=1e-9)
    gap = stream.step(a, 9.0, None, options, True)
    assert gap.continuity is Continuity.GAP and gap.camera_motion is None
    np.testing.assert_allclose(gap.pose, step, atol=1e-9)


def test_scale_modes_fixed_ground_plane_and_fallback(predictor):
    from test_ground_scale import K, _road_depth

    road, _ = _road_depth(camera_height_units=0.75, pitch_down=0.1)
    wall = np.full_like(road, 5.0)
    stream = DepthMotionStream(predictor, up_in_camera(camera_mount([0, 0, 0.75, 0, 0.1, 0])))
    fixed = StreamOptions(metres_per_unit=0.3)
    assert stream.update_scale(road, K, fixed) == 0.3
    height = StreamOptions(scale_mode="camera_height", camera_height=1.5, metres_per_unit=0.3,
                             ground_region=0.4, scale_smoothing=0.5)
    assert stream.update_scale(wall, K, height) == 0.3            # no ground yet: fallback
    assert stream.update_scale(road, K, height) == pytest.approx(2.0, rel=1e-4)
    assert stream.update_scale(wall, K, height) == pytest.approx(2.0, rel=1e-4)  # bad frame: kept
    assert stream.update_scale(road * 2, K, height) == pytest.approx(np.sqrt(2.0), rel=1e-3)  # log-mean

    # The ground fits' spread: log 2 off by half each time -> deviation of the smoothed scale, and metric.
    assert stream.uncertainty(height).scale > 0
    assert stream.scale_status(height)[0] and not stream.scale_status(fixed)[0]
    assert stream.uncertainty(fixed) == MotionUncertainty(UNKNOWN_SCALE, fixed.translation_noise,
                                                          fixed.rotation_noise)


def test_odometry_scale_mode_scales_depth_translation_and_field_by_the_robots_distance(predictor):
    """The same pair three times, the robot moving 0.2 m each: before three pairs metres_per_unit applies,
    from the third on 0.2 m over the network's translation; depth and the field scale with it."""
    a, b, _ = _frames()
    options = StreamOptions(scale_mode="odometry", metres_per_unit=1.0, max_frame_gap=1.0)
    robot = rigid_from_motion(np.zeros(3), np.array([0.0, 0.0, 0.2]))
    stream = DepthMotionStream(predictor)
    steps = []
    for pair in range(3):
        t = 10.0 * pair  # a gap before each pair: the same two images each time
        stream.step(a, t, None, options)
        steps.append(stream.step(b, t + 0.1, None, options, robot_motion=robot))
    units = float(np.linalg.norm(steps[0].camera_motion[:3, 3]))
    assert steps[0].scale == steps[1].scale == 1.0 and not steps[1].uncertainty.scale < UNKNOWN_SCALE
    assert steps[2].scale == pytest.approx(0.2 / units)
    assert np.linalg.norm(steps[2].camera_motion[:3, 3]) == pytest.approx(0.2)
    np.testing.assert_allclose(steps[2].depth, steps[0].depth * (0.2 / units), rtol=1e-5)
    np.testing.assert_allclose(steps[2].motion_field, steps[0].motion_field * (0.2 / units), rtol=1e-4, atol=1e-7)
    assert steps[2].uncertainty.scale == 0.0 and steps[2].uncertainty.step == 0.0  # three equal ratios
    metric, text = stream.scale_status(options)
    assert metric and "metric from the robot's odometry" in text


def test_no_motion_when_not_wanted_after_intrinsics_are_known(predictor):
    a, b, _ = _frames()
    stream = DepthMotionStream(predictor)
    stream.step(a, 0.0, None, StreamOptions(), False)
    result = stream.step(b, 0.1, None, StreamOptions(), False)
    assert result.camera_motion is None and result.motion_field is None and "motion_net" not in result.stage_seconds


def test_pose_refinement_refines_the_camera_motion_with_the_chosen_intrinsics_and_keeps_the_motion_field(predictor):
    first, second, _ = _frames()
    k = np.array([[60.0, 0, 35.5], [0, 60.0, 23.5], [0, 0, 1]])
    results = {}
    for mode in ("none", "full"):
        stream = DepthMotionStream(predictor)
        options = StreamOptions(metres_per_unit=2.5, pose_refinement=mode)
        stream.step(first, 1.0, k, options, want_motion=True, want_field=True)
        results[mode] = stream.step(second, 1.1, k, options, want_motion=True, want_field=True)

    images = [predictor.prepare(frame) for frame in (first, second)]
    depths = [predictor.depth(image) for image in images]
    camera = predictor.motion(images[0], depths[0], images[1], depths[1])
    k_input = torch.as_tensor(predictor.intrinsics_at_input(k, (48, 72)), dtype=torch.float32)[None]
    rotation, translation = refine_motion(images[0], depths[0], images[1], k_input, camera.rotation,
                                          camera.translation, AlignmentOptions(mode="full"))
    current_T_previous = rigid_from_motion(rotation[0].double().numpy(), translation[0].double().numpy() * 2.5)
    refined = results["full"]
    np.testing.assert_allclose(refined.camera_motion, invert_rigid(current_T_previous), atol=1e-6)
    np.testing.assert_allclose(refined.network_motion, results["none"].camera_motion)
    assert "pose_refinement" in refined.stage_seconds and "pose_refinement" not in results["none"].stage_seconds
    np.testing.assert_array_equal(refined.motion_field, results["none"].motion_field)


def test_pose_refinement_waits_for_intrinsics(predictor):
    first, second, _ = _frames()
    stream = DepthMotionStream(predictor)
    options = StreamOptions(intrinsics_source="camera_info", pose_refinement="full")
    stream.step(first, 1.0, None, options, want_motion=True)
    result = stream.step(second, 1.1, None, options, want_motion=True)
    assert result.camera_motion is not None and "pose_refinement" not in result.stage_seconds


def test_pose_chains_the_camera_motions_and_intrinsics_are_the_running_mean_of_the_learned_ones(predictor):
    frames = _frames()
    stream = DepthMotionStream(predictor)
    steps = [stream.step(frame, 0.1 * i, None, StreamOptions()) for i, frame in enumerate(frames)]
    np.testing.assert_allclose(steps[0].pose, np.eye(4))
    np.testing.assert_allclose(steps[2].pose, steps[1].camera_motion @ steps[2].camera_motion, atol=1e-12)
    # The learned matrices of the pairs (0, 0) (the first frame alone), (0, 1) and (1, 2), averaged.
    images = [predictor.prepare(frame) for frame in frames]
    depths = [predictor.depth(image) for image in images]
    learned = [predictor.learned_intrinsics_at_input(predictor.motion(images[i], depths[i], images[j], depths[j])
                                                     .intrinsics, (48, 72))[0].double().numpy()
               for i, j in ((0, 0), (0, 1), (1, 2))]
    assert all(step.intrinsics_learned for step in steps)
    np.testing.assert_allclose(steps[2].intrinsics, np.mean(learned, axis=0), rtol=1e-5)
    np.testing.assert_allclose(steps[0].intrinsics, learned[0], rtol=1e-5)


def test_the_moving_mask_thresholds_the_field_in_its_unit(predictor):
    first, second, _ = _frames()
    stream = DepthMotionStream(predictor)
    stream.step(first, 1.0, None, StreamOptions())
    step = stream.step(second, 1.1, None, StreamOptions())
    speed = np.linalg.norm(step.motion_field, axis=-1)
    threshold = float(np.median(speed))
    np.testing.assert_array_equal(step.moving_mask(threshold), np.where(speed > threshold, 255, 0))
