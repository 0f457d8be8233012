#!/usr/bin/env python3
"""Turn a training checkpoint into the bundled default model, `models/default_light.pt`.

    scripts/bundle_model.py RUN/checkpoints/last.pt --eval dev_7scenes=dev.json --eval val_kitti=val.json \
        --hardware "2-core AMD EPYC VM, no GPU" --stage-labels stages.yaml [--out models/default_light.pt]
    scripts/bundle_model.py models/default_light.pt --eval val_7scenes=new.json   # re-bundle a release


Why a separate step: a training checkpoint carries the optimizer state (three times the weights) and
no record of how good the model is. The bundled file keeps only the weights, the configuration and a
model card in its metadata: the training sources with their licences (read from each sequence's
`meta.yaml` when it is reachable), the recipe, steps, wall time and hardware, and the evaluation JSON
files written by `depth_motion_eval --json`. A model trained in stages (`--init-from`) gets one card entry
per stage, and its steps and time are the sums; `--stage-labels` names each stage (run or config name,
calendar date, decision record), since a checkpoint knows neither. The same card is written as markdown
beside the file (`default_light.md`), so the card a reader sees and the one inside the weights cannot differ.
Given a release instead of a training checkpoint, the script re-bundles it: the weights and stages are kept,
labels and `--eval` reports are added or replaced. The file must stay under the package's 30 MB budget.
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


#: What each group of `optim.train` is called in the card.
_GROUP_NAMES = {"depth": "depth", "ego_motion": "ego-motion", "intrinsics": "intrinsics head",
                "object_motion": "object-motion field"}
#: Stages recorded before `optim.train` existed named what they trained with one flag each.
_LEGACY_STAGES = {"intrinsics_only": "intrinsics head", "object_motion_only": "object-motion field",
                  "freeze_depth": "motion", "freeze_motion": "depth"}


def _trained_networks(optim: dict) -> str:
    """What a stage trained, from its recipe's `optim` section (old stage flags included)."""
    for flag, name in _LEGACY_STAGES.items():
        if optim.get(flag):
            return name
    groups = optim.get("train")
    if not groups or set(groups) == set(_GROUP_NAMES):
        return "depth and motion"
    if set(groups) == {"ego_motion", "intrinsics", "object_motion"}:
        return "motion"
    return ", ".join(_GROUP_NAMES[group] for group in groups)


def _stage_card(meta: dict, strides: list | None = None) -> dict:
    """Steps, time, recipe and sources of one training stage (one run, before any --init-from chain)."""
    sources = [dict(s) for s in meta.get("sources") or []]
    if strides is not None:
        for source, stride in zip(sources, strides, strict=True):
            source["stride"] = stride
    config = meta.get("training_config") or {}
    optim = config.get("optim") or {}
    networks = _trained_networks(optim)
    card = {"steps": meta.get("step"), "train_seconds": meta.get("train_seconds"), "device": meta.get("device"),
            "networks": networks, "training_config": config or None,
            "sources": [_source_card(s) for s in sources]}
    if meta.get("encoder_weights"):  # the ImageNet weights this stage's depth encoder started from
        card["encoder_weights"] = Path(meta["encoder_weights"]).name
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


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _interval(report: dict, value: float | None, key: str, digits: int) -> str:
    """A figure with its 95 % interval when the report has one (reports written before intervals have none)."""
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    entry = report.get(key)
    if isinstance(entry, dict) and entry.get("interval"):
        low, high = entry["interval"]
        text += f" ({low:.{digits}f} to {high:.{digits}f})"
    return text


def _evaluation_row(name: str, report: dict) -> str:
    depth = report.get("depth") or {}
    depth_intervals = report.get("depth_intervals") or {}
    end = report.get("end")
    frames = f"{report.get('source')} {report.get('start', 0)}-{end - 1 if end else 'end'}"
    setting = report.get("pose_refinement") or "none"
    intrinsics = report.get("intrinsics")  # the setting in older reports, the learned-intrinsics errors in newer
    if isinstance(intrinsics, str) and intrinsics != "auto":
        setting += f", {intrinsics} intrinsics"
    focal = intrinsics.get("focal_rel_error") if isinstance(intrinsics, dict) else None
    cells = [f"`{name}`", frames, setting,
             _interval(depth_intervals, depth.get("abs_rel"), "abs_rel", 3),
             f"{depth['a1']:.3f}" if "a1" in depth else "–",
             _interval(report, report.get("snippet_ate"), "snippet_ate_interval", 4),
             f"{report['rpe_rotation_deg']:.2f}°" if report.get("rpe_rotation_deg") is not None else "–",
             f"{report['trajectory_ate']:.3f}" if report.get("trajectory_ate") is not None else "–",
             f"{100 * focal:.1f} %" if focal is not None else "–"]
    return "| " + " | ".join(cells) + " |"


