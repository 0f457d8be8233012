"""`depth_motion_infer`: make any video, image folder, sequence folder or bag 3D.

Depth for every frame, the camera trajectory, the object motion field, optional coloured point clouds and
a side-by-side video, written to one output folder (contract: depth_motion_ros/cli/infer_outputs.py and
docs/demo.md). `--eval` scores the run against the ground truth the input carries.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence, Sized
from pathlib import Path

from tqdm import tqdm

from depth_motion_ros.checkpoint import CheckpointError
from depth_motion_ros.cli.infer_outputs import InferenceOutputWriter
from depth_motion_ros.cli.sequence_inference import SequenceInference
from depth_motion_ros.evaluation.evaluator import EvaluationSettings, SequenceEvaluator, format_report
from depth_motion_ros.geometry.direct_alignment import REFINEMENT_MODES
from depth_motion_ros.predictors import BACKENDS, load_predictor
from depth_motion_ros.sources import SourceError, open_source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth_motion_infer",
        description="Predict depth, camera trajectory and object motion for every frame of an input.")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--video", help="video file (anything OpenCV reads)")
    inputs.add_argument("--images", help="folder of image files, in natural order")
    inputs.add_argument("--sequence", help="sequence folder (rgb/, meta.yaml intrinsics, optional depth/ poses.txt)")
    inputs.add_argument("--bag", help="ROS 1 or ROS 2 bag (sqlite3 or MCAP)")
    parser.add_argument("--topic", help="image topic of the bag (auto-detected when there is only one)")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--checkpoint", help="model checkpoint (.pt); default: the bundled model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference backend: auto (the node's default: ONNX Runtime where it is installed, "
                             "else PyTorch), torch or onnx")
    parser.add_argument("--onnx-cache", help="folder of the ONNX exports (the node's cache_dir; default "
                                             "~/.cache/depth_motion_ros/onnx)")
    parser.add_argument("--pose-refinement", choices=REFINEMENT_MODES, default="none",
                        help="refine each pair's camera motion photometrically (the node's pose_refinement): "
                             "none, rotation or full")
    parser.add_argument("--flip-average", action="store_true",
                        help="average each depth map with its mirror image's (the node's flip_average; a second "
                             "depth pass)")
    parser.add_argument("--start", type=int, default=0, help="first frame index")
    parser.add_argument("--end", type=int, help="stop before this frame index")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    parser.add_argument("--points", action="store_true", help="also write points/NNNNNN.ply")
    parser.add_argument("--point-stride", type=int, default=1, help="keep every N-th pixel in the .ply files")
    parser.add_argument("--no-video", action="store_true", help="skip video.mp4")
    parser.add_argument("--eval", action="store_true", help="score against the input's ground truth")
    parser.add_argument("--max-depth", type=float, default=80.0, help="depth cap of --eval, metres")
    parser.add_argument("--crop", choices=("garg", "eigen"), help="KITTI evaluation crop of --eval")
    return parser


def _source_arguments(args: argparse.Namespace) -> tuple[str, str]:
    for kind in ("video", "images", "sequence", "bag"):
        path = getattr(args, kind)
        if path is not None:
            return kind, path
    raise AssertionError("argparse guarantees one input")


def run(args: argparse.Namespace) -> dict:
    """Run inference as `args` say; returns the evaluation summary ({} without --eval)."""
    kind, path = _source_arguments(args)
    if args.topic is not None and kind != "bag":
        raise ValueError("--topic applies to --bag only")
    source = open_source(kind, path, topic=args.topic, start=args.start, end=args.end, stride=args.stride)
    predictor = load_predictor(args.checkpoint, device=args.device, backend=args.backend, cache_dir=args.onnx_cache)
    print("; ".join(f"{key}: {value}" for key, value in predictor.describe().items()))
    writer = InferenceOutputWriter(args.out, points=args.points, point_stride=args.point_stride,
                                   video=not args.no_video, fps=(source.rate_hz or 10.0) / args.stride)
    evaluation = (SequenceEvaluator(EvaluationSettings(max_depth=args.max_depth, crop=args.crop))
                  if args.eval else None)
    count = 0
    total = len(source) if isinstance(source, Sized) else None  # the progress bar's total, when the source knows it
    inference = SequenceInference(predictor, args.pose_refinement, args.flip_average)
    for result in tqdm(inference.run(source), total=total, desc=source.name, unit="frame"):
        writer.write(result)
        if evaluation is not None:
            evaluation.add_frame(result.depth, result.frame.depth, result.motion_from_previous, result.frame.pose,
                                 frame_index=result.frame.index)
        count += 1
    if count == 0:
        raise SourceError(f"{path} yielded no frames")
    written = writer.close()
    print(f"{count} frames -> {args.out}")
    for file in written:
        print(f"wrote {file}")
    if evaluation is None:
        return {}
    report = evaluation.report()
    (Path(args.out) / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(format_report(report, title=f"evaluation of {source.name} (depth_motion_eval protocol)"))
    return report.to_dict()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (SourceError, CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"depth_motion_infer: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
