"""Time of lens-distortion removal (image_rectification.py) per camera frame, and of building its maps.

The node rectifies every raw image whose camera_info has distortion before the networks (docs/node.md,
"Lens distortion"); this is that step's cost at common camera sizes, with EuRoC cam0's plumb_bob
coefficients (the remap does not depend on their values, only on the image size). Each size is timed in
`--rounds` rounds of 50 calls; the table gives the median over the rounds of each round's median.

    .venv/bin/python bench/bench_rectification.py [--rounds 3] [--json out.json]
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

from depth_motion_ros.image_rectification import Calibration, Rectifier

SIZES = ((480, 640), (480, 752), (720, 1280), (1080, 1920))
EUROC_PLUMB_BOB = (-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"median of {args.rounds} rounds of 50 calls each")
    print("\n| image (W x H) | build maps ms | rectify rgb8 ms |\n|---|---|---|")
    rng = np.random.default_rng(0)
    for height, width in SIZES:
        k = np.array([[0.6 * width, 0.0, width / 2], [0.0, 0.6 * width, height / 2], [0.0, 0.0, 1.0]])
        calibration = Calibration.from_fields(k, EUROC_PLUMB_BOB, "plumb_bob", np.eye(3), np.zeros(12),
                                              (height, width))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        builds, remaps = [], []
        for _ in range(args.rounds):
            tick = time.perf_counter()
            rectifier = Rectifier(calibration)
            builds.append(time.perf_counter() - tick)
            calls = []
            for _ in range(50):
                tick = time.perf_counter()
                rectifier.rectify(image)
                calls.append(time.perf_counter() - tick)
            remaps.append(statistics.median(calls))
        rows.append({"width": width, "height": height, "ms_build_median": 1e3 * statistics.median(builds),
                     "ms_rectify_median": 1e3 * statistics.median(remaps)})
        print(f"| {width} x {height} | {rows[-1]['ms_build_median']:.1f} | {rows[-1]['ms_rectify_median']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