def _recipe(config: dict) -> str:
    """The options of a stage's recipe that differ between the bundled model's stages, in one line."""
    model = config.get("model") or {}
    optim = config.get("optim") or {}
    loss = config.get("loss") or {}
    parts = [f"{model.get('input_height')} x {model.get('input_width')}", f"lr {optim.get('lr')}"]
    parts += [f"`{flag}`" for flag in _LEGACY_STAGES if optim.get(flag)]
    if optim.get("train") and set(optim["train"]) != set(_GROUP_NAMES):
        parts.append(f"trains {', '.join(optim['train'])}")
    for key in ("reverse_motion", "pose_refinement", "intrinsics"):
        if config.get(key):
            parts.append(f"{key}: {config[key]}")
    parts += [f"{key}: {str(loss[key]).lower()}" for key in ("occlusion_aware", "auto_mask") if key in loss]
    noise = (config.get("schedule") or {}).get("layer_norm_noise_rampup_steps")
    if noise is not None and noise >= 1e8:
        parts.append("no layer-norm noise")
    return ", ".join(parts)


def _source_list(sources: list[dict]) -> str:
    names = []
    for source in sources:
        extras = [f"stride {source['stride']}"] if source.get("stride") not in (None, 1) else []
        extras += [f"{key} {source[key]}" for key in ("pose_refinement", "frames") if source.get(key)]
        names.append(source["name"] + (f" ({', '.join(extras)})" if extras else ""))
    return ", ".join(names)


def _encoder_start(card: dict) -> str:
    """Which initialisation the depth encoder started from: ImageNet weights (`--encoder-weights`) or random."""
    encoder = card["model"].get("depth_encoder") or "resnet18"
    starts = [(index, stage["encoder_weights"]) for index, stage in enumerate(card["stages"], 1)
              if stage.get("encoder_weights")]
    if not starts:
        return f"The {encoder} depth encoder started from a random initialisation (no ImageNet weights)."
    where = ", ".join(f"`{name}` (stage {index})" for index, name in starts)
    return f"The {encoder} depth encoder started from ImageNet weights: {where}."


def render_card(card: dict, file_name: str) -> str:
    """The model card as markdown, from the card dict that is stored in the release file's metadata."""
    model = card["model"]
    lines = [f"# Model card: `{file_name}`", "",
             "Generated by `scripts/bundle_model.py` from the card in the file's metadata "
             "(`load_checkpoint(path).metadata[\"model_card\"]`).", "",
             "## Network", "",
             f"Configuration `{model.get('name')}` at {model.get('input_height')} x {model.get('input_width')}: depth "
             f"width {model.get('depth_width_multiplier')}, motion width {model.get('motion_width_multiplier')}, "
             f"decoder activation {model.get('decoder_activation')} (docs/models.md). {_encoder_start(card)}", "",
             "## Training", "",
             f"{card['steps']} steps in {len(card['stages'])} stages, {_hours(card['train_seconds'])} of training "
             f"({card['train_seconds']:.0f} s) on {card['hardware']} (device `{card.get('device')}`). The last "
             f"{100 * (card.get('held_out_fraction') or 0):.0f} % of every recording was held out.", "",
             "| stage | trains | steps | time | recipe | decision |", "|---|---|---|---|---|---|"]
    for index, stage in enumerate(card["stages"], 1):
        name = stage.get("name") or f"stage {index}"
        if stage.get("date"):
            name += f", {stage['date']}"
        decision = stage.get("decision")
        link = f"[{Path(decision).stem}](../{decision})" if decision else "–"
        lines.append(f"| {name} | {stage['networks']} | {stage['steps']} | {_hours(stage['train_seconds'] or 0)} | "
                     f"{_recipe(stage.get('training_config') or {})} | {link} |")
    lines += ["", "Sources of each stage (stride 1 unless given):", ""]
    lines += [f"{index}. {_source_list(stage['sources'])}" for index, stage in enumerate(card["stages"], 1)]
    licences: dict[str, dict] = {}
    for stage in card["stages"]:
        for source in stage["sources"]:
            licences.setdefault(source["name"], source)
    lines += ["", "## Data and licences", "",
              "The weights inherit the terms of their training data; several are non-commercial, so the model "
              "is for research and non-commercial use only. Retrain on your own data for anything else.", "",
              "| source | licence | origin |", "|---|---|---|"]
    lines += [f"| {name} | {source.get('licence') or 'not recorded'} | {source.get('origin') or '–'} |"
              for name, source in sorted(licences.items())]
    lines += ["", "## Figures", "",
              "`depth_motion_eval` reports (per-image median scaling, depth capped at 10 m indoors); 95 % intervals "
              "in brackets where the report has them (docs/data-and-evaluation.md). `val_` rows are frames no "
              "training saw, `dev_` rows the frames the stages were chosen on.", "",
              "| report | frames | pose refinement | depth abs rel | δ<1.25 | snippet ATE (m) | RPE rotation | "
              "trajectory ATE (m) | focal error |", "|---|---|---|---|---|---|---|---|---|"]
    evaluations = card.get("evaluations") or {}
    lines += [_evaluation_row(name, evaluations[name]) for name in sorted(evaluations, key=lambda n: (
        not n.startswith("val_"), n))]
    return "\n".join(lines) + "\n"


