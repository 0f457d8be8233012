"""Rendering speed of `depth_motion_synth`: frames per second rendered and written to sequence folders.

Each run renders a batch of worlds (the training path: `depth_motion_synth --worlds N --jobs J`, one process
per job, one llvmpipe thread each) into a fresh temporary folder, writing included (PNG images and depth,
motion .npy, mover ids, poses); the figure is frames / wall-clock seconds, median over the runs. Building
each world (its layout, routes and placement checks) is counted too. The machine's load is printed beside it:
other processes on the cores slow it down, so the CPU time per frame of one world rendered and written in
this process (one llvmpipe thread; `time.process_time`, all threads) is measured as well: it does not
depend on the load, and cores / that time bounds what an idle machine reaches.

    .venv/bin/python bench/bench_synth.py [--world street] [--width 256] [--height 128] [--frames 100]
                                          [--worlds 4] [--jobs 2] [--runs 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from depth_motion_ros.synthetic.renderer import limit_threads
from depth_motion_ros.synthetic.scene import SceneParams, make_scene
from depth_motion_ros.synthetic.synth_cli import main as synth_main
from depth_motion_ros.synthetic.writers import write_scene


def one_run(args: argparse.Namespace, seed: int) -> float:
    """Frames per second of one batch, rendered into a temporary folder that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as root:
        command = ["--world", args.world, "--out", str(Path(root) / "worlds"), "--worlds", str(args.worlds),
                   "--seed", str(seed), "--frames", str(args.frames), "--width", str(args.width),
                   "--height", str(args.height), "--jobs", str(args.jobs)]
        start = time.perf_counter()
        if synth_main(command) != 0:
            raise RuntimeError(f"depth_motion_synth {' '.join(command)} failed")
        return float(args.worlds * args.frames / (time.perf_counter() - start))


def cpu_ms_per_frame(args: argparse.Namespace, seed: int) -> float:
    """CPU milliseconds per frame to build, render and write one world in this process."""
    params = SceneParams(width=args.width, height=args.height, frames=args.frames, world=args.world, seed=seed)
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as root:
        start = time.process_time()
        write_scene(make_scene(params), Path(root) / "world")
        return float((time.process_time() - start) * 1000.0 / args.frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="street", choices=("street", "room"))
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--frames", type=int, default=100, help="frames per world")
    parser.add_argument("--worlds", type=int, default=4, help="worlds per run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    rates = []
    for run in range(args.runs):   # new seeds each run: no world is rendered twice
        rates.append(one_run(args, 5000 + run * args.worlds))
        print(f"run {run + 1}/{args.runs}: {rates[-1]:.1f} frames/s (load average {os.getloadavg()[0]:.1f})")
    median = statistics.median(rates)
    print(f"{args.world} {args.width}x{args.height}, {args.worlds} worlds x {args.frames} frames, {args.jobs} jobs: "
          f"median {median:.1f} frames/s over {args.runs} runs ({20000 / median / 60:.0f} min for 20,000 frames)")
    limit_threads(1)
    cpu = statistics.median(cpu_ms_per_frame(args, 6000 + run) for run in range(args.runs))
    print(f"one world in one process: {cpu:.1f} ms of CPU per frame (median of {args.runs} worlds), "
          f"{(os.cpu_count() or 1) * 1000 / cpu:.0f} frames/s on {os.cpu_count()} idle cores at most")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "world": args.world, "size": [args.width, args.height], "frames_per_world": args.frames,
            "worlds": args.worlds, "jobs": args.jobs, "runs": rates, "median_frames_per_s": median,
            "cpu_ms_per_frame": cpu,
            "cpus": os.cpu_count(), "load_average_after": os.getloadavg()[0], "machine": platform.processor(),
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
