"""The GPU run: on a lent GPU machine, within a time budget (default 9 minutes) and without a network, the node
benchmark with both backends, the training throughput benchmark and a short real training on a rendered world,
with `--device cuda`; results as JSON and markdown.

    .venv/bin/python bench/bench_gpu.py                      # on the GPU machine (after `bash scripts/setup.sh`)
    .venv/bin/python bench/bench_gpu.py --out "$OUT/gpu"     # where the results should go
    .venv/bin/python bench/bench_gpu.py --dry-run            # the CPU fallback, every step at its smallest (~100 s)

It installs nothing. It first says what it found: torch's build (a CPU-only wheel has no `torch.version.cuda`;
`scripts/setup.sh` installs torch==2.13.0 from the wheel cache, which is the CPU build unless a CUDA build was
put there), whether torch sees a GPU, what `nvidia-smi` sees, and ONNX Runtime's execution providers (the CUDA
one only with onnxruntime-gpu). Without a usable GPU it does not fail silently: the report starts with the
reason, every step runs on the CPU instead (so the commands are still checked), and the exit status is 3 (0
with --dry-run, whose job is that fallback). A step that fails is recorded with its output's tail (exit 1).

Steps, each a subprocess with its own time limit inside the budget:
  1. node, backend torch   (bench/bench_node.py --backend torch --device D)
  2. node, backend auto    (the default: ONNX Runtime, its CUDA provider where there is one; the first start
                            exports the model into the ONNX cache)
  3. training throughput   (bench/bench_training.py --device D, light and paper recipes)
  4. a rendered street     (depth_motion_synth; Mesa's headless EGL renders on the CPU)
  5. a short training      (depth_motion_train --config light --sequence WORLD --max-steps N --device D)
Results: OUT/gpu.json (everything), OUT/gpu.md (a summary table), OUT/gpu/ (each step's own JSON and log).
Default OUT: bench/results/<machine>/<date>/ (a new temporary folder for --dry-run).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from render_performance import machine_name  # noqa: E402

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Sizes:
    """How much each step does: the full GPU run, or the dry run's smallest that still exercises everything."""

    node_seconds: float
    node_rss_frames: int
    throughput_steps: int
    throughput_size: str
    world_frames: int
    train_steps: int


FULL = Sizes(node_seconds=20.0, node_rss_frames=300, throughput_steps=20, throughput_size="128x416",
             world_frames=200, train_steps=300)
DRY = Sizes(node_seconds=2.0, node_rss_frames=10, throughput_steps=1, throughput_size="64x96", world_frames=12,
            train_steps=2)