def _label_stages(stages: list[dict], labels_file: str | None) -> list[dict]:
    """Name, date and decision record of each stage, oldest first, from a YAML list (one entry per stage)."""
    if labels_file is None:
        return stages
    labels = yaml.safe_load(Path(labels_file).read_text(encoding="utf-8")) or []
    if len(labels) != len(stages):
        raise ValueError(f"{labels_file}: {len(labels)} labels for {len(stages)} stages")
    return [{**stage, **{key: label[key] for key in ("name", "date", "decision") if label.get(key)}}
            for stage, label in zip(stages, labels, strict=True)]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="training checkpoint (last.pt or a snapshot of it)")
    parser.add_argument("--eval", action="append", default=[], metavar="NAME=JSON",
                        help="an evaluation of this checkpoint (depth_motion_eval --json), repeatable")
    parser.add_argument("--hardware", help="where it was trained, in words (required unless re-bundling)")
    parser.add_argument("--stage-labels", metavar="YAML",
                        help="a list with one {name, date, decision} per stage, oldest first")
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


def _card(loaded, args: argparse.Namespace) -> dict:
    """The card of a training checkpoint, or the card of a release being re-bundled, with labels applied."""
    meta = loaded.metadata
    previous = meta.get("model_card")
    if previous is not None:  # a release: keep its stages and figures
        card = dict(previous)
        if args.hardware:
            card["hardware"] = args.hardware
    else:
        if not args.hardware:
            raise ValueError("--hardware is required for a training checkpoint")
        stages = _stages(meta, args.initialised_from, json.loads(args.strides) if args.strides else None,
                         args.depth_from)
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
            "evaluations": {},
        }
    card["stages"] = _label_stages(card["stages"], args.stage_labels)
    evaluations = dict(card.get("evaluations") or {})
    for item in args.eval:
        name, _, path = item.partition("=")
        evaluations[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    card["evaluations"] = evaluations
    return card


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        loaded = load_checkpoint(args.checkpoint)
        card = _card(loaded, args)
    except (CheckpointError, ValueError) as error:
        print(f"bundle_model: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    save_checkpoint(out, loaded.model, {"model_card": card}, training_state=None)
    size = out.stat().st_size
    if size > SIZE_BUDGET_BYTES:
        out.unlink()
        print(f"bundle_model: {size} bytes exceeds the {SIZE_BUDGET_BYTES}-byte budget (file removed)",
              file=sys.stderr)
        return 1
    out.with_suffix(".md").write_text(render_card(card, out.name), encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md').name}: {size / 1e6:.1f} MB, {card['steps']} steps in "
          f"{len(card['stages'])} stage(s), {len(card['sources'])} sources in the last")
    return 0


if __name__ == "__main__":
    sys.exit(main())
