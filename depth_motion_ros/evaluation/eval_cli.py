"""`depth_motion_eval`: depth and odometry metrics of a checkpoint (or a trivial baseline) on recorded frames,
and object-motion metrics on rendered sequences that carry its ground truth (`depth_motion_synth`).

Examples:
  depth_motion_eval --checkpoint run/checkpoints/best.pt --sequence ../shared/data/7scenes_redkitchen \\
      --start 800 --end 1000 --max-depth 10 --json metrics.json
  depth_motion_eval --baseline ramp --sequence ../shared/data/7scenes_redkitchen --start 800 --max-depth 10 \\
      --json ramp.json
  depth_motion_eval --checkpoint run/checkpoints/best.pt --sequence ../shared/data/7scenes_redkitchen \\
      --start 800 --max-depth 10 --compare-to ramp.json

A checkpoint runs through the node's per-frame engine (depth_motion_ros/stream.py, via model_predictor.py),
so the figures are those of the node with the same options. The depth metrics and the snippet ATE come with
95% intervals that allow for the correlation of consecutive frames; --compare-to gives the mean per-frame
difference to another report on the same frames, with its interval.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from depth_motion_ros.evaluation.baselines import BASELINES
from depth_motion_ros.evaluation.comparison import check_comparable, compare_reports, format_comparison
from depth_motion_ros.evaluation.evaluator import EvaluationSettings, evaluate_sequence, format_report
from depth_motion_ros.evaluation.metrics import CROPS
from depth_motion_ros.evaluation.model_predictor import ModelFramePredictor
from depth_motion_ros.evaluation.object_motion import DEFAULT_MOTION_THRESHOLD
from depth_motion_ros.evaluation.online_adaptation import AdaptationOptions
from depth_motion_ros.geometry.direct_alignment import REFINEMENT_MODES
from depth_motion_ros.sources import SourceError, open_source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth_motion_eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="model checkpoint (.pt) to evaluate")
    what.add_argument("--baseline", choices=sorted(BASELINES),
                      help="evaluate a trivial baseline instead: constant depth, ramp depth, standing still, or "
                           "constant forward motion")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--sequence", help="sequence folder (rgb/, depth/, poses.txt, meta.yaml)")
    data.add_argument("--bag", help="ROS 1 / ROS 2 bag with ground-truth depth and/or pose topics")
    parser.add_argument("--topic", help="image topic of the bag (auto-detected when there is only one)")
    parser.add_argument("--depth-topic", help="ground-truth depth topic of the bag (auto-detected)")
    parser.add_argument("--pose-topic", help="ground-truth pose topic of the bag (auto-detected)")
    parser.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    parser.add_argument("--end", type=int, default=None, help="frame index to stop before (exclusive)")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame (default 1)")
    parser.add_argument("--min-depth", type=float, default=1e-3, help="smallest valid ground truth, metres")
    parser.add_argument("--max-depth", type=float, default=80.0,
                        help="largest valid ground truth and prediction cap, metres (80 outdoors; use 10 indoors)")
    parser.add_argument("--crop", choices=sorted(CROPS), help="KITTI evaluation crop")
    parser.add_argument("--no-median-scaling", action="store_true", help="score raw depth (metric models only)")
    parser.add_argument("--snippet-length", type=int, default=5, help="frames per ATE snippet (default 5)")
    parser.add_argument("--motion-threshold", type=float, default=DEFAULT_MOTION_THRESHOLD,
                        help="object motion, metres per frame after median scaling, above which a pixel counts as "
                             "moving (sequences with motion/ ground truth only; default %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="inference backend: torch, or onnx (ONNX Runtime, fastest on CPU)")
    parser.add_argument("--pose-refinement", choices=REFINEMENT_MODES, default="none",
                        help="refine the network's camera motion photometrically, as the node's pose_refinement "
                             "parameter does: none (network only, the default here), rotation, or full")
    parser.add_argument("--intrinsics", choices=("auto", "learned"), default="auto",
                        help="camera matrix for the refinement and the camera-height scale, as the node's "
                             "intrinsics_source: auto (the source's when it has one, else the running mean of the "
                             "learned ones), or learned")
    parser.add_argument("--camera-height", type=float, metavar="METRES",
                        help="score metric depth and distances as the node's scale_mode: camera_height gives them "
                             "(a level camera this high above the ground): no median scaling, and the step and "
                             "path lengths unaligned")
    parser.add_argument("--flip-average", action="store_true",
                        help="average each depth map with its mirror image's, as the node's flip_average parameter "
                             "does (a second depth pass)")
    parser.add_argument("--online-adaptation", action="store_true",
                        help="let the depth network keep learning from the frames already evaluated (a measuring "
                             "tool, not a node feature: docs/decisions/online-adaptation.md; PyTorch backend; each "
                             "frame is predicted before it is trained on; evaluate consecutive frames, --stride 1)")
    parser.add_argument("--adaptation-steps", type=int, default=1, metavar="N",
                        help="gradient steps after each frame with --online-adaptation (default 1)")
    parser.add_argument("--adaptation-lr", type=float, default=AdaptationOptions.learning_rate, metavar="LR",
                        help=f"learning rate of --online-adaptation (default {AdaptationOptions.learning_rate:g})")
    parser.add_argument("--adaptation-min-parallax", type=float, default=AdaptationOptions.min_parallax_deg,
                        metavar="DEG", help="smallest triangulation angle of a training pair with --online-adaptation "
                        f"(default {AdaptationOptions.min_parallax_deg:g}; 0 = every pair)")
    parser.add_argument("--adaptation-forgetting", type=float, default=AdaptationOptions.forgetting, metavar="F",
                        help="fraction of the way back to the checkpoint's weights after each step with "
                        f"--online-adaptation (default {AdaptationOptions.forgetting:g}; 0 = none)")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--compare-to", type=Path, metavar="REPORT_JSON",
                        help="a --json report of another model or baseline on the same frames and protocol: "
                             "print (and record under 'comparison') the mean per-frame differences with 95%% "
                             "intervals")
    return parser


def _adaptation_options(args: argparse.Namespace) -> AdaptationOptions:
    return AdaptationOptions(learning_rate=args.adaptation_lr, min_parallax_deg=args.adaptation_min_parallax,
                             forgetting=args.adaptation_forgetting)


def _predictor(args: argparse.Namespace):
    if args.baseline:
        return BASELINES[args.baseline]()
    from depth_motion_ros.predictors import load_predictor  # torch is needed only for models
    adaptation = _adaptation_options(args) if args.online_adaptation else None
    return ModelFramePredictor(load_predictor(args.checkpoint, device=args.device, backend=args.backend),
                               args.pose_refinement, args.intrinsics, args.flip_average,
                               args.camera_height, adaptation, args.adaptation_steps)


def _source(args: argparse.Namespace):
    if args.sequence:
        if args.topic or args.depth_topic or args.pose_topic:
            raise SourceError("--topic, --depth-topic and --pose-topic apply to --bag only")
        return open_source("sequence", args.sequence, start=args.start, end=args.end, stride=args.stride)
    options = {key: value for key, value in (("depth_topic", args.depth_topic), ("pose_topic", args.pose_topic))
               if value}
    return open_source("bag", args.bag, topic=args.topic, start=args.start, end=args.end, stride=args.stride,
                       **options)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.camera_height is not None and args.baseline:
        parser.error("--camera-height applies to a checkpoint, not to a baseline")
    adaptation_flags = {"--adaptation-steps": args.adaptation_steps != 1,
                        "--adaptation-lr": args.adaptation_lr != AdaptationOptions.learning_rate,
                        "--adaptation-min-parallax": args.adaptation_min_parallax != AdaptationOptions.min_parallax_deg,
                        "--adaptation-forgetting": args.adaptation_forgetting != AdaptationOptions.forgetting}
    if not args.online_adaptation and any(adaptation_flags.values()):
        parser.error(f"{', '.join(f for f, given in adaptation_flags.items() if given)} need --online-adaptation")
    if args.online_adaptation and (args.baseline or args.backend != "torch"):
        parser.error("--online-adaptation trains the checkpoint's depth network: it needs --checkpoint and the "
                     "torch backend")
    if args.online_adaptation and args.stride != 1:
        parser.error("--online-adaptation trains on pairs of consecutive frames: use --stride 1")
    metric = args.camera_height is not None
    settings = EvaluationSettings(min_depth=args.min_depth, max_depth=args.max_depth, crop=args.crop,
                                  median_scaling=not (args.no_median_scaling or metric),
                                  snippet_length=args.snippet_length, motion_threshold=args.motion_threshold,
                                  metric=metric)
    try:
        reference = json.loads(args.compare_to.read_text()) if args.compare_to else None
        source = _source(args)
        subject = f"baseline '{args.baseline}'" if args.baseline else f"checkpoint {args.checkpoint}"
        header = {"subject": subject, "source": source.name, "topic": getattr(source, "image_topic", None),
                  "start": args.start, "end": args.end, "stride": args.stride,
                  "pose_refinement": args.pose_refinement, "intrinsics_source": args.intrinsics,
                  "flip_average": args.flip_average, "camera_height": args.camera_height,
                  "online_adaptation": ({"steps_per_frame": args.adaptation_steps,
                                         **asdict(_adaptation_options(args))} if args.online_adaptation else None)}
        if reference is not None:  # before the evaluation, not after it
            check_comparable({**header, "settings": asdict(settings)}, reference)
        predictor = _predictor(args)
    except (SourceError, ValueError, RuntimeError, OSError) as error:
        print(f"depth_motion_eval: error: {error}", file=sys.stderr)
        return 2
    from tqdm import tqdm
    with tqdm(total=len(source), desc=f"evaluating {source.name}", unit="frame", file=sys.stderr) as bar:
        report = evaluate_sequence(source, predictor, settings, progress=lambda _frame: bar.update())
    print(format_report(report, title=f"{subject} on {source.name}"))
    result = {**header, **report.to_dict()}
    adapter = getattr(predictor, "adapter", None)
    if adapter is not None:
        result["online_adaptation"].update(steps_taken=adapter.steps,
                                           steps_without_parallax=adapter.uninformative_steps,
                                           steps_not_finite=adapter.skipped_steps)
        print(f"online adaptation: {adapter.steps} steps taken, {adapter.uninformative_steps} without a pair of "
              f"enough parallax, {adapter.skipped_steps} with a loss that was not finite")
    if args.camera_height is not None:
        result["frames_without_scale"] = predictor.frames_without_scale
        print(f"camera height {args.camera_height} m: {predictor.frames_without_scale} of {report.frames} frames "
              "came before the first level ground-plane fit and used 1 metre per model unit, as the node does")
    code = 0
    if reference is not None:
        try:
            result["comparison"] = compare_reports(result, reference)
            print(format_comparison(result["comparison"]))
        except ValueError as error:  # the figures are still written below
            print(f"depth_motion_eval: error: cannot compare with {args.compare_to}: {error}", file=sys.stderr)
            code = 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
