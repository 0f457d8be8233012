"""Speed, size and compute of the light and paper models on this machine, per inference backend.

For each preset at its default input size (and, with --checkpoint, a trained model such as the bundled
one at its own input size): parameter counts, GFLOPs per call (counted by
torch.utils.flop_counter, multiply-add = 2 FLOPs), and milliseconds (median and best over interleaved
rounds) for depth on one frame (plain, and flip-averaged as with the node's `flip_average`), motion on one
pair, and the node's per-frame step (prepare a camera frame + depth of the new frame + motion against the
previous frame, whose depth is cached). The machine's peak float32 rate is measured in the same run with a
large matrix multiply, and each timing is reported as the fraction of that peak it achieves. Untrained
weights: speed does not depend on their values.

    .venv/bin/python bench/bench_models.py [--runs 8] [--presets light paper] [--json out.json]
    .venv/bin/python bench/bench_models.py --presets light --checkpoint models/default_light.pt
    .venv/bin/python bench/bench_models.py --presets light --depth-encoder resnet18 mobilenet_v2 --input 96x160

`--depth-encoder` (each one given, interleaved in the same rounds) and `--input` change the presets given
(a row's name then says so), to time a variant before a preset for it exists.
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
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from depth_motion_ros.checkpoint import load_checkpoint
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.predictors.base import PredictorBase
from depth_motion_ros.predictors.onnx_predictor import OnnxDepthMotionPredictor, export_onnx

CAMERA_FRAME = (480, 640)  # the node's input frame (VGA) for the step timing


def interleaved_ms(cases: dict[str, Callable[[], object]], runs: int, block: int = 4) -> dict[str, list[float]]:
    """Milliseconds of every case over `runs` rounds.

    Each round runs every case as a block of `block` + 1 consecutive calls and keeps the last `block`.
    Interleaving gives all cases the same background load on a shared machine; discarding each block's
    first call removes the hand-over cost between runtimes (ONNX Runtime's and OpenMP's worker threads
    keep spinning for a moment after a call and would otherwise slow whichever backend runs next).
    """
    times: dict[str, list[float]] = {key: [] for key in cases}
    for _ in range(runs):
        for key, function in cases.items():
            function()
            for _ in range(block):
                start = time.perf_counter()
                function()
                times[key].append(1e3 * (time.perf_counter() - start))
    return times


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


def preset_model(name: str, depth_encoder: str | None = None,
                 size: tuple[int, int] | None = None) -> DepthMotionModel:
    config = PRESETS[name]
    if depth_encoder is not None:
        config = config.replace(depth_encoder=depth_encoder)
    if size is not None:
        config = config.replace(input_height=size[0], input_width=size[1])
    torch.manual_seed(0)
    return DepthMotionModel(config).eval()


def variant_name(name: str, depth_encoder: str | None, size: tuple[int, int] | None) -> str:
    return name + (f"+{depth_encoder}" if depth_encoder else "") + (f"@{size[0]}x{size[1]}" if size else "")


def height_by_width(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def model_cases(name: str, model: DepthMotionModel, device: torch.device,
                onnx_dir: Path) -> tuple[dict, dict[str, Callable[[], object]]]:
    """Sizes and FLOPs of a model, and the timed calls of each backend keyed 'name/backend/what'."""
    model = model.eval()
    height, width = model.config.input_size
    rgb1, rgb2 = torch.rand(2, 1, 3, height, width)
    depth1, depth2 = model.depth(rgb1).detach(), model.depth(rgb2).detach()
    info = {"input": f"{height}x{width}",
            "params_depth_M": sum(p.numel() for p in model.depth_net.parameters()) / 1e6,
            "params_motion_M": sum(p.numel() for p in model.motion_net.parameters()) / 1e6,
            "gflops_depth": count_gflops(lambda: model.depth(rgb1)),
            "gflops_motion": count_gflops(lambda: model.motion(rgb1, depth1, rgb2, depth2))}
    camera = np.random.default_rng(0).integers(0, 256, (*CAMERA_FRAME, 3), dtype=np.uint8)
    predictors: list[PredictorBase] = [DepthMotionPredictor(model, device)]
    if device.type == "cpu":
        predictors.append(OnnxDepthMotionPredictor(export_onnx(model, onnx_dir / name), "cpu"))
    cases: dict[str, Callable[[], object]] = {}
    for predictor in predictors:
        r1, r2 = rgb1.to(predictor.device), rgb2.to(predictor.device)
        d1, d2 = depth1.to(predictor.device), depth2.to(predictor.device)

        def step(predictor=predictor, r1=r1, d1=d1) -> object:
            current = predictor.prepare(camera)
            return predictor.motion(r1, d1, current, predictor.depth(current))

        key = f"{name}/{predictor.backend}"
        cases[f"{key}/depth"] = synchronised(partial(predictor.depth, r1), device)
        cases[f"{key}/depth_flip"] = synchronised(partial(predictor.depth, r1, flip_average=True), device)
        cases[f"{key}/motion"] = synchronised(partial(predictor.motion, r1, d1, r2, d2), device)
        cases[f"{key}/step"] = synchronised(step, device)
    return info, cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="interleaved rounds (4 timed calls each)")
    parser.add_argument("--presets", nargs="+", default=["light", "paper"], choices=sorted(PRESETS))
    parser.add_argument("--checkpoint", type=Path,
                        help="also time this trained model (e.g. models/default_light.pt) at its input size")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--depth-encoder", nargs="+", choices=("resnet18", "mobilenet_v2"), default=[None],
                        help="build the presets with each of these depth encoders")
    parser.add_argument("--input", type=height_by_width, metavar="HxW", help="build the presets at this input size")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    device = torch.device(args.device)
    infos, cases = {}, {}
    with tempfile.TemporaryDirectory() as onnx_dir:
        models = {variant_name(name, encoder, args.input): preset_model(name, encoder, args.input)
                  for name in args.presets for encoder in args.depth_encoder}
        if args.checkpoint is not None:
            models[args.checkpoint.stem] = load_checkpoint(args.checkpoint).model
        for name, model in models.items():
            infos[name], calls = model_cases(name, model, device, Path(onnx_dir))
            cases.update(calls)
        # Peak before and after the timings; the larger one is the machine's (least disturbed) peak.
        peak_before = peak_gflops(device)
        times = interleaved_ms(cases, args.runs)
        peak = max(peak_before, peak_gflops(device))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}; "
          f"float32 matmul peak {peak:.1f} GFLOP/s; {args.runs} interleaved rounds of 4 calls, median (best) ms")
    print("\n| model | input | backend | params depth / motion (M) | GFLOPs depth / motion | depth ms | "
          "depth ms, flip-averaged | motion ms | depth+motion ms (fps) | node step ms (fps) | "
          "% of peak, depth+motion (best) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    backends = sorted({key.split("/")[1] for key in cases}, key=["torch", "onnx"].index)
    for name, info in infos.items():
        for backend in backends:
            stats = {what: (statistics.median(times[f"{name}/{backend}/{what}"]),
                            min(times[f"{name}/{backend}/{what}"]))
                     for what in ("depth", "depth_flip", "motion", "step")}
            both = [stats["depth"][i] + stats["motion"][i] for i in (0, 1)]
            gflops = info["gflops_depth"] + info["gflops_motion"]
            percent = [100 * gflops / (ms / 1e3) / peak for ms in both]
            rows.append({"model": name, "backend": backend, **info, "peak_gflops": peak,
                         **{f"ms_{what}_median": v[0] for what, v in stats.items()},
                         **{f"ms_{what}_best": v[1] for what, v in stats.items()},
                         "percent_of_peak_median": percent[0], "percent_of_peak_best": percent[1]})
            cell = {what: f"{v[0]:.1f} ({v[1]:.1f})" for what, v in stats.items()}
            print(f"| {name} | {info['input']} | {backend} | {info['params_depth_M']:.2f} / "
                  f"{info['params_motion_M']:.2f} | {info['gflops_depth']:.2f} / {info['gflops_motion']:.2f} | "
                  f"{cell['depth']} | {cell['depth_flip']} | {cell['motion']} | "
                  f"{both[0]:.1f} ({1e3 / both[0]:.1f} fps) | "
                  f"{stats['step'][0]:.1f} ({1e3 / stats['step'][0]:.1f} fps) | "
                  f"{percent[0]:.0f}% ({percent[1]:.0f}%) |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2))


if __name__ == "__main__":
    main()
