"""`depth_motion_demo`: the whole product in one command, on real ROS 2 messages.

With no arguments: render a short synthetic street with moving cars (exact ground truth), play it as ROS 2
messages to the real node, record every output into an MCAP bag, draw a summary picture, and print depth
and trajectory errors against the ground truth. `--bag`, `--video`, `--images` or `--sequence` replace
the generated scene. The model is `--checkpoint`, else the bundled default; where neither exists (an install
without `models/default_light.pt`) the demo first trains the light model briefly on its input and says so.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2

from depth_motion_ros.checkpoint import default_checkpoint_path
from depth_motion_ros.cli.demo_analysis import baseline_reports, collect_outputs, score, stamp_key, stamp_key_ns
from depth_motion_ros.cli.node_session import NodeRun, NodeSessionError, run_node_on_bag
from depth_motion_ros.cli.summary import render_summary
from depth_motion_ros.evaluation.evaluator import EvaluationReport, EvaluationSettings, format_report
from depth_motion_ros.geometry.direct_alignment import REFINEMENT_MODES
from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.sources import FrameRange, SourceError, open_source
from depth_motion_ros.sources.bag_source import BagSource
from depth_motion_ros.sources.sequence_folder import SequenceFolderSource
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene
from depth_motion_ros.synthetic.writers import CameraBagWriter, write_scene

DEMO_SIZE = (128, 256)          # the light model's input size: the scene is rendered at it, no resampling
DEMO_FRAMES = 60
DEMO_TRAIN_SECONDS = 75.0
TRAINING_STARTED_MARK = "train:"   # the trainer's tqdm progress bar, shown once steps begin
DEMO_TRAIN_MAX_STEPS = 2000
TRAIN_STOP_GRACE_S = 120.0
CAMERA_MOUNT = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth_motion_demo",
        description="Generate (or take) a camera stream, run the depth_motion node on it over ROS 2, record "
                    "its outputs, and report how good they are.")
    inputs = parser.add_mutually_exclusive_group()
    inputs.add_argument("--bag", help="play this bag instead of a generated scene")
    inputs.add_argument("--video", help="use this video instead of a generated scene")
    inputs.add_argument("--images", help="use this folder of images instead of a generated scene")
    inputs.add_argument("--sequence", help="use this sequence folder instead of a generated scene")
    parser.add_argument("--topic", help="image topic of --bag (auto-detected when there is only one)")
    parser.add_argument("--out", help="output folder (default: outputs/demo/<date-time>)")
    parser.add_argument("--checkpoint", help="model for the node (default: the bundled model, else train one)")
    parser.add_argument("--train-seconds", type=float, default=DEMO_TRAIN_SECONDS,
                        help="time budget of the brief training run when no model is available, "
                             "counted from its first step")
    parser.add_argument("--train-steps", type=int, default=DEMO_TRAIN_MAX_STEPS,
                        help="most steps of that training run")
    parser.add_argument("--frames", type=int, default=DEMO_FRAMES, help="frames to generate or to take from the input")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated scene")
    parser.add_argument("--device", default="auto", help="the node's torch device")
    parser.add_argument("--pose-refinement", choices=REFINEMENT_MODES, default="none",
                        help="the node's pose_refinement: none, rotation or full (docs/node.md)")
    parser.add_argument("--realtime", action="store_true",
                        help="play at the recorded rate and let the node drop frames as it would live "
                             "(default: lockstep, every frame processed)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor with --realtime")
    parser.add_argument("--max-depth", type=float, default=80.0,
                        help="depth cap of the evaluation, metres (the owners' convention: 80 outdoors, 10 indoors)")
    return parser


def ensure_local_ros_environment() -> None:
    """Keep DDS discovery on this machine, always, and on a private domain unless the user chose one.

    Only the demo tooling does this (the node itself never forces it: robots need normal discovery); the
    node process inherits it.
    """
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(60 + os.getpid() % 40))


def say(step: str) -> None:
    print(f"[depth_motion_demo] {step}", flush=True)


def _input_bag(args: argparse.Namespace, out: Path) -> tuple[Path, str | None, dict]:
    """The bag to play, its image topic and extra node parameters; generates or converts as needed."""
    if args.bag:
        return Path(args.bag), args.topic, {}
    bag = out / "input_bag"
    if args.video or args.images or args.sequence:
        kind, path = next((k, getattr(args, k)) for k in ("video", "images", "sequence") if getattr(args, k))
        say(f"converting {kind} {path} (first {args.frames} frames) to a ROS 2 bag: {bag}")
        with CameraBagWriter(bag) as writer:
            count = 0
            for frame in open_source(kind, path, end=args.frames):
                writer.write(frame)
                count += 1
        if count == 0:
            raise SourceError(f"{path} has no frames")
        return bag, None, {}
    params = SceneParams(width=DEMO_SIZE[1], height=DEMO_SIZE[0], frames=args.frames, seed=args.seed)
    say(f"rendering a synthetic street: {params.frames} frames of {params.width}x{params.height}, "
        f"{params.movers} moving cars, exact ground truth -> {out / 'scene'}")
    start = time.monotonic()
    write_scene(make_street_scene(params), out / "scene", bag)
    say(f"  rendered in {time.monotonic() - start:.1f} s")
    # The ground plane is at a known height below the camera: the node can recover metric scale from it.
    return bag, None, {"scale_mode": "camera_height", "camera_height": params.camera_height}


def _train_briefly(args: argparse.Namespace, out: Path, bag: Path, topic: str | None) -> Path:
    """Train the light model on the demo's input for at most `--train-seconds`, then stop it cleanly.

    A time budget rather than a step count keeps the demo's duration the same on any machine: the
    trainer finishes its current step on SIGINT and saves last.pt (exit code 130).
    """
    run = out / "training"
    say(f"no bundled default model found (models/default_light.pt): training the light model on this "
        f"input for {args.train_seconds:.0f} s first -> {run}. A model trained this briefly has learned "
        f"little; pass --checkpoint for a real one.")
    command = [sys.executable, "-m", "depth_motion_ros.training.train_cli", "--config", "light",
               "--out", str(run), "--max-steps", str(args.train_steps), "--device", args.device]
    source = (["--sequence", str(out / "scene")] if (out / "scene").is_dir()
              else ["--bag", str(bag)] + (["--topic", topic] if topic else []))
    start = time.monotonic()
    log_path = out / "training.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command + source, stdout=log, stderr=subprocess.STDOUT)
        _stop_after_budget(process, log_path, args.train_seconds)
    checkpoint = run / "checkpoints" / "last.pt"
    if process.returncode not in (0, 130) or not checkpoint.is_file():
        raise RuntimeError(f"training failed (exit {process.returncode}); see {out / 'training.log'}")
    steps = _last_line_with(out / "training.log", "last checkpoint")
    say(f"  trained for {time.monotonic() - start:.0f} s{': ' + steps if steps else ''}")
    return checkpoint


def _stop_after_budget(process: subprocess.Popen, log_path: Path, budget: float) -> None:
    """Let the trainer run `budget` seconds from its first step (its progress bar appearing in the log),
    then SIGINT it: its handler, installed by then, finishes the step and saves last.pt. Start-up and data
    caching are not counted, and a SIGINT during start-up would be a plain KeyboardInterrupt."""
    training_since: float | None = None
    while process.poll() is None:
        now = time.monotonic()
        if training_since is None and TRAINING_STARTED_MARK in log_path.read_text(errors="replace"):
            training_since = now
        if training_since is not None and now - training_since > budget:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=TRAIN_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return
        time.sleep(0.5)


def _last_line_with(path: Path, text: str) -> str | None:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if text in line]
    return lines[-1] if lines else None


def _report_lines(report: EvaluationReport | None, processed: int, with_odometry: int, played: int) -> list[str]:
    lines = [f"frames played {played}, processed by the node {processed}, with odometry {with_odometry}"]
    if report is None:
        return lines + ["no ground truth in this input: no error figures"]
    if report.depth:
        d = report.depth
        lines.append(f"depth ({report.depth_images} frames, per-image median scaling): abs rel {d['abs_rel']:.3f}  "
                     f"sq rel {d['sq_rel']:.3f}  rmse {d['rmse']:.2f} m  d<1.25 {d['a1']:.3f}")
        if report.median_scale is not None:
            lines.append(f"median scale factor ground truth / node depth: {report.median_scale:.3f} "
                         f"(1.0 = the node's depth is metric)")
    if report.trajectory_ate is not None:
        lines.append(f"trajectory ({report.pose_frames} poses): ATE after Sim(3) alignment "
                     f"{report.trajectory_ate:.3f} m, 5-frame snippet ATE {report.snippet_ate:.3f} m, "
                     f"RPE {report.rpe_translation:.3f} m / {report.rpe_rotation_deg:.2f} deg per frame")
    motion = report.object_motion
    if "relative_epe" in motion:
        lines.append(f"object motion ({int(motion['pairs'])} pairs): mover IoU {motion.get('mover_iou', 0.0):.3f}, "
                     f"relative end-point error {motion['relative_epe']:.3f} (zero field: 1), "
                     f"static pixels flagged {motion.get('static_flagged', 0.0):.3f}")
    return lines


def _baseline_line(baselines: dict[str, EvaluationReport]) -> str | None:
    """One line with the trivial baselines' headline figures, for comparison."""
    parts = []
    for name, label in (("constant", "constant depth"), ("ramp", "ramp prior")):
        depth = baselines[name].depth
        if depth:
            parts.append(f"{label} abs rel {depth['abs_rel']:.3f} / d<1.25 {depth['a1']:.3f}")
    for name, label in (("still", "standing still"), ("forward", "constant forward motion")):
        if baselines[name].snippet_ate is not None:
            parts.append(f"{label} snippet ATE {baselines[name].snippet_ate:.3f} m")
    return "to beat (same frames): " + "; ".join(parts) if parts else None


