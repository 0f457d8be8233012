#!/usr/bin/env python3
"""Write docs/performance.md: one current table set per machine, from the benchmark results in bench/results.

    scripts/render_performance.py             # rewrite docs/performance.md (`make bench` ends with this)
    scripts/render_performance.py --machine   # print this machine's folder name (where `make bench` writes)

Layout read: `bench/results/<machine>/<YYYY-MM-DD>/<benchmark>.json`, as `make bench` writes it; for each
machine and benchmark the newest date is current, and the table says which date that is. Files directly
under bench/results are raw results of earlier one-off runs that the decision records cite; they are not
read. Why generated: speed figures copied into prose by hand drift from the runs they came from, and a
table per machine keeps figures from different hosts from being compared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
OUT = REPO / "docs" / "performance.md"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def machine_name() -> str:
    """A folder name for this machine: CPU model and count, and the GPU when torch sees one."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1]
                break
    parts = [cpu, f"{os.cpu_count()}cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            parts.append(torch.cuda.get_device_name(0))
    except ImportError:  # the name is still useful without torch
        pass
    return re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _models(data: dict) -> list[str]:
    rows = []
    for row in data["rows"]:
        step = row["ms_depth_median"] + row["ms_motion_median"]
        rows.append([row.get("model") or row.get("preset", "?"), row["input"].replace("x", " x "), row["backend"],
                     _fmt(row["ms_depth_median"]), _fmt(row["ms_motion_median"]),
                     f"{step:.1f} ({1e3 / step:.0f} frames/s)", _fmt(row.get("ms_depth_flip_median")),
                     f"{row['percent_of_peak_median']:.0f} %"])
    peak = data["rows"][0].get("peak_gflops") if data["rows"] else None
    return [f"`bench/bench_models.py`: median of interleaved rounds; float32 matmul peak in the same run "
            f"{_fmt(peak, 0)} GFLOP/s.", "",
            *_table(["model", "input", "backend", "depth ms", "motion ms", "depth + motion ms",
                     "flip-averaged depth ms", "% of peak"], rows)]


def _node(data: dict) -> list[str]:
    row = [data["backend"], data.get("pose_refinement") or "none", "on" if data.get("flip_average") else "off",
           _fmt(data.get("processed_fps_all_outputs")), _fmt(data.get("node_p50_arrival_to_depth_ms"), 0),
           _fmt(data.get("latency_publish_to_depth_p50_ms"), 0), _fmt(data.get("rss_growth_mb"))]
    return _table(["backend", "pose_refinement", "flip_average", "frames/s, every output subscribed",
                   "node p50 ms (image -> depth)", "camera -> depth received p50 ms", "memory growth MB"], [row])


def _training(data: dict) -> list[str]:
    rows = [[r["recipe"], " x ".join(map(str, r["input_size"])), str(r["batch"]), _fmt(r["samples_per_s"], 2),
             f"{100 * r['data_fraction']:.1f} %"] for r in data["results"]]
    return [f"`bench/bench_training.py`: the real trainer step, {data['machine']['threads']} threads.", "",
            *_table(["recipe", "input", "batch", "samples/s", "data loading share of a step"], rows)]


def _training_config(data: dict) -> list[str]:
    """One training config's step, per label (the code that ran) the median of the runs gathered under it:
    before/after comparisons run alternately on a shared host, so each label's runs span the same load."""
    runs = data.get("runs", [data])  # one run as bench_training.py --config writes it, or several gathered
    labels = list(dict.fromkeys(r.get("label", "") for r in runs))
    rows = []
    for label in labels:
        mine = [r for r in runs if r.get("label", "") == label]
        steps = [r["results"][0]["steps_per_s"] for r in mine]
        first = mine[0]["results"][0]
        loads = [value for r in mine for value in r["load_1min"]]
        rows.append([label or "–", " x ".join(map(str, first["input_size"])), str(first["batch"]), str(len(mine)),
                     _fmt(statistics.median(r["results"][0]["samples_per_s"] for r in mine), 2),
                     f"{statistics.median(steps):.2f} ({min(steps):.2f}–{max(steps):.2f})",
                     f"{100 * statistics.median(r['results'][0]['data_fraction'] for r in mine):.1f} %",
                     _fmt(statistics.median(r["machine"]["matmul_peak_gflops"] for r in mine), 0),
                     f"{min(loads):.1f}–{max(loads):.1f}"])
    recipe, threads = runs[0]["results"][0]["recipe"], runs[0]["machine"]["threads"]
    return [f"`bench/bench_training.py --config {recipe}`: the real trainer step of `training/configs/{recipe}.yaml`, "
            f"{threads} thread{'' if threads == 1 else 's'}; per label the median of its runs (labels alternated run "
            "by run), the float32 matmul peak and the 1-minute load average measured in the same runs.", "",
            *_table(["code", "input", "batch", "runs", "samples/s", "steps/s (min–max)",
                     "data loading share of a step", "matmul peak GFLOP/s", "load"], rows)]


def _pose_refinement(data: dict) -> list[str]:
    rows = [[r["sequence"], r["mode"], _fmt(r["ms_median"]), _fmt(r["ms_p90"])] for r in data["rows"]]
    return [f"`bench/bench_pose_refinement.py`: the bundled model's input, {data['threads']} threads.", "",
            *_table(["sequence", "mode", "ms per frame (median)", "p90 ms"], rows)]


def _rectification(data: dict) -> list[str]:
    rows = [[f"{r['width']} x {r['height']}", _fmt(r["ms_build_median"]), _fmt(r["ms_rectify_median"], 2)]
            for r in data["rows"]]
    return [f"`bench/bench_rectification.py`: median of {data['rounds']} rounds of 50 calls.", "",
            *_table(["image (W x H)", "build maps ms", "rectify rgb8 ms"], rows)]


def _adaptation(data: dict) -> list[str]:
    runs = data.get("runs", [data])  # one run as bench_adaptation.py writes it, or several gathered
    row = [str(len(runs)), _fmt(statistics.median(r["step_ms_median"] for r in runs)),
           _fmt(statistics.median(r["steps_per_s"] for r in runs), 2),
           _fmt(statistics.median(r["add_frame_refined_ms_median"] for r in runs))]
    return ["`bench/bench_adaptation.py` (an evaluation tool, not a node feature).", "",
            *_table(["runs", "step of four pairs ms (median)", "steps/s", "adding a frame, motion refined ms"],
                    [row])]


def _delivery(data: dict) -> list[str]:
    rows = []
    for r in data["runs"]:
        load = "–".join(f"{v:.1f}" for v in r["load_1min"])
        rows.append([f"`{r['config']}`", r["size"].replace("x", " x "), f"{r['publisher']} -> {r['subscription']}",
                     f"{r['received']} / {r['sent']} ({100 * r['share']:.0f} %)", _fmt(r["processed_hz"]),
                     _fmt(r["camera_shm_segment_mib"]), load])
    return [f"`bench/bench_delivery.py`: {data['frames_per_burst']} raw rgb8 frames at {data['rate_hz']:g} Hz from "
            "a camera process to the node (bundled model, "
            f"`backend: {data['backend']}`, every output subscribed), counted at the node's image callback; "
            f"net.core.rmem_max {data['net_core_rmem_max']}. Configurations: `default` Fast DDS as installed, "
            "`node_only` the shipped profile in the node's process only (the launch file's `fastdds_profile`), "
            "`shipped` in the camera's process too. Load: 1-minute load average before and after (2 cores, "
            "shared).", "",
            *_table(["configuration", "image", "camera -> node QoS", "frames reaching the callback",
                     "processed frames/s", "camera's shared memory MiB", "load"], rows)]


# benchmark file stem -> (section title, renderer); the order is the order of the sections
SECTIONS: dict[str, tuple[str, Callable[[dict], list[str]]]] = {
    "models": ("Networks", _models),
    "node_torch": ("Node, PyTorch (`bench/bench_node.py`, 640 x 480 camera at 30 Hz)", _node),
    "node_onnx": ("Node, ONNX Runtime (`bench/bench_node.py`, 640 x 480 camera at 30 Hz)", _node),
    "node_onnx_full": ("Node, ONNX Runtime with `pose_refinement: full`", _node),
    "delivery": ("Frames that arrive (`bench/bench_delivery.py`)", _delivery),
    "pose_refinement": ("Pose refinement", _pose_refinement),
    "rectification": ("Lens-distortion removal", _rectification),
    "training": ("Training", _training),
    "training_rendered": ("Training, the `rendered` recipe at 128 x 256", _training_config),
    "adaptation": ("Online adaptation", _adaptation),
}


def current_results(results: Path) -> dict[str, dict[str, tuple[str, Path]]]:
    """machine -> benchmark -> (date, file) of the newest result of that benchmark on that machine."""
    machines: dict[str, dict[str, tuple[str, Path]]] = {}
    for machine in sorted(p for p in results.iterdir() if p.is_dir()):
        newest: dict[str, tuple[str, Path]] = {}
        for day in sorted((p for p in machine.iterdir() if p.is_dir() and DATE.fullmatch(p.name)),
                          key=lambda p: p.name):
            for file in sorted(day.glob("*.json")):
                newest[file.stem] = (day.name, file)
        if newest:
            machines[machine.name] = newest
    return machines


def render(results: Path = RESULTS) -> str:
    lines = ["# Performance", "",
             "Generated by `scripts/render_performance.py` from `bench/results/<machine>/<date>/` (`make bench` runs",
             "every benchmark on this machine and then rewrites this file). One table set per machine: compare",
             "figures only within one machine, and within one date where the host is shared (a shared host's",
             "speed varies from day to day). Benchmarks without a result on a machine are left out.", "",
             "The node's default backend, `backend: auto`, is ONNX Runtime where it is installed (the `onnx` rows),",
             "PyTorch otherwise (docs/node.md, Parameters). On a GPU machine, `bench/bench_gpu.py` (offline, under",
             "10 minutes, after `scripts/setup.sh`) runs the node benchmark with both backends, the training",
             "throughput benchmark and a short training with `--device cuda`, and writes `gpu.json` with `gpu.md`,",
             "its summary, into the machine's date folder; without a usable GPU (a CPU-only torch build, no driver)",
             "it says why, runs every step on the CPU and exits with 3 (`--dry-run`: that fallback, smallest sizes).",
             ""]
    for machine, newest in current_results(results).items():
        lines += [f"## `{machine}`", ""]
        for stem, (title, renderer) in SECTIONS.items():
            if stem not in newest:
                continue
            date, file = newest[stem]
            data = json.loads(file.read_text(encoding="utf-8"))
            lines += [f"### {title}", "", f"Measured {date}; raw: `{file.relative_to(results.parents[1])}`.", "",
                      *renderer(data), ""]
        unknown = sorted(set(newest) - set(SECTIONS))
        if unknown:
            lines += ["Results without a table here: " + ", ".join(f"`{name}.json`" for name in unknown) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", action="store_true", help="print this machine's results folder name")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.machine:
        print(machine_name())
        return 0
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
