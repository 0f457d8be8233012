"""`depth_motion_train`: self-supervised training from bags, videos, image folders and sequence folders.

    depth_motion_train --config {light|paper|PATH.yaml} [--bag P [--topic T]] [--video F] [--images D]
                       [--sequence D] [--stride N] [--pose-refinement MODE] [--frames FIRST:END]
                       [--rendered-motion DIR] --out RUN_DIR [--resume | --init-from CKPT | --encoder-weights PATH]
                       [--max-steps N]

Sources may be mixed and repeated; `--topic` applies to the `--bag` right before it, and `--stride` (frame
step of the training pairs, default the config's `data.stride`), `--pose-refinement` (camera motion of
its losses, default the config's `pose_refinement`) and `--frames` (the frames its training pairs come
from, default all before the held-out part) to the source right before it. `--rendered-motion DIR` is not a
source: its rendered pairs supervise the object-motion field (with `rendered_motion.weight > 0`). Multi-GPU or
multi-node: start the same command with `torchrun --nproc_per_node N -m
depth_motion_ros.training.train_cli ...` (rank 0 writes logs and checkpoints).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from depth_motion_ros.geometry.direct_alignment import REFINEMENT_MODES
from depth_motion_ros.training.config import load_train_config
from depth_motion_ros.training.data import SourceSpec

SOURCE_FLAGS = {"--bag": "bag", "--video": "video", "--images": "images", "--sequence": "sequence"}


class _SourceAction(argparse.Action):
    """Collects sources in command-line order, so a following --topic attaches to the right bag."""

    def __call__(self, parser, namespace, values, option_string=None):
        sources = list(getattr(namespace, "sources", None) or [])
        sources.append(SourceSpec(SOURCE_FLAGS[option_string], values))
        namespace.sources = sources


class _TopicAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        sources = list(getattr(namespace, "sources", None) or [])
        if not sources or sources[-1].kind != "bag":
            parser.error("--topic must follow the --bag it applies to")
        sources[-1] = dataclasses.replace(sources[-1], topic=values)
        namespace.sources = sources


class _PerSourceAction(argparse.Action):
    """Sets `field` of the source given right before the option (each source has its own)."""

    field: str

    def check(self, parser: argparse.ArgumentParser, values) -> None:
        """Refuse a bad value with `parser.error` (nothing to check by default)."""

    def __call__(self, parser, namespace, values, option_string=None):
        sources = list(getattr(namespace, "sources", None) or [])
        if not sources:
            parser.error(f"{option_string} must follow the source it applies to")
        self.check(parser, values)
        sources[-1] = dataclasses.replace(sources[-1], **{self.field: values})
        namespace.sources = sources


class _StrideAction(_PerSourceAction):
    field = "stride"

    def check(self, parser: argparse.ArgumentParser, values) -> None:
        if values < 1:
            parser.error("--stride must be at least 1")


class _RefinementAction(_PerSourceAction):
    field = "pose_refinement"


class _FramesAction(_PerSourceAction):
    field = "frames"


def _frame_range(text: str) -> tuple[int, int]:
    """'FIRST:END' (END exclusive) -> (first, end)."""
    try:
        first, end = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST:END, e.g. 0:600, got {text!r}") from None
    if not 0 <= first < end:
        raise argparse.ArgumentTypeError(f"need 0 <= FIRST < END, got {text!r}")
    return first, end


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth_motion_train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="built-in recipe (light, paper) or a YAML file")
    for flag, kind in SOURCE_FLAGS.items():
        parser.add_argument(flag, action=_SourceAction, metavar="PATH", help=f"a {kind} source (repeatable)")
    parser.add_argument("--topic", action=_TopicAction, help="image topic of the preceding --bag")
    parser.add_argument("--stride", type=int, action=_StrideAction,
                        help="frame step of the preceding source's training pairs (default: data.stride)")
    parser.add_argument("--pose-refinement", choices=REFINEMENT_MODES, action=_RefinementAction,
                        help="camera motion of the preceding source's losses: the motion network's, or refined "
                             "by direct alignment (default: the config's pose_refinement; needs "
                             "ego_motion out of optim.train unless none)")
    parser.add_argument("--frames", type=_frame_range, action=_FramesAction, metavar="FIRST:END",
                        help="draw the preceding source's training pairs from frames FIRST..END-1 only (the "
                             "held-out last part stays out either way): keep a stretch out of training as a "
                             "development set")
    parser.add_argument("--rendered-motion", action="append", default=[], metavar="DIR",
                        help="a rendered sequence with exact object motion (depth_motion_synth --out DIR) that "
                             "supervises the object-motion field; needs rendered_motion.weight > 0 (repeatable)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints/, tensorboard/, train_config.yaml")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start from these weights (e.g. the bundled model) with a fresh optimizer: fine-tuning")
    parser.add_argument("--encoder-weights", metavar="PATH",
                        help="start a new run's depth encoder from ImageNet weights: torchvision's ResNet-18 state "
                             "dict (depth_encoder resnet18, width 1.0) or scripts/port_mobilenet_v2.py's output")
    parser.add_argument("--max-steps", type=int, help="total steps of the run (overrides the config)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--cache-dir", help="where decoded frames are cached (default RUN_DIR/cache); "
                                            "share it between runs on the same data")
    parser.set_defaults(sources=[])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.sources:
        print("depth_motion_train: give at least one source (--bag, --video, --images, --sequence)", file=sys.stderr)
        return 2
    from depth_motion_ros.training.trainer import Trainer  # torch import: after argument errors

    config = load_train_config(args.config)
    if args.max_steps is not None:
        config = config.with_max_steps(args.max_steps)
    if args.resume and args.init_from:
        print("depth_motion_train: give --resume or --init-from, not both", file=sys.stderr)
        return 2
    trainer = Trainer(config, args.sources, args.out, resume=args.resume, device=args.device,
                      cache_dir=args.cache_dir, init_from=args.init_from, rendered_motion=args.rendered_motion,
                      encoder_weights=args.encoder_weights)
    try:
        result = trainer.run()
    finally:
        from depth_motion_ros.training.distributed import shutdown

        shutdown(trainer.context)
    if trainer.context.is_main:
        print(f"step {result.step}: last checkpoint {result.last_checkpoint}"
              + (f", best {result.best_checkpoint}" if result.best_checkpoint else "")
              + (f", {result.skipped_nonfinite} non-finite steps skipped" if result.skipped_nonfinite else ""))
        for name, value in sorted(result.last_validation.items()):
            print(f"  val {name}: {value:.4f}")
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
