"""Speed, size and compute of the light and paper models on this machine, per inference backend.

For each preset at its default input size: parameter counts, GFLOPs per call (counted by
torch.utils.flop_counter, multiply-add = 2 FLOPs), and milliseconds (median over --runs after warm-up)
for depth on one frame, motion on one pair, and the node's per-frame step (prepare a camera frame +
depth of the new frame + motion against the previous frame, whose depth is cached). The machine's peak
float32 rate is measured in the same run with a large matrix multiply, and each timing is reported as
the fraction of that peak it achieves. Untrained weights: speed does not depend on their values.

    .venv/bin/python bench/bench_models.py [--runs 20] [--presets light paper] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from depth_motion_ros.inference import DepthMotionPredictor
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.onnx_backend import OnnxDepthMotionPredictor, export_onnx

CAMERA_FRAME = (480, 640)  # the node's input frame (VGA) for the step timing


def median_ms(function: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def peak_gflops(device: torch.device, size: int = 2048, runs: int = 10) -> float:
    """Best float32 rate of a size x size matmul: the practical peak this machine reaches."""
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    best = float("inf")
    for _ in range(runs + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def count_gflops(function: Callable[[], object]) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        function()
    return counter.get_total_flops() / 1e9


def synchronised(function: Callable[[], object], device: torch.device) -> Callable[[], object]:
    if device.type != "cuda":
        return function

    def run() -> object:
        result = function()
        torch.cuda.synchronize()
        return result
    return run


def bench_preset(name: str, runs: int, device: torch.device, onnx_dir: Path) -> list[dict]:
    config = PRESETS[name]
    torch.manual_seed(0)
    model = DepthMotionModel(config).eval()
    params_depth = sum(p.numel() for p in model.depth_net.parameters())
    params_motion = sum(p.numel() for p in model.motion_net.parameters())
    height, width = config.input_size
    rgb1, rgb2 = torch.rand(2, 1, 3, height, width)
    depth1, depth2 = model.depth(rgb1).detach(), model.depth(rgb2).detach()
    gflops_depth = count_gflops(lambda: model.depth(rgb1))
    gflops_motion = count_gflops(lambda: model.motion(rgb1, depth1, rgb2, depth2))
    camera = np.random.default_rng(0).integers(0, 256, (*CAMERA_FRAME, 3), dtype=np.uint8)

    predictors = [DepthMotionPredictor(model, device)]
    if device.type == "cpu":
        predictors.append(OnnxDepthMotionPredictor(export_onnx(model, onnx_dir / name), "cpu"))
    rows = []
    for predictor in predictors:
        r1, r2 = rgb1.to(predictor.device), rgb2.to(predictor.device)
        d1, d2 = depth1.to(predictor.device), depth2.to(predictor.device)

        def step() -> object:
            current = predictor.prepare(camera)
            current_depth = predictor.depth(current)
            return predictor.motion(r1, d1, current, current_depth)

        timings = {
            "depth": median_ms(synchronised(lambda: predictor.depth(r1), device), runs),
            "motion": median_ms(synchronised(lambda: predictor.motion(r1, d1, r2, d2), device), runs),
            "step": median_ms(synchronised(step, device), runs),
        }
        rows.append({"preset": name, "input": f"{height}x{width}", "backend": predictor.backend,
                     "device": str(device), "params_depth_M": params_depth / 1e6,
                     "params_motion_M": params_motion / 1e6, "gflops_depth": gflops_depth,
                     "gflops_motion": gflops_motion, **{f"ms_{k}": v for k, v in timings.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--presets", nargs="+", default=["light", "paper"], choices=sorted(PRESETS))
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    device = torch.device(args.device)
    peak = peak_gflops(device)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}; "
          f"matmul peak {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory() as onnx_dir:
        for name in args.presets:
            rows += bench_preset(name, args.runs, device, Path(onnx_dir))
    print("\n| model | input | backend | params depth / motion (M) | GFLOPs depth / motion | "
          "depth ms | motion ms | depth+motion ms (fps) | node step ms (fps) | % of peak (depth+motion) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        both = row["ms_depth"] + row["ms_motion"]
        rate = (row["gflops_depth"] + row["gflops_motion"]) / (both / 1e3)
        row["percent_of_peak"] = 100 * rate / peak
        print(f"| {row['preset']} | {row['input']} | {row['backend']} | "
              f"{row['params_depth_M']:.2f} / {row['params_motion_M']:.2f} | "
              f"{row['gflops_depth']:.2f} / {row['gflops_motion']:.2f} | {row['ms_depth']:.1f} | "
              f"{row['ms_motion']:.1f} | {both:.1f} ({1e3 / both:.1f}) | "
              f"{row['ms_step']:.1f} ({1e3 / row['ms_step']:.1f}) | {row['percent_of_peak']:.0f}% |")
    if args.json:
        args.json.write_text(json.dumps({"peak_gflops": peak, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
