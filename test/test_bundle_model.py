"""`scripts/bundle_model.py`: a training checkpoint becomes a release file with a model card."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from depth_motion_ros.checkpoint import load_checkpoint, save_checkpoint
from depth_motion_ros.model_config import ModelConfig
from depth_motion_ros.networks import DepthMotionModel

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bundle_model.py"


@pytest.fixture(scope="module")
def bundle_model():
    spec = importlib.util.spec_from_file_location("bundle_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def training_checkpoint(tmp_path) -> Path:
    sequence = tmp_path / "indoor_seq"
    sequence.mkdir()
    (sequence / "meta.yaml").write_text("licence: research only\nsource: a test recording\n")
    model = DepthMotionModel(ModelConfig(name="tiny", input_height=64, input_width=96,
                                         depth_width_multiplier=0.25, motion_width_multiplier=0.125))
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "last.pt"
    save_checkpoint(path, model, {"step": 1234, "train_seconds": 56.0, "device": "cpu",
                                  "sources": [{"kind": "sequence", "path": str(sequence), "topic": None}]},
                    training_state={"optimizer": optimizer.state_dict(), "step": 1234})
    return path


def test_release_file_keeps_weights_and_a_model_card_and_drops_the_training_state(
        bundle_model, training_checkpoint, tmp_path):
    evaluation = tmp_path / "dev.json"
    evaluation.write_text(json.dumps({"depth": {"abs_rel": 0.2}}))
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(training_checkpoint), "--eval", f"dev={evaluation}", "--hardware", "a laptop",
                              "--strides", "[8]", "--out", str(out)]) == 0
    released, trained = load_checkpoint(out), load_checkpoint(training_checkpoint)
    assert released.training_state is None
    for name, value in trained.model.state_dict().items():
        assert torch.equal(released.model.state_dict()[name], value)
    card = released.metadata["model_card"]
    assert (card["steps"], card["train_seconds"], card["hardware"]) == (1234, 56.0, "a laptop")
    assert card["sources"] == [{"name": "indoor_seq", "kind": "sequence", "stride": 8,
                                "licence": "research only", "origin": "a test recording"}]
    assert card["evaluations"] == {"dev": {"depth": {"abs_rel": 0.2}}}


def test_a_file_over_the_size_budget_is_refused(bundle_model, training_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_model, "SIZE_BUDGET_BYTES", 1000)
    assert bundle_model.main([str(training_checkpoint), "--hardware", "x", "--out", str(tmp_path / "big.pt")]) == 1
    assert not (tmp_path / "big.pt").exists()


def test_an_unreadable_checkpoint_is_an_error_not_a_traceback(bundle_model, tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert bundle_model.main([str(tmp_path / "bad.pt"), "--hardware", "x", "--out", str(tmp_path / "o.pt")]) == 2
    assert "bundle_model:" in capsys.readouterr().err


def test_a_model_trained_in_stages_sums_them_and_lists_each(bundle_model, training_checkpoint, tmp_path):
    """A fine-tuned run (--init-from) records its start; the card lists both stages and sums steps and time."""
    first = load_checkpoint(training_checkpoint)
    second = tmp_path / "second.pt"
    save_checkpoint(second, first.model, {"step": 100, "train_seconds": 4.0, "device": "cpu", "sources": [],
                                          "initialised_from": {"path": str(training_checkpoint),
                                                               **{k: first.metadata.get(k) for k in
                                                                  ("step", "train_seconds", "sources", "device")},
                                                               "initialised_from": None}})
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(second), "--hardware", "a laptop", "--out", str(out)]) == 0
    card = load_checkpoint(out).metadata["model_card"]
    assert (card["steps"], card["train_seconds"]) == (1334, 60.0)
    assert [stage["steps"] for stage in card["stages"]] == [1234, 100]
    assert card["stages"][0]["sources"][0]["licence"] == "research only"
    # Checkpoints written before the trainer recorded the start: given on the command line instead.
    third = tmp_path / "third.pt"
    save_checkpoint(third, first.model, {"step": 10, "train_seconds": 1.0, "sources": []})
    assert bundle_model.main([str(third), "--hardware", "a laptop", "--out", str(out),
                              "--initialised-from", str(second)]) == 0
    assert [stage["steps"] for stage in load_checkpoint(out).metadata["model_card"]["stages"]] == [1234, 100, 10]


def test_a_new_motion_network_on_a_kept_depth_network_lists_the_depth_stages_first(
        bundle_model, training_checkpoint, tmp_path):
    """--depth-from: the bundled model's stages trained the depth network only; the weight-assembly file in
    between (0 steps, no sources) is not a stage; the frozen-depth run trained the motion network."""
    release = tmp_path / "old_default.pt"
    assert bundle_model.main([str(training_checkpoint), "--hardware", "a laptop", "--out", str(release)]) == 0
    model = load_checkpoint(training_checkpoint).model
    motion_run = tmp_path / "motion.pt"
    save_checkpoint(motion_run, model, {"step": 100, "train_seconds": 4.0, "sources": [],
                                        "training_config": {"optim": {"freeze_depth": True}},
                                        "initialised_from": {"path": "assembled.pt", "step": 0, "train_seconds": 0,
                                                             "sources": None, "initialised_from": None}})
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(motion_run), "--hardware", "a laptop", "--out", str(out),
                              "--depth-from", str(release)]) == 0
    card = load_checkpoint(out).metadata["model_card"]
    assert [(stage["steps"], stage["networks"].split()[0]) for stage in card["stages"]] == [(1234, "depth"),
                                                                                             (100, "motion")]
    assert card["steps"] == 1334


def test_a_run_initialised_from_a_release_lists_the_release_stages_first(bundle_model, training_checkpoint,
                                                                         tmp_path):
    """Fine-tuning the bundled model: the new card keeps every stage of the release it started from, taken
    from the run's own lineage record, so it survives that release file being replaced."""
    from depth_motion_ros.training.lineage import lineage_record

    release = tmp_path / "old_default.pt"
    assert bundle_model.main([str(training_checkpoint), "--hardware", "a laptop", "--out", str(release)]) == 0
    model = load_checkpoint(release).model
    fine_tuned = tmp_path / "fine_tuned.pt"
    save_checkpoint(fine_tuned, model, {"step": 100, "train_seconds": 4.0, "sources": [],
                                        "initialised_from": lineage_record(release, load_checkpoint(release).metadata)})
    release.unlink()  # the next release replaces the old file
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(fine_tuned), "--hardware", "a laptop", "--out", str(out)]) == 0
    card = load_checkpoint(out).metadata["model_card"]
    assert [stage["steps"] for stage in card["stages"]] == [1234, 100]
    assert card["steps"] == 1334 and card["train_seconds"] == 60.0


