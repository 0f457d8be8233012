"""The node and `depth_motion_infer` run the same engine (stream.py): on the same frames they give the same depth,
camera poses and object-motion fields.

The node runs over real DDS (test/node_harness.py); `depth_motion_infer` reads the same frames from an image
folder (learned intrinsics, the network's motion) or from a sequence folder whose calibration the node gets
as camera_info (refined motion). The frames are at the network's input size, so neither resizes anything,
and PNG keeps them exact.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image

from depth_motion_ros.cli.infer import build_parser
from depth_motion_ros.cli.infer import main as infer_main
from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.ros.parameters import default_values
from depth_motion_ros.sources import open_source
from depth_motion_ros.sources.poses import read_tum
from depth_motion_ros.synthetic.scene import SceneParams, make_street_scene
from depth_motion_ros.synthetic.writers import write_scene
from depth_motion_ros.transforms import invert_rigid

from node_harness import (  # noqa: F401 (fixtures)
    SMALL_CONFIG,
    camera_info,
    checkpoint,
    depth_array,
    harness_factory,
    pose_matrix,
    raw_image,
    seconds,
    send_and_wait,
    wait_until,
)

pytestmark = pytest.mark.ros

FRAMES = 4
MOUNT = [0.2, 0.0, 1.1, 0.0, 0.1, 0.0]  # any mount: the node's base_link poses are mapped back to the camera


def _frames() -> list[np.ndarray]:
    """Textured frames at the network size, moving a little from one to the next (a smooth pan)."""
    rng = np.random.default_rng(3)
    height, width = SMALL_CONFIG.input_size
    wide = cv2.resize(rng.integers(0, 256, (8, 16, 3), dtype=np.uint8), (2 * width, height),
                      interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(wide[:, 4 * i:4 * i + width]) for i in range(FRAMES)]


def _field_array(msg: Image) -> np.ndarray:
    assert msg.encoding == "32FC3" and msg.step == msg.width * 12 and not msg.is_bigendian
    return np.frombuffer(bytes(msg.data), dtype="<f4").reshape(msg.height, msg.width, 3)


def _calibrated_street(folder: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """A rendered street with two movers written as a sequence folder: its frames and its camera matrix."""
    height, width = SMALL_CONFIG.input_size
    write_scene(make_street_scene(SceneParams(width=width, height=height, frames=FRAMES, movers=2, seed=4)), folder)
    frames = list(open_source("sequence", str(folder)))
    return [frame.rgb for frame in frames], frames[0].intrinsics


def test_the_node_and_depth_motion_infer_have_the_same_default_backend():
    assert build_parser().parse_args(["--images", "x", "--out", "y"]).backend == default_values()["backend"] == "auto"


@pytest.mark.parametrize("pose_refinement, backend", [
    ("none", "torch"), ("full", "torch"),
    # The default: ONNX Runtime here, both from one export in a shared cache (an export is ~20 s, so slow).
    pytest.param("none", "auto", marks=pytest.mark.slow)])
def test_the_node_and_depth_motion_infer_give_the_same_depth_poses_and_fields(harness_factory, checkpoint,
                                                                               tmp_path: Path, pose_refinement,
                                                                               backend):
    if pose_refinement == "none":  # learned intrinsics
        frames, k = _frames(), None
        folder = tmp_path / "frames"
        folder.mkdir()
        for index, rgb in enumerate(frames):
            assert cv2.imwrite(str(folder / f"{index:06d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        source = ["--images", str(folder)]
    else:  # the calibration, which the refinement uses
        frames, k = _calibrated_street(tmp_path / "sequence")
        source = ["--sequence", str(tmp_path / "sequence")]
    out = tmp_path / "infer"
    cache = tmp_path / "onnx_cache"
    assert infer_main([*source, "--out", str(out), "--checkpoint", str(checkpoint), "--device", "cpu",
                       "--no-video", "--pose-refinement", pose_refinement, "--backend", backend,
                       "--onnx-cache", str(cache)]) == 0

    h = harness_factory(publish_points=False, camera_mount=MOUNT, pose_refinement=pose_refinement, backend=backend,
                        cache_dir=str(cache))
    depth_out, odom_out = h.subscribe(Image, "depth/image"), h.subscribe(Odometry, "odom")
    field_out = h.subscribe(Image, "motion/field")
    camera = h.publisher(Image, "image")
    if k is not None:
        h.publisher(CameraInfo, "camera_info").publish(camera_info(k, *SMALL_CONFIG.input_size))
        wait_until(lambda: h.node._camera is not None, "the node to take the camera_info")
    for index, rgb in enumerate(frames):
        send_and_wait(camera, raw_image(rgb, 100.0 + 0.1 * index), depth_out)
    odometry, fields = odom_out.wait_for(FRAMES - 1), field_out.wait_for(FRAMES - 1)

    for index, msg in enumerate(depth_out.messages):
        np.testing.assert_allclose(depth_array(msg), np.load(out / "depth" / f"{index:06d}.npy"), rtol=1e-6)
    mount = camera_mount(MOUNT)
    _, poses = read_tum(out / "trajectory.txt")
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-9)
    for index, msg in enumerate(odometry, start=1):
        node_pose = invert_rigid(mount) @ pose_matrix(msg) @ mount  # base_link in odom -> camera in world
        np.testing.assert_allclose(node_pose, poses[index], atol=1e-6)
    assert not np.allclose(poses[-1], np.eye(4), atol=1e-4), "the camera moved: the comparison is not vacuous"
    stamps = [seconds(msg.header.stamp) for msg in depth_out.messages]
    for index, msg in enumerate(fields):  # the field of the pair (k, k + 1) belongs to frame k
        field = np.load(out / "motion" / f"{index:06d}.npy")
        # The node's field is metres per second; depth_motion_infer's stamps are frame indices (per frame).
        elapsed = stamps[index + 1] - stamps[index]
        np.testing.assert_allclose(_field_array(msg) * elapsed, field, rtol=2e-6, atol=1e-9)
        # Not vacuous at this tolerance: the same field left in the next camera's frame (rotated by the pair's
        # R, row vectors: f @ R^T) would differ, small as the untrained network's rotation is.
        rotation = (invert_rigid(poses[index + 1]) @ poses[index])[:3, :3]
        assert not np.allclose(field @ rotation.T, field, rtol=1e-6, atol=1e-9)
