"""Scores a checkpoint rung by rung on held-out rendered sequences: the diagnosis ladder of training.

When a from-scratch run misses a goal, the ladder locates the fault by giving the networks exact answers for
all but one quantity (`GivenGroundTruth`): (1) true depth and camera motion given, only the object-motion
field is learned; (2) true camera motion given, depth is learned; (3) true depth given, ego-motion is learned;
(4) everything learned. A rung is trained with the same `given` section and scored here with it, so the
figures measure what that rung learned and nothing it was handed.

Why not `depth_motion_eval`: that tool runs the per-frame inference path a robot runs, which never has ground
truth to feed the motion network. Here the motion network gets the true depth where a rung gives it, and the
true camera motion replaces the network's where a rung gives that.

Figures, over consecutive pairs of every sequence (each pooled over all sequences):
* depth (unless given): abs rel and delta < 1.25 after per-image median scaling, as `depth_motion_eval`;
* ego-motion (unless given): RPE rotation per frame (degrees, RMS) and the 5-frame snippet ATE (metres,
  scale-aligned), each beside standing still's;
* the field: mover IoU, relative end-point error and the static pixels flagged (`ObjectMotionTotals`), with
  the field scaled by the pair's median-scaling factor (1 where depth is given: it is then metric).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import torch

from depth_motion_ros.checkpoint import load_checkpoint
from depth_motion_ros.evaluation.metrics import depth_metrics, mean_metrics
from depth_motion_ros.evaluation.object_motion import DEFAULT_MOTION_THRESHOLD, ObjectMotionTotals
from depth_motion_ros.evaluation.trajectory import chain_relative_motions, rotation_angle_deg, snippet_ate
from depth_motion_ros.geometry.rotations import axis_angle_to_matrix
from depth_motion_ros.networks import DepthMotionModel, set_layer_norm_noise
from depth_motion_ros.predictors.base import resize_rgb
from depth_motion_ros.sources.sequence_folder import SequenceFolderSource
from depth_motion_ros.training.config import GivenGroundTruth
from depth_motion_ros.training.data import depth_as_input


@dataclass(frozen=True)
class TruthFrame:
    """A rendered frame with the ground truth the ladder needs."""

    rgb: np.ndarray  # uint8 [H, W, 3]
    depth: np.ndarray  # [H, W] metres, NaN on sky
    pose: np.ndarray  # 4x4 camera-to-world
    object_motion: np.ndarray | None  # [H, W, 3] metres per frame, in the next camera


def truth_frames(folder: str | Path) -> list[TruthFrame]:
    frames = []
    for frame in SequenceFolderSource(folder):
        if frame.depth is None or frame.pose is None:
            raise ValueError(f"{folder}: the ladder needs ground-truth depth and poses for every frame (a rendered "
                             "sequence: depth_motion_synth --out DIR)")
        frames.append(TruthFrame(frame.rgb, frame.depth, frame.pose, frame.object_motion))
    return frames


@dataclass(frozen=True)
class PairPrediction:
    depth1: np.ndarray  # [h, w] at the network input size (the true depth where given)
    motion: np.ndarray  # 4x4 camera 1 -> 2 (the true one where given)
    field: np.ndarray  # [h, w, 3] the object-motion field on frame 1's grid, model units


def _to_input(rgb: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """As the predictors prepare a frame: resized by `resize_rgb`, float in [0, 1]."""
    return torch.from_numpy(resize_rgb(rgb, size)).permute(2, 0, 1)[None].float() / 255.0


def _given_depth(depth: np.ndarray, size: tuple[int, int], far: float) -> torch.Tensor:
    """True depth at the input size (nearest: no surfaces invented at edges), as the trainer feeds it."""
    resized = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    given: torch.Tensor = depth_as_input(torch.from_numpy(resized).float()[None, None], 1e-3, far)
    return given


@torch.no_grad()
def predict_pair(model: DepthMotionModel, frame1: TruthFrame, frame2: TruthFrame, given: GivenGroundTruth,
                 far: float) -> PairPrediction:
    """One pair through the networks, with the rung's ground truth in place of their outputs."""
    size = model.config.input_size
    rgb1, rgb2 = _to_input(frame1.rgb, size), _to_input(frame2.rgb, size)
    if given.depth:
        depth1, depth2 = _given_depth(frame1.depth, size, far), _given_depth(frame2.depth, size, far)
    else:
        depth1, depth2 = model.depth(torch.cat([rgb1, rgb2])).chunk(2)
    motion_out = model.motion(rgb1, depth1, rgb2, depth2)
    if given.ego_motion:
        motion = np.linalg.solve(frame2.pose, frame1.pose)
    else:
        motion = np.eye(4)
        motion[:3, :3] = axis_angle_to_matrix(motion_out.rotation)[0].double().numpy()
        motion[:3, 3] = motion_out.translation[0].double().numpy()
    return PairPrediction(depth1[0, 0].numpy(), motion, motion_out.residual_translation[0].permute(1, 2, 0).numpy())