def test_a_release_record_without_its_stages_reads_them_from_the_release_file(bundle_model, training_checkpoint,
                                                                              tmp_path, capsys):
    """Records written before lineage_record kept a release's stages: the release file, while still in place."""
    release = tmp_path / "old_default.pt"
    assert bundle_model.main([str(training_checkpoint), "--hardware", "a laptop", "--out", str(release)]) == 0
    fine_tuned = tmp_path / "fine_tuned.pt"
    save_checkpoint(fine_tuned, load_checkpoint(release).model,
                    {"step": 100, "train_seconds": 4.0, "sources": [],
                     "initialised_from": {"path": str(release), "step": None, "train_seconds": None,
                                          "sources": None, "initialised_from": None}})
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(fine_tuned), "--hardware", "a laptop", "--out", str(out)]) == 0
    assert [stage["steps"] for stage in load_checkpoint(out).metadata["model_card"]["stages"]] == [1234, 100]
    assert "read from that file (1234 steps)" in capsys.readouterr().out


@pytest.mark.parametrize("optim, networks", [({"intrinsics_only": True}, "intrinsics head"),
                                             ({"object_motion_only": True}, "object-motion field"),
                                             ({"freeze_depth": True}, "motion"), ({"freeze_motion": True}, "depth"),
                                             ({"train": ["ego_motion", "intrinsics", "object_motion"]}, "motion"),
                                             ({"train": ["intrinsics"]}, "intrinsics head"),
                                             ({"train": ["depth", "ego_motion", "intrinsics", "object_motion"]},
                                              "depth and motion"),
                                             ({}, "depth and motion")])
