"""`depth_motion_export`: checkpoint -> ONNX graph pair (PREFIX.depth.onnx, PREFIX.motion.onnx).

A thin wrapper over `depth_motion_ros.predictors.onnx_predictor.export_onnx`; with `--verify` it also runs both
backends on random input and fails when the outputs differ by more than the tolerance.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from depth_motion_ros.checkpoint import CheckpointError, default_checkpoint_path, load_checkpoint
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.predictors.onnx_predictor import OnnxDepthMotionPredictor, export_onnx

VERIFY_RELATIVE_TOLERANCE = 1e-4


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="depth_motion_export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="checkpoint file (default: the bundled light model)")
    parser.add_argument("--out", help="output prefix (default: the checkpoint path without .pt)")
    parser.add_argument("--verify", action="store_true",
                        help="compare ONNX Runtime with PyTorch on random frames after exporting")
    return parser.parse_args(argv)


def _verify(torch_predictor: DepthMotionPredictor, onnx_predictor: OnnxDepthMotionPredictor) -> float:
    """Largest relative output difference over depth and the non-masked motion outputs."""
    generator = torch.Generator().manual_seed(0)
    rgb1, rgb2 = torch.rand(2, 2, 3, *torch_predictor.input_size, generator=generator)
    depth1, depth2 = onnx_predictor.depth(rgb1), onnx_predictor.depth(rgb2)
    pairs = [(depth1, torch_predictor.depth(rgb1))]
    expected = torch_predictor.motion(rgb1, depth1, rgb2, depth2)
    actual = onnx_predictor.motion(rgb1, depth1, rgb2, depth2)
    pairs += [(actual.rotation, expected.rotation), (actual.translation, expected.translation),
              (actual.intrinsics, expected.intrinsics)]
    return max(float((a - e).abs().max() / e.abs().max().clamp_min(1e-12)) for a, e in pairs)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    if checkpoint is None:
        print("depth_motion_export: no checkpoint given and no bundled model installed", file=sys.stderr)
        return 2
    try:
        loaded = load_checkpoint(checkpoint)
    except CheckpointError as error:
        print(f"depth_motion_export: {error}", file=sys.stderr)
        return 2
    prefix = args.out or str(checkpoint.with_suffix(""))
    files = export_onnx(loaded.model, prefix, loaded.metadata)
    print(f"wrote {files.depth}\nwrote {files.motion}")
    if args.verify:
        difference = _verify(DepthMotionPredictor(loaded.model, "cpu"), OnnxDepthMotionPredictor(files, "cpu"))
        print(f"largest relative difference ONNX Runtime vs PyTorch: {difference:.2e}")
        if difference > VERIFY_RELATIVE_TOLERANCE:
            print("depth_motion_export: outputs differ beyond tolerance", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
