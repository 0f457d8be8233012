"""Training throughput: samples per second and the data-loading share of a step, light and paper configs.

    python bench/bench_training.py [--steps 6] [--device cpu] [--size 128x416] [--batch 4] [--json OUT]
    python bench/bench_training.py --config rendered --size 128x256 [--label TEXT] [--json OUT]

Both recipes run at the same input size (default 128x416, batch 4, the issue's protocol) through the
real trainer: the frame cache is built first (the one-time decode, timed separately), then every step
is timed as "waiting for the batch" (data) and "forward + loss + backward + Adam" (step). The first
step is a warm-up and not counted. Frames come from ../shared/data/7scenes_redkitchen (frames 0-63)
when present, otherwise from a synthetic sliding texture.

``--config NAME`` times one training config (training/configs/NAME.yaml) as it is, networks, losses and
given ground truth included, at ``--size`` instead of the bare presets. Every run also records the
machine's float32 matmul peak (measured before and after the steps, the larger kept: the less disturbed)
and the 1-minute load average before and after, since on a shared host a figure means little without
them; ``--label`` names the code that ran (for before/after comparisons gathered into one file).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.training.config import config_from_dict, read_config_mapping
from depth_motion_ros.training.data import FrameCache, SourceSpec, cache_size_for, epoch_batches
from depth_motion_ros.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import peak_gflops  # noqa: E402

REAL_FRAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "7scenes_redkitchen"


def bench_frames(count: int) -> tuple[str, Iterable[Frame]]:
    """A re-iterable frame source; real frames are decoded lazily so the cache build times the decode."""
    if (REAL_FRAMES / "rgb").is_dir():
        from depth_motion_ros.sources import open_source

        return f"7scenes_redkitchen 0-{count - 1}", open_source("sequence", str(REAL_FRAMES), end=count)
    rng = np.random.default_rng(0)
    texture = (rng.random((240, 320 + 4 * count, 3)) * 255).astype(np.uint8)
    return "synthetic", [Frame(i, 0.1 * i, np.ascontiguousarray(texture[:, 4 * i:4 * i + 320])) for i in range(count)]


def bench_recipe(recipe: str, size: tuple[int, int], batch: int, steps: int, device: str,
                 frames: Iterable[Frame], frame_count: int, work: Path, whole_config: bool = False) -> dict:
    """One recipe's step times; ``whole_config`` keeps the config's own model settings (only the size is
    set), otherwise the bare preset of that name runs."""
    content = read_config_mapping(recipe)
    if whole_config:
        content["model"].update(input_height=size[0], input_width=size[1])
    else:
        content["model"] = {"preset": recipe, "input_height": size[0], "input_width": size[1]}
    content["optim"]["batch_size"] = batch
    content["data"]["val_fraction"] = 0.0
    content["run"].update(max_steps=steps + 1, num_workers=0)
    config = config_from_dict(content)
    cache_size = cache_size_for(config.model.input_size, config.data.cache_scale)
    spec = SourceSpec("sequence", str(work / recipe))
    started = time.perf_counter()
    FrameCache.build(frames, work / "cache" / spec.key(cache_size), cache_size, name=recipe)
    decode_s = time.perf_counter() - started
    trainer = Trainer(config, [spec], work / f"run_{recipe}", device=device, cache_dir=work / "cache")
    batches = epoch_batches(len(trainer.train_set), batch, seed=0, epoch=1)  # an epoch after the first
    loader = torch.utils.data.DataLoader(trainer.train_set, batch_sampler=batches, num_workers=0)
    data_times, step_times = [], []
    iterator = iter(loader)
    for index in range(steps + 1):
        tick = time.perf_counter()
        sample = next(iterator)
        loaded = time.perf_counter()
        trainer._train_step(sample)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        done = time.perf_counter()
        trainer.state.step += 1
        if index:  # the first step is a warm-up
            data_times.append(loaded - tick)
            step_times.append(done - loaded)
    data_s, step_s = float(np.mean(data_times)), float(np.mean(step_times))
    return {
        "recipe": recipe, "input_size": list(size), "batch": batch, "steps_timed": steps,
        "samples_per_s": batch / (data_s + step_s), "steps_per_s": 1.0 / (data_s + step_s),
        "step_s_median": float(np.median(step_times)),
        "step_s": step_s, "data_s": data_s, "data_fraction": data_s / (data_s + step_s),
        "cache_build_ms_per_frame": 1000.0 * decode_s / frame_count,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", default="128x416")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipes", default="light,paper")
    parser.add_argument("--config", help="time this training config as it is (e.g. rendered) instead of --recipes")
    parser.add_argument("--label", default="", help="names the code that ran, e.g. a branch or a commit")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    size = (height, width)
    frame_count = 64
    source, frames = bench_frames(frame_count)
    rows: list[dict] = []
    machine = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
               "device": args.device, "torch": torch.__version__,
               "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}
    load_before = os.getloadavg()[0]
    peak_before = peak_gflops(torch.device(args.device))
    recipes = [args.config] if args.config else args.recipes.split(",")
    with tempfile.TemporaryDirectory() as work:
        for recipe in recipes:
            row = bench_recipe(recipe, size, args.batch, args.steps, args.device, frames, frame_count,
                               Path(work), whole_config=bool(args.config))
            rows.append(row)
            print(f"{recipe:6s} {size[0]}x{size[1]} b{args.batch}: {row['samples_per_s']:.2f} samples/s "
                  f"({row['steps_per_s']:.2f} steps/s), "
                  f"step {row['step_s']:.3f} s, data {row['data_s'] * 1000:.1f} ms "
                  f"({row['data_fraction']:.1%} of the step), decode+cache once {row['cache_build_ms_per_frame']:.1f} "
                  f"ms/frame", flush=True)
    peak = max(peak_before, peak_gflops(torch.device(args.device)))
    load = [load_before, os.getloadavg()[0]]
    machine["matmul_peak_gflops"] = peak
    results: dict[str, object] = {"machine": machine, "frames": source, "results": rows, "label": args.label,
                                  "load_1min": load}
    print(f"float32 matmul peak {peak:.1f} GFLOP/s, 1-minute load {load[0]:.2f} -> {load[1]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