def _analyse(run: NodeRun, source: BagSource, out: Path, max_depth: float,
             node_parameters: dict) -> EvaluationReport | None:
    """Score the recorded outputs against the played frames' ground truth (and the trivial baselines),
    print the figures, write metrics.json (with the node's parameters) and summary.png; returns the report
    (None without ground truth)."""
    inputs = {stamp_key(frame.timestamp): frame for frame in source}
    if (out / "scene" / "motion").is_dir():
        # A rendered street: its bag has no object-motion truth, its folder has. Both hold the frames in the
        # same order (the bag's stamps are offset from the folder's times), so they are matched by index.
        played = {frame.index: frame for frame in inputs.values()}
        for rendered in SequenceFolderSource(out / "scene", FrameRange(0, source.frame_range.end)):
            if rendered.index in played:
                played[rendered.index].object_motion = rendered.object_motion
    frames = collect_outputs(run.messages, run.namespace, camera_mount(CAMERA_MOUNT))
    settings = EvaluationSettings(max_depth=max_depth)
    report = score(frames, inputs, settings)
    lines = _report_lines(report, len(frames), sum(f.camera_pose is not None for f in frames),
                          run.playback.images)
    baselines = baseline_reports(frames, inputs, settings) if report is not None else {}
    baseline_line = _baseline_line(baselines) if baselines else None
    if baseline_line:
        lines.append(baseline_line)
    played = {f.stamp_ns: inputs[stamp_key_ns(f.stamp_ns)] for f in frames if stamp_key_ns(f.stamp_ns) in inputs}
    input_rgb = {stamp: frame.rgb for stamp, frame in played.items()}
    truth = {stamp: frame.pose for stamp, frame in played.items() if frame.pose is not None}
    picture = render_summary(frames, input_rgb, truth, lines)
    cv2.imwrite(str(out / "summary.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if report is not None:
        metrics = {**report.to_dict(), "baselines": {name: b.to_dict() for name, b in baselines.items()},
                   "node_parameters": node_parameters}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        print(format_report(report, title="errors against the ground truth (depth_motion_eval protocol)"))
    for line in lines:
        say(line)
    return report


def run_demo(args: argparse.Namespace) -> int:
    ensure_local_ros_environment()
    started = time.monotonic()
    out = Path(args.out) if args.out else Path("outputs") / "demo" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    bag, topic, node_parameters = _input_bag(args, out)
    source = BagSource(bag, topic=topic, frame_range=FrameRange(0, args.frames))
    image_type = source.reader.topics[source.image_topic].msgtype

    checkpoint = args.checkpoint or default_checkpoint_path()
    if checkpoint is None:
        checkpoint = _train_briefly(args, out, bag, topic)
    else:
        say(f"model: {checkpoint}" + ("" if args.checkpoint else " (bundled default)"))

    say(f"starting the node and playing {bag} ({source.image_topic}) to it "
        f"{'at the recorded rate' if args.realtime else 'in lockstep'}; recording every output")
    parameters = {"checkpoint": str(Path(checkpoint).resolve()), "device": args.device,
                  "camera_mount": list(CAMERA_MOUNT), "pose_refinement": args.pose_refinement, **node_parameters}
    run = run_node_on_bag(bag, source.image_topic, image_type, source.camera_info_topic, parameters,
                          out / "node_outputs", out / "node.log", lockstep=not args.realtime, rate=args.rate,
                          max_images=args.frames)
    say(f"  {run.playback.images} images played in {run.playback.seconds:.1f} s; outputs recorded in "
        f"{run.recording}")

    report = _analyse(run, source, out, args.max_depth, parameters)
    say(f"outputs in {out}/: summary.png, node_outputs/ (MCAP of every node topic), node.log"
        + (", metrics.json" if report is not None else "")
        + (", scene/ and input_bag/ (the generated input)" if (out / "scene").is_dir() else ""))
    say(f"done in {time.monotonic() - started:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_demo(args)
    except (SourceError, NodeSessionError, RuntimeError, ValueError, FileExistsError) as exc:
        print(f"depth_motion_demo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
