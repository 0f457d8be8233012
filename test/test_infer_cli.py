"""`depth_motion_infer` on every input kind, with its output contract checked file by file.

The model is the real light network, untrained, saved at a small input size: these tests check plumbing
and the contract, not accuracy.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import save_checkpoint
from depth_motion_ros.cli.infer import main as infer_main
from depth_motion_ros.cli.ply import read_ply
from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks.model import DepthMotionModel
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.sources import open_source
from depth_motion_ros.sources.poses import read_tum
from depth_motion_ros.synthetic.renderer import SceneRenderer
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene
from depth_motion_ros.synthetic.writers import write_scene
from depth_motion_ros.transforms import rigid_from_motion

PARAMS = SceneParams(width=96, height=48, frames=5, movers=2, seed=11)
SIZE = (PARAMS.height, PARAMS.width)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("infer_inputs")
    torch.manual_seed(0)
    model = DepthMotionModel(PRESETS["light"].replace(input_height=32, input_width=64))
    save_checkpoint(root / "model.pt", model, {"note": "untrained, for plumbing tests"})
    write_scene(make_street_scene(PARAMS), root / "sequence", root / "bag")
    video = root / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (PARAMS.width, PARAMS.height))
    for frame in SceneRenderer(make_street_scene(PARAMS)):
        writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return {"checkpoint": root / "model.pt", "sequence": root / "sequence", "bag": root / "bag",
            "images": root / "sequence" / "rgb", "video": video}


def _run(inputs: dict[str, Path], kind: str, out: Path, *extra: str) -> int:
    return infer_main([f"--{kind}", str(inputs[kind]), "--out", str(out), "--checkpoint", str(inputs["checkpoint"]),
                       "--device", "cpu", *extra])


def _check_contract(out: Path, frames: int, points: bool) -> None:
    stems = [f"{i:06d}" for i in range(frames)]
    assert sorted(p.stem for p in (out / "depth").glob("*.npy")) == stems
    for stem in stems:
        depth = np.load(out / "depth" / f"{stem}.npy")
        assert depth.dtype == np.float32 and depth.shape == SIZE
        assert np.all(np.isfinite(depth)) and np.all(depth > 0)
        vis = cv2.imread(str(out / "depth_vis" / f"{stem}.png"))
        assert vis.shape == (*SIZE, 3)
    assert sorted(p.stem for p in (out / "motion").glob("*.npy")) == stems[:-1], "no next frame for the last"
    motion = np.load(out / "motion" / f"{stems[0]}.npy")
    assert motion.dtype == np.float32 and motion.shape == (*SIZE, 3)
    times, poses = read_tum(out / "trajectory.txt")
    assert len(times) == frames and np.allclose(poses[0], np.eye(4))
    assert np.all(np.diff(times) > 0)
    intrinsics = [line.split() for line in (out / "intrinsics.txt").read_text().splitlines()[1:]]
    assert [row[0] for row in intrinsics] == stems and all(row[5] in ("given", "learned") for row in intrinsics)
    capture = cv2.VideoCapture(str(out / "video.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 3 * PARAMS.width
    capture.release()
    assert (out / "points").is_dir() == points
    if points:
        assert sorted(p.stem for p in (out / "points").glob("*.ply")) == stems
        vertices = read_ply(out / "points" / f"{stems[2]}.ply")
        depth = np.load(out / "depth" / f"{stems[2]}.npy")
        assert len(vertices) == depth.size
        assert np.allclose(np.sort(vertices["z"]), np.sort(depth.reshape(-1)))


@pytest.mark.parametrize("kind", ["sequence", "images", "video", "bag"])
def test_every_input_kind_produces_the_full_output_contract(inputs, tmp_path, kind) -> None:
    assert _run(inputs, kind, tmp_path / "out", "--points") == 0
    _check_contract(tmp_path / "out", PARAMS.frames, points=True)


def test_sequence_uses_its_given_intrinsics_and_images_learn_them(inputs, tmp_path) -> None:
    assert _run(inputs, "sequence", tmp_path / "seq", "--no-video") == 0
    assert _run(inputs, "images", tmp_path / "img", "--no-video") == 0
    K = make_street_scene(PARAMS).intrinsics
    given = (tmp_path / "seq" / "intrinsics.txt").read_text().splitlines()[1].split()
    assert [float(v) for v in given[1:5]] == pytest.approx([K[0, 0], K[1, 1], K[0, 2], K[1, 2]], rel=1e-5)
    assert given[5] == "given"
    assert (tmp_path / "img" / "intrinsics.txt").read_text().splitlines()[1].split()[5] == "learned"
    assert not (tmp_path / "seq" / "video.mp4").exists()


def test_trajectory_chains_the_inverse_of_each_predicted_pair_motion(inputs, tmp_path) -> None:
    assert _run(inputs, "sequence", tmp_path / "out", "--no-video", "--end", "3") == 0
    _, poses = read_tum(tmp_path / "out" / "trajectory.txt")
    predictor = DepthMotionPredictor.from_checkpoint(inputs["checkpoint"], device="cpu")
    rgb = [predictor.prepare(cv2.cvtColor(cv2.imread(str(inputs["images"] / f"{i:06d}.png")), cv2.COLOR_BGR2RGB))
           for i in range(3)]
    depth = [predictor.depth(x) for x in rgb]
    expected = np.eye(4)
    for i in range(1, 3):
        output = predictor.motion(rgb[i - 1], depth[i - 1], rgb[i], depth[i])
        rotation, _ = cv2.Rodrigues(output.rotation[0].double().numpy())
        t_21 = np.eye(4)
        t_21[:3, :3], t_21[:3, 3] = rotation, output.translation[0].double().numpy()
        expected = expected @ np.linalg.inv(t_21)
        assert np.allclose(poses[i], expected, atol=1e-5)


def test_pose_refinement_refines_each_pair_with_the_sequences_own_intrinsics(inputs, tmp_path) -> None:
    assert _run(inputs, "sequence", tmp_path / "out", "--no-video", "--end", "3", "--pose-refinement", "full") == 0
    _, poses = read_tum(tmp_path / "out" / "trajectory.txt")
    predictor = DepthMotionPredictor.from_checkpoint(inputs["checkpoint"], device="cpu")
    frames = list(open_source("sequence", inputs["sequence"], end=3))
    rgb = [predictor.prepare(frame.rgb) for frame in frames]
    depth = [predictor.depth(x) for x in rgb]
    expected = np.eye(4)
    for i in range(1, 3):
        output = predictor.motion(rgb[i - 1], depth[i - 1], rgb[i], depth[i])
        k = torch.as_tensor(predictor.intrinsics_at_input(frames[i].intrinsics, SIZE), dtype=torch.float32)[None]
        rotation, translation = refine_motion(rgb[i - 1], depth[i - 1], rgb[i], k, output.rotation,
                                              output.translation, AlignmentOptions(mode="full"))
        expected = expected @ np.linalg.inv(rigid_from_motion(rotation[0].double().numpy(),
                                                              translation[0].double().numpy()))
        assert np.allclose(poses[i], expected, atol=1e-5)


def test_eval_scores_a_sequence_and_a_bag_against_their_ground_truth(inputs, tmp_path) -> None:
    for kind in ("sequence", "bag"):
        out = tmp_path / kind
        assert _run(inputs, kind, out, "--no-video", "--eval") == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["frames"] == metrics["depth_images"] == metrics["pose_frames"] == PARAMS.frames
        assert 0.0 <= metrics["depth"]["a1"] <= 1.0 and metrics["depth"]["abs_rel"] > 0.0
        assert metrics["snippets"] == PARAMS.frames - 4 and metrics["trajectory_ate"] >= 0.0


@pytest.mark.slow
def test_onnx_backend_gives_the_torch_backends_outputs(inputs, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))   # the ONNX export cache of this test only
    assert _run(inputs, "sequence", tmp_path / "torch", "--no-video") == 0
    assert _run(inputs, "sequence", tmp_path / "onnx", "--no-video", "--backend", "onnx") == 0
    assert any((tmp_path / "cache").rglob("*.onnx")), "the onnx backend did not export the model"
    for name in sorted(p.name for p in (tmp_path / "torch" / "depth").glob("*.npy")):
        np.testing.assert_allclose(np.load(tmp_path / "onnx" / "depth" / name),
                                   np.load(tmp_path / "torch" / "depth" / name), rtol=1e-3, atol=1e-5)
    torch_poses = read_tum(tmp_path / "torch" / "trajectory.txt")[1]
    onnx_poses = read_tum(tmp_path / "onnx" / "trajectory.txt")[1]
    np.testing.assert_allclose(onnx_poses, torch_poses, atol=1e-4)


def test_bad_arguments_fail_with_exit_code_2(inputs, tmp_path, capsys) -> None:
    assert _run({**inputs, "sequence": tmp_path / "missing"}, "sequence", tmp_path / "o") == 2
    assert "depth_motion_infer:" in capsys.readouterr().err
    assert _run(inputs, "video", tmp_path / "o", "--topic", "/x") == 2
    assert _run(inputs, "bag", tmp_path / "o", "--topic", "/groundtruth/pose") == 2
    assert _run({**inputs, "checkpoint": tmp_path / "none.pt"}, "sequence", tmp_path / "o") == 2


def test_real_compressed_bag_with_ground_truth(inputs, tmp_path, shared_data) -> None:
    bag = shared_data / "bags" / "7scenes_redkitchen_25f_ros2_mcap"
    out = tmp_path / "kitchen"
    assert infer_main(["--bag", str(bag), "--out", str(out), "--checkpoint", str(inputs["checkpoint"]),
                       "--device", "cpu", "--no-video", "--eval", "--max-depth", "10", "--end", "6"]) == 0
    depth = np.load(out / "depth" / "000000.npy")
    assert depth.shape == (480, 640), "depth at the input resolution, not the network's"
    assert (out / "intrinsics.txt").read_text().splitlines()[1].split()[5] == "given", "camera_info is used"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["depth_images"] == 6 and metrics["pose_frames"] == 6
