"""The synthetic writers: the sequence folder and the MCAP bag read back to the rendered ground truth; the CLI."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from depth_motion_ros.sources.sequence_folder import SequenceFolderSource
from depth_motion_ros.synthetic import writers
from depth_motion_ros.synthetic.renderer import SceneRenderer
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene
from depth_motion_ros.synthetic.synth_cli import main as synth_main

PARAMS = SceneParams(width=64, height=32, frames=4, movers=2, seed=5)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("synthetic")
    scene = make_street_scene(PARAMS)
    writers.write_scene(scene, root / "seq", root / "bag")
    return root / "seq", root / "bag"


@pytest.fixture(scope="module")
def truth() -> list:
    return list(SceneRenderer(make_street_scene(PARAMS)))


def test_depth_png_units_round_and_mark_sky_and_out_of_range_as_missing() -> None:
    depth = np.array([[1.0, np.nan], [300.0, 0.01]], dtype=np.float32)
    assert writers.depth_to_png_units(depth).tolist() == [[256, 0], [0, 3]]


def test_sequence_folder_reads_back_through_the_project_source(written, truth) -> None:
    folder, _ = written
    source = SequenceFolderSource(folder)
    frames = list(source)
    assert len(frames) == PARAMS.frames and source.rate_hz == PARAMS.rate_hz
    for frame, expected in zip(frames, truth, strict=True):
        assert np.array_equal(frame.rgb, expected.rgb), "rgb must be lossless"
        assert np.allclose(frame.intrinsics, expected.intrinsics, atol=1e-6)
        assert np.array_equal(np.isnan(frame.depth), np.isnan(expected.depth) | (expected.depth > 255.9))
        near = np.isfinite(frame.depth)
        assert np.allclose(frame.depth[near], expected.depth[near], atol=0.5 / writers.DEPTH_SCALE)
        assert np.allclose(frame.pose, expected.pose, atol=1e-6)
        motion = np.load(folder / "motion" / f"{expected.index:06d}.npy")
        assert motion.dtype == np.float32 and np.array_equal(motion, expected.object_motion)
        assert np.array_equal(frame.object_motion, expected.object_motion)
        movers = cv2.imread(str(folder / "movers" / f"{expected.index:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert movers.dtype == np.uint16 and np.array_equal(movers.astype(int) - 1, expected.mover_id)
    meta = yaml.safe_load((folder / "meta.yaml").read_text())
    scene = make_street_scene(PARAMS)
    assert meta["movers"] == [{"id": i, "kind": m.kind} for i, m in enumerate(scene.movers)]
    assert meta["synthetic_params"]["world"] == "street"


def test_bag_has_every_topic_once_per_frame_with_the_rendered_payloads(written, truth) -> None:
    _, bag = written
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    with AnyReader([bag], default_typestore=typestore) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {t: PARAMS.frames for t in (writers.IMAGE_TOPIC, writers.CAMERA_INFO_TOPIC,
                                                      writers.POSE_TOPIC, writers.DEPTH_TOPIC)}
        by_topic: dict[str, list] = {}
        for connection, timestamp, raw in reader.messages():
            message = reader.deserialize(raw, connection.msgtype)
            stamp = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
            assert stamp == timestamp
            by_topic.setdefault(connection.topic, []).append(message)
    for index, expected in enumerate(truth):
        image = by_topic[writers.IMAGE_TOPIC][index]
        assert (image.encoding, image.height, image.width, image.step) == ("rgb8", 32, 64, 64 * 3)
        assert np.array_equal(np.asarray(image.data).reshape(32, 64, 3), expected.rgb)
        depth = by_topic[writers.DEPTH_TOPIC][index]
        assert depth.encoding == "32FC1"
        assert np.array_equal(np.frombuffer(bytes(depth.data), np.float32).reshape(32, 64), expected.depth,
                              equal_nan=True)
        info = by_topic[writers.CAMERA_INFO_TOPIC][index]
        assert np.allclose(np.asarray(info.k).reshape(3, 3), expected.intrinsics)
        pose = by_topic[writers.POSE_TOPIC][index].pose
        assert [pose.position.x, pose.position.y, pose.position.z] == pytest.approx(expected.pose[:3, 3])
        assert image.header.frame_id == writers.CAMERA_FRAME


def test_cli_writes_a_folder_and_refuses_to_overwrite_a_bag(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path / "seq"), "--bag", str(tmp_path / "bag"), "--frames", "2", "--width", "32",
            "--height", "16", "--movers", "1"]
    assert synth_main(args) == 0
    assert sorted(p.name for p in (tmp_path / "seq" / "rgb").iterdir()) == ["000000.png", "000001.png"]
    assert synth_main(args) == 2
    assert synth_main([]) == 2


def test_batch_mode_writes_one_reproducible_folder_per_seed(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path / "worlds"), "--worlds", "2", "--seed", "40", "--frames", "3", "--width", "48",
            "--height", "24", "--jobs", "2"]
    assert synth_main(args) == 0
    assert sorted(p.name for p in (tmp_path / "worlds").iterdir()) == ["street_000040", "street_000041"]
    alone = tmp_path / "alone"
    assert synth_main(["--out", str(alone), "--seed", "41", "--frames", "3", "--width", "48", "--height", "24"]) == 0
    for sub in ("rgb/000002.png", "depth/000002.png", "motion/000002.npy", "movers/000002.png", "poses.txt"):
        assert (alone / sub).read_bytes() == (tmp_path / "worlds" / "street_000041" / sub).read_bytes(), sub
    assert synth_main(args) == 2, "existing worlds are never overwritten"
