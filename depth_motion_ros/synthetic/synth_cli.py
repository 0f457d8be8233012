"""`depth_motion_synth`: render a world (a street or a room) to a sequence folder and/or an MCAP bag, or a
batch of worlds, one folder per seed, for training."""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from depth_motion_ros.synthetic.renderer import SyntheticFrame
from depth_motion_ros.synthetic.scene import WORLDS, SceneParams, make_scene
from depth_motion_ros.synthetic.writers import write_scene


def build_parser() -> argparse.ArgumentParser:
    defaults = SceneParams()
    parser = argparse.ArgumentParser(
        prog="depth_motion_synth",
        description="Render a procedural world with moving objects and exact ground truth (depth, camera "
                    "poses, per-pixel object motion and mover ids, intrinsics). A street: a camera car that "
                    "turns at junctions, stops and starts, among crossing, oncoming, turning and parallel "
                    "traffic and pedestrians. A room: a hand-held camera among furniture and walking people.")
    parser.add_argument("--world", choices=WORLDS, default=defaults.world)
    parser.add_argument("--out", help="sequence folder to write (rgb/, depth/, motion/, movers/, poses.txt, "
                                      "meta.yaml); with --worlds, the folder that receives one per seed")
    parser.add_argument("--bag", help="ROS 2 MCAP bag to write (a new folder); not with --worlds")
    parser.add_argument("--name", help="sequence name stored in meta.yaml (default: <world>_<seed>)")
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--frames", type=int, default=defaults.frames)
    parser.add_argument("--rate", type=float, default=defaults.rate_hz, help="frames per second")
    parser.add_argument("--movers", type=int, default=defaults.movers,
                        help="moving objects: vehicles and pedestrians in a street, people in a room (at most 3)")
    parser.add_argument("--camera-speed", type=float, default=defaults.camera_speed,
                        help="street: fastest cruise speed, m/s")
    parser.add_argument("--mover-speed", type=float, default=defaults.mover_speed,
                        help="street: typical car speed, m/s")
    parser.add_argument("--hfov", type=float, default=defaults.hfov_deg, help="horizontal field of view, deg")
    parser.add_argument("--clean", action="store_true",
                        help="no exposure or lighting changes, sensor noise or JPEG (lossless PNG images)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the world's seed (with --worlds: the first)")
    parser.add_argument("--worlds", type=int, help="render this many worlds, seeds --seed, --seed + 1, ..., "
                                                   "into --out/<world>_<seed>")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worlds rendered at once with --worlds (one process each)")
    return parser


def _params(args: argparse.Namespace, seed: int) -> SceneParams:
    return SceneParams(width=args.width, height=args.height, frames=args.frames, rate_hz=args.rate,
                       world=args.world, movers=args.movers, camera_speed=args.camera_speed,
                       mover_speed=args.mover_speed, hfov_deg=args.hfov, camera_effects=not args.clean, seed=seed)


def world_name(params: SceneParams) -> str:
    """Folder and sequence name of a world in a batch."""
    return f"{params.world}_{params.seed:06d}"


def _render_one(params: SceneParams, out: str) -> tuple[str, int]:
    """One world of a batch (in a worker process: one llvmpipe thread, the batch is the parallelism)."""
    from depth_motion_ros.synthetic.renderer import limit_threads
    limit_threads(1)
    folder = Path(out) / world_name(params)
    write_scene(make_scene(params), folder, None, world_name(params))
    return str(folder), params.frames


def _batch(args: argparse.Namespace) -> int:
    if args.bag is not None:
        print("depth_motion_synth: --bag is for one world, not with --worlds", file=sys.stderr)
        return 2
    worlds = [_params(args, args.seed + k) for k in range(args.worlds)]
    existing = [world_name(p) for p in worlds if (Path(args.out) / world_name(p)).exists()]
    if existing:
        print(f"depth_motion_synth: {args.out} already holds {', '.join(existing[:3])}"
              f"{' ...' if len(existing) > 3 else ''}; choose another --out or --seed", file=sys.stderr)
        return 2
    start = time.monotonic()
    jobs = max(1, min(args.jobs, len(worlds)))
    with multiprocessing.get_context("spawn").Pool(jobs) as pool, \
            tqdm(total=len(worlds), desc="worlds", unit="world") as bar:
        results = [pool.apply_async(_render_one, (p, args.out), callback=lambda _: bar.update()) for p in worlds]
        frames = sum(result.get()[1] for result in results)
    seconds = time.monotonic() - start
    print(f"rendered {len(worlds)} {args.world} worlds, {frames} frames of {args.width}x{args.height} in "
          f"{seconds:.1f} s ({frames / seconds:.1f} frames/s) -> {args.out}/{args.world}_NNNNNN")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None and args.bag is None:
        print("depth_motion_synth: give --out DIR and/or --bag PATH", file=sys.stderr)
        return 2
    try:
        if args.worlds is not None:
            if args.worlds < 1 or args.out is None:
                raise ValueError("--worlds needs a positive count and --out")
            _params(args, args.seed)   # refuses bad parameters before any process starts
            return _batch(args)
        params = _params(args, args.seed)
        scene = make_scene(params)
        start = time.monotonic()
        with tqdm(total=params.frames, desc="rendering", unit="frame") as bar:
            def advance(_: SyntheticFrame) -> None:
                bar.update()
            written = write_scene(scene, args.out, args.bag, args.name or world_name(params), on_frame=advance)
    except (ValueError, FileExistsError) as exc:
        print(f"depth_motion_synth: {exc}", file=sys.stderr)
        return 2
    kinds = ", ".join(f"{k} {scene.mover_kinds.count(k)}" for k in dict.fromkeys(scene.mover_kinds)) or "none"
    print(f"rendered {params.frames} frames of {params.width}x{params.height} in {time.monotonic() - start:.1f} s "
          f"({params.world}, seed {params.seed}; movers: {kinds})")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