def test_each_stage_says_which_networks_it_trained(bundle_model, training_checkpoint, tmp_path, optim, networks):
    model = load_checkpoint(training_checkpoint).model
    run = tmp_path / "run.pt"
    save_checkpoint(run, model, {"step": 10, "train_seconds": 1.0, "sources": [],
                                 "training_config": {"optim": optim}})
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(run), "--hardware", "a laptop", "--out", str(out)]) == 0
    assert load_checkpoint(out).metadata["model_card"]["stages"][-1]["networks"] == networks


def test_a_source_s_own_pose_refinement_and_frame_range_are_on_the_card(bundle_model, tmp_path):
    video = tmp_path / "car.mp4"
    assert bundle_model._source_card({"kind": "video", "path": str(video), "stride": None,
                                      "pose_refinement": "rotation"})["pose_refinement"] == "rotation"
    assert "pose_refinement" not in bundle_model._source_card({"kind": "video", "path": str(video),
                                                               "pose_refinement": None})
    assert bundle_model._source_card({"kind": "video", "path": str(video), "frames": [0, 600]})["frames"] == [0, 600]


def test_rendered_sequences_that_supervised_the_field_are_on_the_stage_card(bundle_model, tmp_path):
    rendered = tmp_path / "street"
    rendered.mkdir()
    (rendered / "meta.yaml").write_text("licence: generated; no third-party content\nsource: depth_motion_synth\n")
    card = bundle_model._stage_card({"step": 3, "sources": [], "rendered_motion": [str(rendered)],
                                     "training_config": {"optim": {"object_motion_only": True}}})
    assert card["networks"] == "object-motion field"
    assert card["rendered_motion"] == [{"name": "street", "kind": "sequence", "stride": None,
                                        "licence": "generated; no third-party content", "origin": "depth_motion_synth"}]
    assert "rendered_motion" not in bundle_model._stage_card({"step": 3, "sources": []})


def test_the_card_is_written_beside_the_file_with_stage_labels_and_intervals(bundle_model, training_checkpoint,
                                                                            tmp_path):
    """The markdown card is rendered from the card stored in the file: stage names, dates and decision records
    from --stage-labels, and a figure with its 95 % interval from a depth_motion_eval report."""
    labels = tmp_path / "labels.yaml"
    labels.write_text('- {name: "run Z", date: "2026-01-02", decision: docs/decisions/z.md}\n')
    report = tmp_path / "val.json"
    report.write_text(json.dumps({"source": "kitchen", "start": 800, "end": 1000, "pose_refinement": "none",
                                  "depth": {"abs_rel": 0.1752, "a1": 0.688},
                                  "depth_intervals": {"abs_rel": {"interval": [0.124, 0.226], "batch": 50}},
                                  "snippet_ate": 0.0099, "snippet_ate_interval": {"interval": [-0.0012, 0.0211]},
                                  "rpe_rotation_deg": 0.56, "trajectory_ate": 0.086,
                                  "intrinsics": {"focal_rel_error": 0.063}}))
    out = tmp_path / "default.pt"
    assert bundle_model.main([str(training_checkpoint), "--hardware", "a laptop", "--stage-labels", str(labels),
                              "--eval", f"val_kitchen={report}", "--out", str(out)]) == 0
    card = load_checkpoint(out).metadata["model_card"]
    assert (card["stages"][0]["name"], card["stages"][0]["date"]) == ("run Z", "2026-01-02")
    text = (tmp_path / "default.md").read_text()
    assert text == bundle_model.render_card(card, "default.pt")
    assert "| run Z, 2026-01-02 | depth and motion | 1234 | 0 h 01 min |" in text
    assert "[z](../docs/decisions/z.md)" in text
    assert ("| `val_kitchen` | kitchen 800-999 | none | 0.175 (0.124 to 0.226) | 0.688 | 0.0099 (-0.0012 to 0.0211) "
            "| 0.56° | 0.086 | 6.3 % |") in text
    assert "| indoor_seq | research only | a test recording |" in text