def probe_environment() -> dict[str, object]:
    """What this machine offers for a GPU run: 'problems' force the CPU fallback (empty: none); 'notes' say what
    runs on the CPU although the GPU is usable."""
    import onnxruntime
    import torch

    found: dict[str, object] = {
        "machine": machine_name(), "python": platform.python_version(), "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda, "torch_sees_gpu": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "onnxruntime": onnxruntime.__version__, "onnxruntime_providers": onnxruntime.get_available_providers(),
        "nvidia_smi": None,
    }
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        answer = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30)
        found["nvidia_smi"] = answer.stdout.strip() or answer.stderr.strip()
    problems, notes = [], []
    if torch.version.cuda is None:
        problems.append(f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None): the wheel "
                        "cache that scripts/setup.sh installs from had no CUDA build of torch==2.13.0, so training "
                        "and the torch backend cannot use a GPU")
    elif not torch.cuda.is_available():
        problems.append(f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but sees no GPU "
                        f"(nvidia-smi: {found['nvidia_smi'] or 'not installed'})")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        notes.append(f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (that needs "
                        "onnxruntime-gpu): backend auto runs ONNX Runtime on the CPU or, with a GPU torch, PyTorch")
    found["problems"], found["notes"] = problems, notes
    found["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return found


def run_step(name: str, command: list[str], deadline: float, cap_s: float, folder: Path) -> dict[str, object]:
    """Run one step with at most `cap_s` seconds and never past `deadline`; its output goes to folder/NAME.log."""
    limit = min(cap_s, deadline - time.monotonic())
    record: dict[str, object] = {"command": " ".join(command), "limit_s": round(limit, 1)}
    if limit < 5:
        record.update(status="skipped", reason="the time budget is spent")
        return record
    log = folder / f"{name}.log"
    started = time.monotonic()
    with log.open("w") as stream:
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            returncode = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            returncode = None
    record["seconds"] = round(time.monotonic() - started, 1)
    record["log"] = str(log)
    if returncode == 0:
        record["status"] = "ok"
    else:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        record.update(status="timed out" if returncode is None else f"failed (exit {returncode})", tail=tail)
    print(f"{name}: {record['status']} in {record['seconds']} s", flush=True)
    return record


def read_json(path: Path) -> object:
    return json.loads(path.read_text()) if path.is_file() else None


def last_line_with(path: Path, text: str) -> str | None:
    lines = [line for line in path.read_text(errors="replace").splitlines() if text in line] if path.is_file() else []
    return lines[-1].strip() if lines else None


def markdown(report: dict) -> str:
    """The summary table of gpu.md."""
    env = report["environment"]
    lines = [f"# GPU run on `{env['machine']}`, {report['date']}", ""]
    if env["problems"]:
        lines += ["**Not a GPU run: every step ran on the CPU.** " + " ".join(env["problems"]), ""]
    if env["notes"]:
        lines += ["Note: " + " ".join(env["notes"]), ""]
    lines += [f"torch {env['torch']} (CUDA build: {env['torch_cuda_build']}), GPU: {env['gpu']}; nvidia-smi: "
              f"{env['nvidia_smi']}; onnxruntime {env['onnxruntime']} ({', '.join(env['onnxruntime_providers'])}).",
              f"Mode: {report['mode']}, device {env['device']}, {report['seconds']:.0f} s in all.", "",
              "| step | status | seconds | result |", "|---|---|---|---|"]
    for name, step in report["steps"].items():
        lines.append(f"| {name} | {step['status']} | {step.get('seconds', '-')} | {step.get('summary', '')} |")
    return "\n".join(lines) + "\n"


def summarise(name: str, step: dict) -> str:
    """One cell of the table from a step's result."""
    result = step.get("result")
    if name.startswith("node") and isinstance(result, dict):
        return (f"{result.get('node_model')}: {result.get('processed_fps_all_outputs')} frames/s, node p50 "
                f"{result.get('node_p50_arrival_to_depth_ms')} ms, growth {result.get('rss_growth_mb')} MB")
    if name == "training_throughput" and isinstance(result, dict):
        return "; ".join(f"{r['recipe']} {r['input_size'][0]}x{r['input_size'][1]} batch {r['batch']}: "
                         f"{r['samples_per_s']:.1f} samples/s" for r in result.get("results", []))
    return str(step.get("final", "") or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<machine>/<date>/; with "
                                                 "--dry-run a temporary folder)")
    parser.add_argument("--budget-s", type=float, default=540.0, help="the whole run's time limit in seconds")
    parser.add_argument("--checkpoint", help="the node benchmark's model (default: the bundled model)")
    parser.add_argument("--dry-run", action="store_true",
                        help="the CPU fallback with every step at its smallest: checks the script, measures nothing")
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + args.budget_s
    date = datetime.date.today().isoformat()
    env = probe_environment()
    sizes = DRY if args.dry_run else FULL
    device = "cpu" if args.dry_run else str(env["device"])
    env["device"] = device
    for problem in [*env["problems"], *env["notes"]]:  # type: ignore[misc]
        print(f"bench_gpu: {problem}", file=sys.stderr, flush=True)
    # A dry run measures nothing: its report stays out of bench/results (and so out of docs/performance.md).
    default_out = (Path(tempfile.mkdtemp(prefix="bench_gpu_dry_run_")) if args.dry_run
                   else REPO / "bench" / "results" / str(env["machine"]) / date)
    out = args.out or default_out
    raw = out / "gpu"
    raw.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or str(REPO / "models" / "default_light.pt")
    work = raw / "work"
    world, run = work / "street", work / "train_run"
    shutil.rmtree(work, ignore_errors=True)
    python = sys.executable
    node = [python, str(REPO / "bench" / "bench_node.py"), "--checkpoint", checkpoint, "--device", device,
            "--rate-seconds", str(sizes.node_seconds), "--rss-frames", str(sizes.node_rss_frames)]
    steps: dict[str, tuple[list[str], float]] = {
        "node_torch": ([*node, "--backend", "torch", "--json", str(raw / "node_torch.json")], 120),
        "node_auto": ([*node, "--backend", "auto", "--json", str(raw / "node_auto.json")], 180),
        "training_throughput": ([python, str(REPO / "bench" / "bench_training.py"), "--device", device,
                                 "--steps", str(sizes.throughput_steps), "--size", sizes.throughput_size,
                                 "--json", str(raw / "training_throughput.json")], 120),
        "render_world": ([str(BIN / "depth_motion_synth"), "--world", "street", "--out", str(world),
                          "--frames", str(sizes.world_frames), "--width", "256", "--height", "128", "--seed", "0"],
                         90),
        "train": ([str(BIN / "depth_motion_train"), "--config", "light", "--sequence", str(world), "--out", str(run),
                   "--max-steps", str(sizes.train_steps), "--device", device], 240),
    }
    records: dict[str, dict] = {}
    for name, (command, cap_s) in steps.items():
        if name == "train" and records["render_world"]["status"] != "ok":
            records[name] = {"command": " ".join(command), "status": "skipped", "reason": "no rendered world"}
            continue
        records[name] = run_step(name, command, deadline, cap_s, raw)
    for name in ("node_torch", "node_auto", "training_throughput"):
        records[name]["result"] = read_json(raw / f"{name}.json")
    steps_done = last_line_with(raw / "train.log", "last checkpoint")  # "step N: last checkpoint PATH, ..."
    records["train"]["final"] = "; ".join(line for line in (
        steps_done.split(":")[0] if steps_done else None, last_line_with(raw / "train.log", "val loss/total"))
        if line)
    for name, record in records.items():
        record["summary"] = summarise(name, record)
    shutil.rmtree(work, ignore_errors=True)  # the world and the run's checkpoints: large, and not results
    report = {"date": date, "mode": "dry run (CPU fallback)" if args.dry_run else "GPU run", "environment": env,
              "budget_s": args.budget_s, "seconds": round(time.monotonic() - started, 1), "steps": records}
    (out / "gpu.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gpu.md").write_text(markdown(report))
    print(f"wrote {out / 'gpu.json'} and {out / 'gpu.md'}")
    if any(record["status"] not in ("ok", "skipped") for record in records.values()):
        return 1
    return 0 if args.dry_run or not env["problems"] else 3


if __name__ == "__main__":
    sys.exit(main())
