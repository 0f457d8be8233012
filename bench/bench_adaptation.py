"""Cost of online adaptation (evaluation/online_adaptation.py, `depth_motion_eval --online-adaptation`).

Measures, for a model at its own input size, the milliseconds of
  1. adding a frame to the window with its link refined (what `depth_motion_eval --online-adaptation` pays per
     frame unless `--pose-refinement full` already refined it), and without;
  2. one adaptation step (batch of pairs: refinement of each pair, depth forward and backward, Adam);
as the median of several repetitions after a warm-up, on a rendered street with its true motions in the
network's depth units. Only steps that trained are timed (a step without a pair of enough parallax returns
early and costs a fraction); the run fails if any timed step did not train. Online adaptation is not a node
feature (docs/decisions/online-adaptation.md); these figures say what it would cost one.

    .venv/bin/python bench/bench_adaptation.py [--checkpoint models/default_light.pt] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from depth_motion_ros.checkpoint import default_checkpoint_path
from depth_motion_ros.evaluation.online_adaptation import AdaptationOptions, OnlineDepthAdapter
from depth_motion_ros.predictors import DepthMotionPredictor, resize_rgb
from depth_motion_ros.synthetic.renderer import SceneRenderer
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene


def milliseconds(action, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model (default: the bundled one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    predictor = DepthMotionPredictor.from_checkpoint(args.checkpoint or default_checkpoint_path(), args.device)
    scene = make_street_scene(SceneParams(width=320, height=192, frames=24, movers=0, seed=3))
    frames = list(SceneRenderer(scene))
    images = [predictor.prepare(resize_rgb(f.rgb, predictor.input_size)) for f in frames]
    k = torch.as_tensor(predictor.intrinsics_at_input(frames[0].intrinsics, frames[0].rgb.shape[:2]),
                        dtype=torch.float32, device=predictor.device)[None]
    with torch.no_grad():  # the motions must be in the network's depth units, as the chained ones are
        units_per_metre = float(torch.median(predictor.model.depth(images[0]))) / float(np.nanmedian(frames[0].depth))
    motions = [np.linalg.inv(b.pose) @ a.pose for a, b in zip(frames, frames[1:], strict=False)]
    for motion in motions:
        motion[:3, 3] *= units_per_metre
    adapter = OnlineDepthAdapter(predictor.model.depth_net, AdaptationOptions())
    adapter.add_frame(images[0], k, None)
    position = iter(range(1, len(images)))

    def add(refine: bool):
        def action() -> None:
            index = next(position, None)
            if index is None:  # wrap around: a new window, as after a gap
                adapter.add_frame(images[0], k, None)
                return
            adapter.add_frame(images[index], k, motions[index - 1], refine=refine)
        return action

    add_refined = milliseconds(add(True), 8)[2:]
    add_plain = milliseconds(add(False), 8)[2:]
    for _ in range(3):  # warm-up
        adapter.step()
    steps_before = adapter.steps
    step = milliseconds(adapter.step, args.repeats)
    if adapter.steps - steps_before != args.repeats:
        raise RuntimeError(f"only {adapter.steps - steps_before} of {args.repeats} timed steps trained")
    results = {
        "model": predictor.config.name, "input": f"{predictor.input_size[1]}x{predictor.input_size[0]}",
        "device": str(predictor.device), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(), "batch_size": adapter.options.batch_size,
        "add_frame_refined_ms_median": round(float(np.median(add_refined)), 1),
        "add_frame_unrefined_ms_median": round(float(np.median(add_plain)), 2),
        "step_ms_median": round(float(np.median(step)), 1),
        "step_ms_p90": round(float(np.percentile(step, 90)), 1),
        "steps_per_s": round(1e3 / float(np.median(step)), 2),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