def test_a_release_is_rebundled_with_the_same_weights_and_new_figures(bundle_model, training_checkpoint, tmp_path):
    release = tmp_path / "release.pt"
    first = tmp_path / "first.json"
    first.write_text(json.dumps({"snippet_ate": 0.5}))
    assert bundle_model.main([str(training_checkpoint), "--hardware", "a laptop", "--eval", f"val={first}",
                              "--eval", f"dev={first}", "--out", str(release)]) == 0
    second = tmp_path / "second.json"
    second.write_text(json.dumps({"snippet_ate": 0.25}))
    out = tmp_path / "again.pt"
    assert bundle_model.main([str(release), "--eval", f"val={second}", "--out", str(out)]) == 0
    before, after = load_checkpoint(release), load_checkpoint(out)
    for name, value in before.model.state_dict().items():
        assert torch.equal(after.model.state_dict()[name], value)
    card = after.metadata["model_card"]
    assert card["evaluations"] == {"val": {"snippet_ate": 0.25}, "dev": {"snippet_ate": 0.5}}
    assert (card["steps"], card["hardware"]) == (1234, "a laptop")


def test_stage_labels_must_name_every_stage(bundle_model, training_checkpoint, tmp_path, capsys):
    labels = tmp_path / "labels.yaml"
    labels.write_text("- {name: a}\n- {name: b}\n")
    assert bundle_model.main([str(training_checkpoint), "--hardware", "x", "--stage-labels", str(labels),
                              "--out", str(tmp_path / "o.pt")]) == 2
    assert "2 labels for 1 stages" in capsys.readouterr().err


def test_the_committed_model_card_is_the_card_inside_the_bundled_model(bundle_model):
    """models/default_light.md is what bundle_model.py renders from models/default_light.pt's metadata."""
    models = Path(__file__).resolve().parents[1] / "models"
    card = load_checkpoint(models / "default_light.pt").metadata["model_card"]
    assert (models / "default_light.md").read_text(encoding="utf-8") == bundle_model.render_card(
        card, "default_light.pt")


def test_the_card_says_which_initialisation_the_depth_encoder_started_from(bundle_model):
    """Issue: the model card must say whether the default started from ImageNet weights (`--encoder-weights`)."""
    meta = {"step": 3, "sources": [], "encoder_weights": "/somewhere/mobilenet_v2_imagenet.safetensors"}
    imagenet_stage = bundle_model._stage_card(meta)
    assert imagenet_stage["encoder_weights"] == "mobilenet_v2_imagenet.safetensors"
    random_stage = bundle_model._stage_card({"step": 3, "sources": []})
    assert "encoder_weights" not in random_stage
    model = {"depth_encoder": "mobilenet_v2"}
    assert bundle_model._encoder_start({"model": model, "stages": [random_stage]}) == (
        "The mobilenet_v2 depth encoder started from a random initialisation (no ImageNet weights).")
    assert bundle_model._encoder_start({"model": model, "stages": [imagenet_stage, random_stage]}) == (
        "The mobilenet_v2 depth encoder started from ImageNet weights: `mobilenet_v2_imagenet.safetensors` (stage 1).")
