"""Metric scale from the robot's odometry (`scale_mode: odometry`), measured on real recordings.

The recordings' ground-truth camera poses are played as the robot's odometry, with the errors of a wheel
odometry added, into the same `RobotOdometryBuffer` the node fills from nav_msgs/Odometry; every frame goes
through `DepthMotionStream.step` with the node's options and the camera motion the buffer gives for the pair,
as the node does. No alignment of any kind afterwards. Figures:

* 7-Scenes redkitchen 800-999 (validation; Kinect depth): per frame, the median-scaling factor the
  evaluation would apply (median true depth / median published depth); metric means 1. Goal: the median
  over the frames within 5 %.
* KITTI odometry 03 641-800 (validation): published / true distance travelled, summed over the frame pairs.
  Goal: within 3 %.
* Both: the published odometry's final position error (base_link, no alignment) against the standard
  deviation its covariance claims.

The simulated wheel odometry (`WheelOdometryNoise`): messages at 50 Hz, interpolated from the ground truth
(7-Scenes 30 Hz, KITTI 10 Hz); each 0.02 s step's length is multiplied by (1 + bias + e), bias +1 % (a wheel
radius off by 1 %), e normal with 2 % deviation, independent per step; the heading turns by a normal error
of 0.001 rad per step plus a drift of 0.002 rad per metre, about the robot's up axis. The camera is the
robot's base with the optical rotation (`camera_mount` all zero), so "the robot" is the hand-held Kinect on
7-Scenes and the car's camera on KITTI.

    .venv/bin/python bench/bench_odometry_scale.py [--pose-refinement none full] [--seeds 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from depth_motion_ros.checkpoint import default_checkpoint_path
from depth_motion_ros.evaluation.metrics import depth_metrics
from depth_motion_ros.odometry import OdometryIntegrator, camera_mount
from depth_motion_ros.odometry_scale import OdometryMatchError, RobotOdometryBuffer
from depth_motion_ros.predictors import load_predictor
from depth_motion_ros.sources import open_source
from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.sources.poses import PoseTrack
from depth_motion_ros.stream import DepthMotionStream, StreamOptions
from depth_motion_ros.transforms import invert_rigid, rpy_to_matrix

SHARED_DATA = Path(os.environ.get("DEPTH_MOTION_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
#: name: (first, end) of the validation frames, and the indoor/outdoor depth limit of the evaluation.
SEQUENCES = {"7scenes_redkitchen": (800, 1000, 10.0), "kitti_odometry_03": (641, 801, 80.0)}
ODOMETRY_RATE_HZ = 50.0
MOUNT = camera_mount([0.0] * 6)


@dataclass(frozen=True)
class WheelOdometryNoise:
    """The errors added to the ground truth to make it a wheel odometry (module docstring)."""

    scale_bias: float = 0.01
    scale_noise: float = 0.02
    heading_noise: float = 0.001      # rad per step
    heading_drift: float = 0.002      # rad per metre


def wheel_odometry(frames: list[Frame], noise: WheelOdometryNoise, seed: int) -> list[tuple[float, np.ndarray]]:
    """(stamp, odom_T_base) at ODOMETRY_RATE_HZ over the frames' time, from their ground-truth poses with
    `noise`: each step of the true base motion is lengthened and turned, and the noisy steps are chained."""
    rng = np.random.default_rng(seed)
    times = np.array([f.timestamp for f in frames])
    true_base = [f.pose @ invert_rigid(MOUNT) for f in frames if f.pose is not None]
    if len(true_base) != len(frames):
        raise ValueError("every frame needs a ground-truth pose")
    stamps = np.arange(times[0] - 0.5 / ODOMETRY_RATE_HZ, times[-1] + 1.0 / ODOMETRY_RATE_HZ, 1 / ODOMETRY_RATE_HZ)
    track = PoseTrack(times, true_base, tolerance=1.0 / ODOMETRY_RATE_HZ)
    truth = [track.at(float(t)) for t in stamps]
    odometry = [(float(stamps[0]), np.eye(4))]
    for t, before, after in zip(stamps[1:], truth[:-1], truth[1:], strict=True):
        assert before is not None and after is not None
        step = invert_rigid(before) @ after
        length = float(np.linalg.norm(step[:3, 3]))
        step[:3, 3] *= 1.0 + noise.scale_bias + rng.normal(0.0, noise.scale_noise)
        turn = rng.normal(0.0, noise.heading_noise) + noise.heading_drift * length
        step[:3, :3] = rpy_to_matrix(0.0, 0.0, turn) @ step[:3, :3]
        odometry.append((float(t), odometry[-1][1] @ step))
    return odometry


def run(frames: list[Frame], predictor, options: StreamOptions, odometry: list[tuple[float, np.ndarray]],
        max_depth: float) -> dict:
    """Every frame through the engine with the robot's odometry, as the node runs them; the figures."""
    buffer = RobotOdometryBuffer(span_s=1e9)
    for stamp, pose in odometry:
        buffer.add(stamp, pose)
    stream = DepthMotionStream(predictor)
    integrator = OdometryIntegrator(MOUNT)
    depth_scales, published, true, first_metric = [], 0.0, 0.0, None
    unmatched = 0
    state = None
    for index, frame in enumerate(frames):
        previous = stream.previous_stamp
        robot_motion = None
        if previous is not None:
            try:
                robot_motion = buffer.camera_motion(previous, frame.timestamp, MOUNT)
            except OdometryMatchError:
                unmatched += 1
        step = stream.step(frame.rgb, frame.timestamp, frame.intrinsics, options, robot_motion=robot_motion)
        metric = stream.scale_status(options)[0]
        if metric and first_metric is None:
            first_metric = index
        if frame.depth is not None:
            scores = depth_metrics(step.depth, frame.depth, 1e-3, max_depth)
            if scores is not None:
                depth_scales.append(scores["scale"])
        if step.camera_motion is not None and step.previous_stamp is not None:
            state = integrator.update(step.camera_motion, step.stamp - step.previous_stamp, step.uncertainty)
            previous_truth, truth = frames[index - 1].pose, frame.pose
            assert previous_truth is not None and truth is not None
            published += float(np.linalg.norm(step.camera_motion[:3, 3]))
            true += float(np.linalg.norm((invert_rigid(previous_truth) @ truth)[:3, 3]))
    assert state is not None and frames[0].pose is not None and frames[-1].pose is not None
    true_end = invert_rigid(frames[0].pose @ invert_rigid(MOUNT)) @ frames[-1].pose @ invert_rigid(MOUNT)
    end_error = float(np.linalg.norm(state.odom_T_base[:3, 3] - true_end[:3, 3]))
    result = {"frames": len(frames), "first_metric_frame": first_metric, "unmatched_pairs": unmatched,
              "distance_ratio": published / true, "true_distance_m": true,
              "final_position_error_m": end_error,
              "final_position_std_m": float(np.sqrt(state.pose_variance[0] * 3)),
              "final_scale": step.scale, "final_uncertainty": asdict(step.uncertainty)}
    if depth_scales:
        result.update(depth_scale_median=float(np.median(depth_scales)),
                      depth_scale_p25=float(np.percentile(depth_scales, 25)),
                      depth_scale_p75=float(np.percentile(depth_scales, 75)), depth_frames=len(depth_scales))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="model (default: the bundled one)")
    parser.add_argument("--pose-refinement", nargs="+", default=["none", "full"], choices=["none", "rotation", "full"])
    parser.add_argument("--seeds", type=int, default=3, help="wheel-odometry noise draws per run")
    parser.add_argument("--window", type=int, default=StreamOptions.odometry_window)
    parser.add_argument("--min-speed", type=float, default=StreamOptions.odometry_min_speed)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (SHARED_DATA / "README.md").is_file():
        print(f"bench_odometry_scale: skipped, real frames not found at {SHARED_DATA} (set DEPTH_MOTION_DATA)")
        return
    predictor = load_predictor(str(args.checkpoint or default_checkpoint_path()), "cpu", "torch")
    noise = WheelOdometryNoise()
    print(f"wheel odometry: {asdict(noise)}, {ODOMETRY_RATE_HZ:g} Hz; window {args.window} pairs, min speed "
          f"{args.min_speed} m/s")
    print("\n| sequence | pose_refinement | seed | median depth scale (quartiles) | distance ratio | "
          "final error / claimed std (m) | first metric frame |\n|---|---|---|---|---|---|---|")
    rows = []
    for name, (start, end, max_depth) in SEQUENCES.items():
        frames = list(open_source("sequence", str(SHARED_DATA / name), start=start, end=end))
        for refinement in args.pose_refinement:
            options = StreamOptions(scale_mode="odometry", pose_refinement=refinement,
                                    odometry_window=args.window, odometry_min_speed=args.min_speed)
            for seed in range(args.seeds):
                result = run(frames, predictor, options, wheel_odometry(frames, noise, seed), max_depth)
                rows.append({"sequence": name, "pose_refinement": refinement, "seed": seed, **result})
                depth = (f"{result['depth_scale_median']:.3f} ({result['depth_scale_p25']:.3f}-"
                         f"{result['depth_scale_p75']:.3f})" if "depth_scale_median" in result else "-")
                print(f"| {name} {start}-{end - 1} | {refinement} | {seed} | {depth} | "
                      f"{result['distance_ratio']:.3f} | {result['final_position_error_m']:.3f} / "
                      f"{result['final_position_std_m']:.3f} | {result['first_metric_frame']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"noise": asdict(noise), "odometry_rate_hz": ODOMETRY_RATE_HZ,
                                         "window": args.window, "min_speed": args.min_speed, "rows": rows},
                                        indent=2))


if __name__ == "__main__":
    main()
