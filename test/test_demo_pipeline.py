"""The demo's pipeline end to end at a tiny size: bag player -> the real node process -> recorder.

Real rclpy and DDS on this machine (test/conftest.py keeps discovery local). The model is the real light
network, untrained, so the checks are about plumbing: every played frame reaches the node and every
output comes back with the input's stamp, is recorded to MCAP, and is scored and drawn.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader

from depth_motion_ros.checkpoint import save_checkpoint
from depth_motion_ros.cli.demo import main as demo_main
from depth_motion_ros.cli.demo_analysis import collect_outputs, score, stamp_key, stamp_key_ns
from depth_motion_ros.cli.node_session import NODE_OUTPUTS, run_node_on_bag
from depth_motion_ros.cli.summary import render_summary
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks.model import DepthMotionModel
from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.sources import open_source
from depth_motion_ros.synthetic import writers
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene

PARAMS = SceneParams(width=128, height=64, frames=6, movers=2, seed=2)


def _untrained(path: Path, height: int, width: int) -> Path:
    torch.manual_seed(0)
    save_checkpoint(path, DepthMotionModel(PRESETS["light"].replace(input_height=height, input_width=width)),
                    {"note": "untrained, for plumbing tests"})
    return path


@pytest.mark.slow
def test_player_node_recorder_round_trip(tmp_path: Path) -> None:
    bag = tmp_path / "input_bag"
    writers.write_scene(make_street_scene(PARAMS), None, bag)
    checkpoint = _untrained(tmp_path / "model.pt", 64, 128)
    run = run_node_on_bag(bag, writers.IMAGE_TOPIC, "sensor_msgs/msg/Image", writers.CAMERA_INFO_TOPIC,
                          {"checkpoint": str(checkpoint), "device": "cpu", "backend": "torch"}, tmp_path / "outputs",
                          tmp_path / "node.log", namespace="/pipeline_test")
    assert run.playback.images == PARAMS.frames and run.playback.unanswered == 0

    frames_in = list(open_source("bag", str(bag)))
    input_stamps = [writers.frame_stamp_ns(i / PARAMS.rate_hz) for i in range(PARAMS.frames)]
    counts = Counter(m.topic.removeprefix("/pipeline_test/") for m in run.messages)
    # Lockstep: every frame processed; odometry and motion need a previous frame.
    for topic in ("depth/image", "depth/camera_info", "points"):
        assert counts[topic] == PARAMS.frames, topic
    for topic in ("odom", "motion/field", "motion/mask", "motion/image"):
        assert counts[topic] == PARAMS.frames - 1, topic
    assert sorted(m.stamp_ns for m in run.on("depth/image")) == input_stamps

    with AnyReader([run.recording]) as reader:
        recorded = {c.topic.removeprefix("/pipeline_test/"): (c.msgtype, c.msgcount) for c in reader.connections}
    assert recorded == {topic: (NODE_OUTPUTS[topic], counts[topic]) for topic in NODE_OUTPUTS}

    outputs = collect_outputs(run.messages, run.namespace, camera_mount([0.0] * 6))
    assert len(outputs) == PARAMS.frames and np.allclose(outputs[0].camera_pose, np.eye(4))
    assert all(f.camera_pose is not None and f.points is not None for f in outputs)
    assert outputs[1].depth.ndim == 2 and np.all(np.isfinite(outputs[1].depth))
    inputs = {stamp_key(f.timestamp): f for f in frames_in}
    report = score(outputs, inputs)
    assert report.depth_images == PARAMS.frames and report.pose_frames == PARAMS.frames
    assert report.trajectory_ate is not None and report.depth["abs_rel"] > 0
    picture = render_summary(outputs, {f.stamp_ns: inputs[stamp_key_ns(f.stamp_ns)].rgb for f in outputs},
                             {f.stamp_ns: inputs[stamp_key_ns(f.stamp_ns)].pose for f in outputs}, ["a line"])
    assert picture.ndim == 3 and picture.shape[1] == 1200 and picture.std() > 10


@pytest.mark.slow
def test_demo_command_with_a_given_model_writes_every_promised_output(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the node's default backend exports here
    checkpoint = _untrained(tmp_path / "model.pt", 128, 256)
    out = tmp_path / "demo"
    assert demo_main(["--checkpoint", str(checkpoint), "--frames", "5", "--out", str(out), "--device", "cpu",
                      "--pose-refinement", "rotation"]) == 0
    for name in ("summary.png", "metrics.json", "node.log", "node_outputs", "scene", "input_bag"):
        assert (out / name).exists(), name
    printed = capsys.readouterr().out
    assert "abs rel" in printed and "ATE" in printed and "to beat" in printed and str(out) in printed
    assert "mover IoU" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["depth_images"] == 5 and metrics["pose_frames"] == 5
    assert metrics["object_motion"]["pairs"] == 4, "every one-step pair of the rendered street is scored"
    assert set(metrics["baselines"]) == {"constant", "ramp", "still", "forward"}
    assert metrics["node_parameters"]["pose_refinement"] == "rotation"


def test_demo_rejects_a_missing_input(tmp_path: Path, capsys) -> None:
    assert demo_main(["--video", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "o"),
                      "--checkpoint", str(tmp_path / "m.pt")]) == 2
    assert "depth_motion_demo:" in capsys.readouterr().err
