"""`depth_motion_train` as a user runs it: an image folder, Ctrl-C and --resume, and torchrun with gloo."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from depth_motion_ros.checkpoint import load_checkpoint
from depth_motion_ros.training.train_cli import build_parser, main

sys.path.insert(0, str(Path(__file__).parent))
from test_training import sliding_texture_frames  # noqa: E402  (shared synthetic scene)

TINY_RECIPE = """\
base: light
model: {preset: light, input_height: 32, input_width: 64}
optim: {batch_size: 2}
data: {val_fraction: 0.25}
run: {checkpoint_every: 2, validate_every: 4, log_every: 2, image_every: 4, val_pairs: 2, threads: 1}
"""


@pytest.fixture
def image_folder_and_recipe(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for frame in sliding_texture_frames(16, 40, 80):
        cv2.imwrite(str(folder / f"{frame.index:06d}.png"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    return folder, recipe


def _train_command(recipe: Path, folder: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "depth_motion_ros.training.train_cli", "--config", str(recipe),
            "--images", str(folder), "--out", str(out), "--device", "cpu", *extra]


def _wait_for(path: Path, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if process.poll() is not None:
            raise AssertionError(f"training exited early with {process.returncode}: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_interrupted_run_saves_last_and_resume_continues_the_step_count(image_folder_and_recipe, tmp_path):
    folder, recipe = image_folder_and_recipe
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    process = subprocess.Popen(_train_command(recipe, folder, out, "--max-steps", "100000"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(last, process, timeout_s=120)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    stopped_at = load_checkpoint(last).training_state["step"]
    assert stopped_at >= 2

    finished = subprocess.run(_train_command(recipe, folder, out, "--resume", "--max-steps", str(stopped_at + 3)),
                              capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr
    resumed = load_checkpoint(last)
    assert resumed.training_state["step"] == stopped_at + 3
    assert resumed.metadata["step"] == stopped_at + 3
    assert (out / "checkpoints" / "best.pt").is_file()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_with_gloo(image_folder_and_recipe, tmp_path):
    folder, recipe = image_folder_and_recipe
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
               "--nproc_per_node", "2", "-m", "depth_motion_ros.training.train_cli", "--config", str(recipe),
               "--images", str(folder), "--out", str(out), "--device", "cpu", "--max-steps", "3"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint.metadata["world_size"] == 2
    assert checkpoint.training_state["step"] == 3
    assert len(checkpoint.training_state["rng"]) == 2  # one noise RNG state per rank, for exact resume


def test_cli_requires_a_source(tmp_path, capsys):
    assert main(["--config", "light", "--out", str(tmp_path / "run")]) == 2
    assert "at least one source" in capsys.readouterr().err


def test_cli_attaches_topics_to_the_preceding_bag():
    args = build_parser().parse_args(["--config", "light", "--out", "r", "--bag", "a.bag", "--topic", "/cam",
                                      "--video", "v.mp4", "--bag", "b.mcap"])
    assert [(s.kind, s.path, s.topic) for s in args.sources] == [
        ("bag", "a.bag", "/cam"), ("video", "v.mp4", None), ("bag", "b.mcap", None)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--config", "light", "--out", "r", "--video", "v.mp4", "--topic", "/cam"])


def test_cli_attaches_strides_to_the_preceding_source():
    args = build_parser().parse_args(["--config", "light", "--out", "r", "--sequence", "indoor", "--stride", "8",
                                      "--bag", "car.mcap", "--topic", "/cam", "--stride", "2", "--video", "v.mp4"])
    assert [(s.path, s.topic, s.stride) for s in args.sources] == [
        ("indoor", None, 8), ("car.mcap", "/cam", 2), ("v.mp4", None, None)]
    for bad in (["--stride", "2", "--video", "v.mp4"], ["--video", "v.mp4", "--stride", "0"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--config", "light", "--out", "r", *bad])


def test_cli_attaches_pose_refinement_to_the_preceding_source():
    args = build_parser().parse_args(["--config", "light", "--out", "r", "--sequence", "indoor", "--stride", "8",
                                      "--pose-refinement", "full", "--video", "car.mp4", "--pose-refinement",
                                      "rotation", "--video", "v.mp4"])
    assert [(s.path, s.stride, s.pose_refinement) for s in args.sources] == [
        ("indoor", 8, "full"), ("car.mp4", None, "rotation"), ("v.mp4", None, None)]
    for bad in (["--pose-refinement", "full", "--video", "v.mp4"], ["--video", "v.mp4", "--pose-refinement", "all"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--config", "light", "--out", "r", *bad])


def test_cli_attaches_frame_ranges_to_the_preceding_source():
    args = build_parser().parse_args(["--config", "light", "--out", "r", "--sequence", "indoor", "--frames", "0:600",
                                      "--video", "v.mp4"])
    assert [(s.path, s.frames) for s in args.sources] == [("indoor", (0, 600)), ("v.mp4", None)]
    for bad in (["--frames", "0:600", "--video", "v.mp4"], ["--video", "v.mp4", "--frames", "600"],
                ["--video", "v.mp4", "--frames", "600:100"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--config", "light", "--out", "r", *bad])


def test_init_from_starts_a_new_run_from_another_runs_weights(image_folder_and_recipe, tmp_path):
    folder, recipe = image_folder_and_recipe
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["--config", str(recipe), "--images", str(folder), "--out", str(first), "--device", "cpu",
                 "--max-steps", "2"]) == 0
    source = load_checkpoint(first / "checkpoints" / "last.pt")
    assert main(["--config", str(recipe), "--images", str(folder), "--out", str(second), "--device", "cpu",
                 "--max-steps", "0", "--init-from", str(first / "checkpoints" / "last.pt")]) == 0
    started = load_checkpoint(second / "checkpoints" / "last.pt")
    assert started.training_state["step"] == 0
    for name, value in source.model.state_dict().items():
        assert (started.model.state_dict()[name] == value).all(), name
    lineage = started.metadata["initialised_from"]
    assert lineage["path"] == str(first / "checkpoints" / "last.pt") and lineage["step"] == 2
    assert lineage["sources"] == source.metadata["sources"] and lineage["initialised_from"] is None
    # The record survives --resume: a model card can still sum the whole chain.
    assert main(["--config", str(recipe), "--images", str(folder), "--out", str(second), "--device", "cpu",
                 "--max-steps", "1", "--resume"]) == 0
    assert load_checkpoint(second / "checkpoints" / "last.pt").metadata["initialised_from"] == lineage


def test_init_from_takes_another_input_size_refuses_another_architecture_and_resume_together(
        image_folder_and_recipe, tmp_path, capsys):
    folder, recipe = image_folder_and_recipe
    run = tmp_path / "run"
    assert main(["--config", str(recipe), "--images", str(folder), "--out", str(run), "--device", "cpu",
                 "--max-steps", "1"]) == 0
    source = load_checkpoint(run / "checkpoints" / "last.pt")
    wider = tmp_path / "wider.yaml"  # a wider camera: same networks, another input size
    wider.write_text(TINY_RECIPE.replace("input_width: 64", "input_width: 96"))
    assert main(["--config", str(wider), "--images", str(folder), "--out", str(tmp_path / "w"), "--device", "cpu",
                 "--max-steps", "0", "--init-from", str(run / "checkpoints" / "last.pt")]) == 0
    started = load_checkpoint(tmp_path / "w" / "checkpoints" / "last.pt")
    assert started.config.input_size == (32, 96)
    for name, value in source.model.state_dict().items():
        assert (started.model.state_dict()[name] == value).all(), name
    narrower = tmp_path / "narrower.yaml"  # another architecture: refused
    narrower.write_text(TINY_RECIPE.replace("input_width: 64", "input_width: 64, depth_width_multiplier: 0.25"))
    with pytest.raises(Exception, match="only input_height and input_width may differ"):
        main(["--config", str(narrower), "--images", str(folder), "--out", str(tmp_path / "o"), "--device",
              "cpu", "--max-steps", "1", "--init-from", str(run / "checkpoints" / "last.pt")])
    assert main(["--config", str(recipe), "--images", str(folder), "--out", str(run), "--device", "cpu",
                 "--resume", "--init-from", str(run / "checkpoints" / "last.pt")]) == 2
    assert "not both" in capsys.readouterr().err
