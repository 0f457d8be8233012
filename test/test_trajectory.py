"""Odometry metrics: Sim(3) alignment, ATE, RPE and the snippet ATE protocol, on constructed trajectories."""
from __future__ import annotations

import math

import numpy as np
import pytest

from depth_motion_ros.evaluation.trajectory import (
    align_sim3,
    chain_relative_motions,
    snippet_ate,
    snippet_errors,
    step_length_ratios,
    trajectory_ate,
    trajectory_rpe,
)
from depth_motion_ros.transforms import pose_matrix


def rotation_z(degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    return np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * skew + (1 - math.cos(angle)) * skew @ skew


def random_trajectory(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    poses = [np.eye(4)]
    for _ in range(count - 1):
        step = np.eye(4)
        step[:3, :3] = rotation_about(rng.normal(size=3), 0.1)
        step[:3, 3] = rng.normal(size=3)
        poses.append(poses[-1] @ step)
    return np.stack(poses)


def similarity(scale: float, rotation: np.ndarray, translation: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Apply x -> s R x + t to camera-to-world poses (the frame of the world changes, the cameras do not)."""
    out = poses.copy()
    out[:, :3, :3] = rotation @ poses[:, :3, :3]
    out[:, :3, 3] = scale * poses[:, :3, 3] @ rotation.T + translation
    return out


def test_sim3_alignment_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(1)
    src = rng.normal(size=(50, 3))
    rotation = rotation_about(np.array([1.0, 2.0, 3.0]), 0.7)
    dst = 2.5 * src @ rotation.T + np.array([1.0, -2.0, 0.5])
    scale, got_rotation, translation = align_sim3(src, dst)
    assert scale == pytest.approx(2.5)
    assert np.allclose(got_rotation, rotation) and np.allclose(translation, [1.0, -2.0, 0.5])
    mirrored = dst * np.array([1.0, 1.0, -1.0])  # no proper rotation maps onto a mirror image
    assert np.linalg.det(align_sim3(src, mirrored)[1]) == pytest.approx(1.0)


def test_alignment_of_a_motionless_estimate_is_the_centroid() -> None:
    truth = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0.0]])
    scale, rotation, translation = align_sim3(np.zeros((4, 3)), truth)
    assert scale == 0.0 and np.array_equal(rotation, np.eye(3)) and np.allclose(translation, [1.5, 0, 0])


def test_ate_is_zero_up_to_similarity_and_known_when_standing_still() -> None:
    gt = random_trajectory(20)
    pred = similarity(0.3, rotation_about(np.array([0.0, 1.0, 0.0]), 1.0), np.array([5.0, 0, 0]), gt)
    assert trajectory_ate(pred, gt) == pytest.approx(0.0, abs=1e-9)
    line = np.stack([pose_matrix((x, 0, 0), (0, 0, 0, 1)) for x in range(4)])
    still = np.stack([np.eye(4)] * 4)
    assert trajectory_ate(still, line) == pytest.approx(math.sqrt(1.25))  # RMS distance to the centroid 1.5


def test_rpe_is_zero_up_to_similarity_and_measures_a_known_rotation_drift() -> None:
    gt = random_trajectory(15, seed=3)
    pred = similarity(4.0, rotation_z(30), np.zeros(3), gt)
    assert trajectory_rpe(pred, gt) == pytest.approx((0.0, 0.0), abs=1e-7)
    forward = np.stack([pose_matrix((0, 0, k), (0, 0, 0, 1)) for k in range(6)])
    drifting = forward.copy()
    for k in range(6):
        drifting[k, :3, :3] = rotation_z(10 * k)  # same positions, turning 10 degrees per frame
    translation_error, rotation_error = trajectory_rpe(drifting, forward)
    assert translation_error == pytest.approx(0.0, abs=1e-9) and rotation_error == pytest.approx(10.0)


def test_snippet_ate_of_a_perfect_or_rescaled_trajectory_is_zero() -> None:
    gt = random_trajectory(12, seed=5)
    assert snippet_ate(gt, gt) == pytest.approx(0.0, abs=1e-12)
    assert snippet_ate(similarity(3.0, rotation_z(45), np.ones(3), gt), gt) == pytest.approx(0.0, abs=1e-9)
    assert len(snippet_errors(gt, gt, snippet_length=5)) == 8, "one snippet per complete 5-frame window"


def test_standing_still_snippet_error_is_the_ground_truth_motion() -> None:
    line = np.stack([pose_matrix((k, 0, 0), (0, 0, 0, 1)) for k in range(6)])
    still = np.stack([np.eye(4)] * 6)
    # No motion -> scale 0 -> the error is the true positions 0..4 m: sqrt(mean(k^2)) = sqrt(6).
    assert snippet_errors(still, line).tolist() == pytest.approx([math.sqrt(6)] * 2)


def sfmlearner_compute_ate(gtruth_xyz: np.ndarray, pred_xyz_o: np.ndarray) -> float:
    """SfMLearner's kitti_eval/pose_evaluation_utils.compute_ate, verbatim in substance."""
    offset = gtruth_xyz[0] - pred_xyz_o[0]
    pred_xyz = pred_xyz_o + offset[None, :]
    scale = np.sum(gtruth_xyz * pred_xyz) / np.sum(pred_xyz ** 2)
    alignment_error = pred_xyz * scale - gtruth_xyz
    return np.sqrt(np.sum(alignment_error ** 2)) / gtruth_xyz.shape[0]


def test_snippet_error_is_sfmlearners_figure_times_root_window_length() -> None:
    gt = random_trajectory(5, seed=7)
    pred = random_trajectory(5, seed=8)
    gt_xyz = (np.linalg.inv(gt[0]) @ gt)[:, :3, 3]
    pred_xyz = (np.linalg.inv(pred[0]) @ pred)[:, :3, 3]
    reference = sfmlearner_compute_ate(gt_xyz, pred_xyz)
    assert snippet_errors(pred, gt)[0] == pytest.approx(reference * math.sqrt(5))


def test_chaining_follows_the_motion_convention() -> None:
    # The camera moves 1 m forward (+z): a static point's coordinates in camera 2 are 1 m smaller in z,
    # so T_21 has translation (0, 0, -1) and the camera-to-world pose moves to z = +1.
    motion = np.eye(4)
    motion[2, 3] = -1.0
    poses = chain_relative_motions([motion, motion])
    assert poses.shape == (3, 4, 4) and poses[:, 2, 3].tolist() == [0.0, 1.0, 2.0]


def test_step_length_ratios_are_unaligned_and_skip_standing_still() -> None:
    gt = np.stack([np.eye(4) for _ in range(5)])
    gt[:, :3, 3] = [[0, 0, 0], [0, 0, 1.0], [0, 0, 3.0], [0, 0, 3.0], [0.5, 0, 3.0]]  # a stop, then sideways
    pred = gt.copy()
    pred[:, :3, 3] *= 1.25
    pred[:, :3, :3] = np.eye(3)  # rotation plays no part
    np.testing.assert_allclose(step_length_ratios(pred, gt), [1.25, 1.25, 1.25])
    moved = pred.copy()
    moved[:, :3, 3] += [10.0, -4.0, 2.0]  # an offset of the whole path changes no step
    np.testing.assert_allclose(step_length_ratios(moved, gt), [1.25, 1.25, 1.25])