def score_sequence(model: DepthMotionModel, folder: str | Path, given: GivenGroundTruth, max_depth: float,
                   threshold: float, field: ObjectMotionTotals) -> dict[str, float]:
    """Figures of one rendered sequence; the field's pixels are also pooled into ``field``."""
    frames = truth_frames(folder)
    depth_rows: list[dict[str, float]] = []
    relative: list[np.ndarray] = []
    rotation_errors: list[float] = []
    true_rotations: list[float] = []
    for frame1, frame2 in pairwise(frames):
        pair = predict_pair(model, frame1, frame2, given, max_depth)
        truth = frame1.depth
        scale = 1.0
        if not given.depth:
            metrics = depth_metrics(pair.depth1, truth, max_depth=max_depth)
            if metrics is not None:
                depth_rows.append(metrics)
            resized = cv2.resize(pair.depth1, (truth.shape[1], truth.shape[0]), interpolation=cv2.INTER_LINEAR)
            valid = np.isfinite(truth) & (truth < max_depth)
            scale = float(np.median(truth[valid]) / np.median(resized[valid]))
        relative.append(pair.motion)
        true_motion = np.linalg.solve(frame2.pose, frame1.pose)
        rotation_errors.append(rotation_angle_deg(pair.motion[:3, :3].T @ true_motion[:3, :3]))
        true_rotations.append(rotation_angle_deg(true_motion[:3, :3]))  # standing still's error
        if frame1.object_motion is not None:
            field.add(pair.field, frame1.object_motion, np.isfinite(truth) & (truth < max_depth), scale, threshold)
    gt_poses = np.stack([frame.pose for frame in frames])
    gt_poses = np.linalg.inv(gt_poses[0]) @ gt_poses
    # chain_relative_motions expects motions of points from camera i to i+1, as predicted here.
    pred_poses = chain_relative_motions(relative)
    still = np.repeat(np.eye(4)[None], len(frames), axis=0)
    scores = {"pairs": float(len(relative)),
              "rpe_rotation_deg": float(np.sqrt(np.mean(np.square(rotation_errors)))),
              "rpe_rotation_still_deg": float(np.sqrt(np.mean(np.square(true_rotations)))),
              "snippet_ate_m": snippet_ate(pred_poses, gt_poses),
              "snippet_ate_still_m": snippet_ate(still, gt_poses)}
    if depth_rows:
        scores.update({f"depth_{k}": v for k, v in mean_metrics(depth_rows).items()})
    return scores


def score(checkpoint: str | Path, folders: Sequence[str | Path], given: GivenGroundTruth, max_depth: float = 80.0,
          threshold: float = DEFAULT_MOTION_THRESHOLD) -> dict:
    """Per-sequence figures and the field's pooled figures of ``checkpoint`` on ``folders`` at one rung."""
    model = load_checkpoint(checkpoint, map_location="cpu").model.eval()
    set_layer_norm_noise(model, 0.0)
    field = ObjectMotionTotals()
    sequences = {str(folder): score_sequence(model, folder, given, max_depth, threshold, field) for folder in folders}
    return {"checkpoint": str(checkpoint), "given": {"depth": given.depth, "ego_motion": given.ego_motion},
            "sequences": sequences, "object_motion": field.scores()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m depth_motion_ros.training.ladder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--sequence", action="append", required=True, help="held-out rendered sequence folder")
    parser.add_argument("--given-depth", action="store_true", help="feed the true depth (rungs 1 and 3)")
    parser.add_argument("--given-ego-motion", action="store_true", help="use the true camera motion (rungs 1, 2)")
    parser.add_argument("--max-depth", type=float, default=80.0)
    parser.add_argument("--motion-threshold", type=float, default=DEFAULT_MOTION_THRESHOLD, help="m per frame")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args(argv)
    report = score(args.checkpoint, args.sequence, GivenGroundTruth(args.given_depth, args.given_ego_motion),
                   args.max_depth, args.motion_threshold)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
