"""Time of the photometric pose refinement (geometry/direct_alignment.py) per frame pair, per mode.

The refinement runs after the networks in the node, the eval and the infer CLIs; its cost adds to the
node step of bench_models.py / bench_node.py. Pairs are consecutive real frames (7-Scenes handheld and
KITTI driving, from ../shared/data) run through the bundled model at its input size, because the number of
Gauss-Newton steps taken depends on the images. Each pair is refined `--runs` times; the table gives the
median over all calls, and the 90th percentile.

    .venv/bin/python bench/bench_pose_refinement.py [--checkpoint models/default_light.pt] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from depth_motion_ros.checkpoint import default_checkpoint_path
from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.sources import open_source

SHARED_DATA = Path(os.environ.get("DEPTH_MOTION_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SEQUENCES = {"7scenes_redkitchen": 300, "kitti_odometry_03": 300}  # name: first frame of the timed pairs


# image1, depth1, image2, intrinsics, rotation, translation: `refine_motion`'s arguments before its options.
Pair = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def pairs(predictor: DepthMotionPredictor, name: str, start: int, count: int) -> list[Pair]:
    """Network inputs, depth, intrinsics at the input size and the network's motion for `count` pairs."""
    frames = list(open_source("sequence", str(SHARED_DATA / name), start=start, end=start + count + 1))
    images = [predictor.prepare(frame.rgb) for frame in frames]
    depths = [predictor.depth(image) for image in images]
    result: list[Pair] = []
    for i in range(count):
        output = predictor.motion(images[i], depths[i], images[i + 1], depths[i + 1])
        camera = frames[i + 1].intrinsics
        assert camera is not None, f"{name} is a calibrated sequence"
        k = torch.as_tensor(predictor.intrinsics_at_input(camera, frames[i + 1].rgb.shape[:2]),
                            dtype=torch.float32)[None]
        result.append((images[i], depths[i], images[i + 1], k, output.rotation, output.translation))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="model (default: the bundled one)")
    parser.add_argument("--pairs", type=int, default=20, help="consecutive pairs per sequence")
    parser.add_argument("--runs", type=int, default=5, help="timed calls per pair and mode")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (SHARED_DATA / "README.md").is_file():
        print(f"bench_pose_refinement: skipped, real frames not found at {SHARED_DATA} (set DEPTH_MOTION_DATA)")
        return
    predictor = DepthMotionPredictor.from_checkpoint(args.checkpoint or default_checkpoint_path(), "cpu")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); input {predictor.input_size[0]}x{predictor.input_size[1]}; "
          f"{args.pairs} pairs x {args.runs} calls per sequence and mode")
    print("\n| sequence | mode | median ms | p90 ms |\n|---|---|---|---|")
    rows = []
    for name, start in SEQUENCES.items():
        timed_pairs = pairs(predictor, name, start, args.pairs)
        for mode in ("rotation", "full"):
            options = AlignmentOptions(mode=mode)
            refine_motion(*timed_pairs[0], options)  # warm-up
            times = []
            for pair in timed_pairs:
                for _ in range(args.runs):
                    tick = time.perf_counter()
                    refine_motion(*pair, options)
                    times.append(1e3 * (time.perf_counter() - tick))
            row = {"sequence": name, "mode": mode, "ms_median": statistics.median(times),
                   "ms_p90": float(np.percentile(times, 90))}
            rows.append(row)
            print(f"| {name} | {mode} | {row['ms_median']:.1f} | {row['ms_p90']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
