#!/usr/bin/env python3
"""Turn a training checkpoint into the bundled default model, `models/default_light.pt`.

    scripts/bundle_model.py RUN/checkpoints/last.pt --eval dev_7scenes=dev.json --eval val_kitti=val.json \
        --hardware "2-core AMD EPYC VM, no GPU" [--out models/default_light.pt]

Why a separate step: a training checkpoint carries the optimizer state (three times the weights) and
no record of how good the model is. The bundled file keeps only the weights, the configuration and a
model card in its metadata: the training sources with their licences (read from each sequence's
`meta.yaml` when it is reachable), the recipe, steps, wall time and hardware, and the evaluation JSON
files written by `depth_motion_eval --json`; write the README's model card from the same figures. A
model trained in stages (`--init-from`) gets one card entry per stage, and its steps and time are the sums.
The file must stay under the package's 30 MB budget, which is checked here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from depth_motion_ros.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from depth_motion_ros.training.lineage import lineage_record

SIZE_BUDGET_BYTES = 30 * 1024 * 1024
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "default_light.pt"


def _source_card(source: dict) -> dict:
    """Name, kind, stride (and pose refinement and frame range when set) and licence of one training source
    (licence from its meta.yaml when readable)."""
    path = Path(source["path"])
    card = {"name": path.stem if source["kind"] == "video" else path.name, "kind": source["kind"],
            "stride": source.get("stride")}
    for option in ("pose_refinement", "frames"):  # per-source options, on the card only when given
        if source.get(option):
            card[option] = source[option]
    meta_file = path / "meta.yaml"
    if meta_file.is_file():
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
        card["licence"] = meta.get("licence")
        card["origin"] = meta.get("source")
    elif source["kind"] == "video" and (path.parent / "README.md").is_file():
        card["licence"] = f"see {path.parent.name}/README.md beside the video"
    return card


def _stage_card(meta: dict, strides: list | None = None) -> dict:
    """Steps, time, recipe and sources of one training stage (one run, before any --init-from chain)."""
    sources = [dict(s) for s in meta.get("sources") or []]
    if strides is not None:
        for source, stride in zip(sources, strides, strict=True):
            source["stride"] = stride
    config = meta.get("training_config") or {}
    optim = config.get("optim") or {}
    networks = ("intrinsics head" if optim.get("intrinsics_only") else
                "object-motion field" if optim.get("object_motion_only") else
                "motion" if optim.get("freeze_depth") else
                "depth" if optim.get("freeze_motion") else "depth and motion")
    card = {"steps": meta.get("step"), "train_seconds": meta.get("train_seconds"), "device": meta.get("device"),
            "networks": networks, "training_config": config or None,
            "sources": [_source_card(s) for s in sources]}
    if meta.get("rendered_motion"):  # rendered sequences that supervised the object-motion field
        card["rendered_motion"] = [_source_card({"kind": "sequence", "path": folder})
                                   for folder in meta["rendered_motion"]]
    return card


def _depth_stages(release: str) -> list[dict]:
    """The stages of a bundled model whose depth network was kept and frozen while a new motion network was
    trained: they trained this model's depth network only (their motion network was discarded)."""
    stages = load_checkpoint(release).metadata["model_card"]["stages"]
    return [{**stage, "networks": "depth (this stage's motion network was not kept)"} for stage in stages]


def _stages(meta: dict, initialised_from: str | None, strides: list | None,
            depth_from: str | None = None) -> list[dict]:
    """Every stage that trained these weights, oldest first: the --init-from chain, then this run.

    Links of the chain that trained nothing (0 steps, no sources: weights assembled from other files, as
    for `--depth-from`) are left out."""
    record = meta.get("initialised_from")
    if record is None and initialised_from is not None:
        record = lineage_record(Path(initialised_from), load_checkpoint(initialised_from).metadata)
    chain = []
    while record:
        if record.get("step") or record.get("sources"):
            chain.append([_stage_card(record)])
        elif release_stages := _release_stages(record):
            chain.append(release_stages)
        record = record.get("initialised_from")
    prior = _depth_stages(depth_from) if depth_from else []
    return prior + [stage for stages in chain[::-1] for stage in stages] + [_stage_card(meta, strides)]


def _release_stages(record: dict) -> list[dict]:
    """The stages of a bundled release that a run was initialised from (its weights carry a model card, not a
    training state): from the record, or, for records written before the trainer kept them, from the file
    at the recorded path (bundle before that file is replaced: nothing in such a record identifies it)."""
    if record.get("release_stages"):
        return list(record["release_stages"])
    path = Path(record.get("path") or "")
    if not path.is_file():
        return []
    try:
        card = load_checkpoint(path).metadata.get("model_card") or {}
    except CheckpointError:
        return []
    stages = list(card.get("stages") or [])
    if stages:
        print(f"bundle_model: stages of the release {path} read from that file ({card.get('steps')} steps)")
    return stages


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="training checkpoint (last.pt or a snapshot of it)")
    parser.add_argument("--eval", action="append", default=[], metavar="NAME=JSON",
                        help="an evaluation of this checkpoint (depth_motion_eval --json), repeatable")
    parser.add_argument("--hardware", required=True, help="where it was trained, in words")
    parser.add_argument("--strides", help="JSON list of per-source strides, for checkpoints written before "
                                          "the trainer recorded them")
    parser.add_argument("--initialised-from", metavar="CHECKPOINT",
                        help="the checkpoint this run was started from with --init-from, for checkpoints written "
                             "before the trainer recorded it (its own lineage is followed from there)")
    parser.add_argument("--depth-from", metavar="RELEASE",
                        help="a bundled model whose depth network this run kept frozen (optim.freeze_depth) under "
                             "a new motion network: its card's stages are listed first, as depth-only stages")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output file (default {DEFAULT_OUT})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        loaded = load_checkpoint(args.checkpoint)
    except CheckpointError as error:
        print(f"bundle_model: {error}", file=sys.stderr)
        return 2
    meta = loaded.metadata
    stages = _stages(meta, args.initialised_from, json.loads(args.strides) if args.strides else None,
                     args.depth_from)
    evaluations = {}
    for item in args.eval:
        name, _, path = item.partition("=")
        evaluations[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    card = {
        "model": loaded.config.to_dict(),
        "steps": sum(stage["steps"] or 0 for stage in stages),
        "train_seconds": round(sum(stage["train_seconds"] or 0.0 for stage in stages), 1),
        "hardware": args.hardware,
        "device": meta.get("device"),
        "training_config": meta.get("training_config"),
        "train_pairs": meta.get("train_pairs"),
        "sources": stages[-1]["sources"],
        "stages": stages,
        "held_out_fraction": (meta.get("training_config") or {}).get("data", {}).get("val_fraction"),
        "evaluations": evaluations,
    }
    save_checkpoint(args.out, loaded.model, {"model_card": card}, training_state=None)
    size = Path(args.out).stat().st_size
    if size > SIZE_BUDGET_BYTES:
        Path(args.out).unlink()
        print(f"bundle_model: {size} bytes exceeds the {SIZE_BUDGET_BYTES}-byte budget (file removed)",
              file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {size / 1e6:.1f} MB, {card['steps']} steps in {len(stages)} stage(s), "
          f"{len(card['sources'])} sources in the last")
    return 0


if __name__ == "__main__":
    sys.exit(main())
