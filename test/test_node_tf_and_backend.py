"""The node on a robot, over real DDS (test/node_harness.py): where the camera mount comes from and what goes on
TF (REP 105), odometry that goes on across a model change, and the backend chosen by default with its report.

The TF tests of a ROS 2 distro (tf2_ros and tf2_msgs importable) are skipped with the PyPI wheels, which have
neither; there the node says what it does not publish, which is tested instead.
"""
# Fixtures are imported by name from node_harness and then requested as arguments, which pyflakes reads
# as redefinitions:
# ruff: noqa: F811
from __future__ import annotations

import importlib.util
import shutil
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import Image

from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.ros.odometry_msgs import transform_matrix, transform_message

from node_harness import (  # noqa: F401 (fixtures)
    Collector,
    NodeHarness,
    checkpoint,
    depth_array,
    expected_depth,
    harness_factory,
    logged,
    pose_matrix,
    raw_image,
    reference_predictor,
    scene,
    seconds,
    send_and_wait,
    wait_until,
)

pytestmark = pytest.mark.ros

HAVE_TF2_MSGS = importlib.util.find_spec("tf2_msgs") is not None
HAVE_TF2_ROS = importlib.util.find_spec("tf2_ros") is not None
MOUNT = [0.3, -0.05, 0.9, 0.0, 0.2, 0.1]


def _diagnostic_values(h: NodeHarness, diagnostics: Collector) -> dict[str, str]:
    """The values of the next DiagnosticStatus that follows a processed frame."""
    count = len(diagnostics)
    status = diagnostics.wait_for(count + 1)[-1].status[0]
    return {v.key: v.value for v in status.values}


def _odometry_after_a_pair(h: NodeHarness, first: float = 10.0) -> np.ndarray:
    depth_out, odom_out = h.subscribe(Image, "depth/image"), h.subscribe(Odometry, "odom")
    camera = h.publisher(Image, "image")
    send_and_wait(camera, raw_image(scene(12), first), depth_out)
    send_and_wait(camera, raw_image(scene(13), first + 0.1), depth_out)
    return pose_matrix(odom_out.wait_for(1)[-1])


def test_odometry_goes_on_from_the_last_pose_when_the_model_changes(harness_factory, checkpoint, tmp_path):
    """The same weights under another path: a reload, so the pair after it repeats the first step exactly, and
    the pose is the first step twice (a reset would give the first step once)."""
    h = harness_factory()
    rosout = h.subscribe_rosout()
    depth_out, odom_out = h.subscribe(Image, "depth/image"), h.subscribe(Odometry, "odom")
    camera = h.publisher(Image, "image")
    a, b = scene(12), scene(13)
    send_and_wait(camera, raw_image(a, 10.0), depth_out)
    send_and_wait(camera, raw_image(b, 10.1), depth_out)
    first_step = pose_matrix(odom_out.wait_for(1)[0])
    assert not np.allclose(first_step, np.eye(4), atol=1e-6), "the step moves: the comparison is not vacuous"
    copy = tmp_path / "same_weights.pt"
    shutil.copyfile(checkpoint, copy)
    (result,) = h.node.set_parameters([Parameter("checkpoint", value=str(copy))])
    assert result.successful, result.reason
    wait_until(logged(rosout, "odometry goes on from the last pose", Log.INFO), "the model-switch message")
    send_and_wait(camera, raw_image(a, 10.2), depth_out)  # no pair across the switch
    send_and_wait(camera, raw_image(b, 10.3), depth_out)
    odometry = odom_out.wait_for(2)
    assert [seconds(m.header.stamp) for m in odometry] == pytest.approx([10.1, 10.3])
    np.testing.assert_allclose(pose_matrix(odometry[-1]), first_step @ first_step, atol=1e-6)


@pytest.mark.skipif(HAVE_TF2_MSGS or HAVE_TF2_ROS, reason="the PyPI wheels' case: no tf2_ros, no tf2_msgs")
@pytest.mark.parametrize("publish_camera_mount", [False, True])
def test_without_tf2_the_mount_is_the_parameter_and_the_node_says_what_it_does_not_publish(
        harness_factory, publish_camera_mount):
    h = harness_factory(camera_mount=MOUNT, publish_camera_mount=publish_camera_mount, diagnostics_period=0.2)
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    _odometry_after_a_pair(h)
    mount = _diagnostic_values(h, diagnostics)["camera mount"]
    if publish_camera_mount:
        assert mount.startswith("camera_mount parameter (tf2_msgs is not importable")
        assert mount.endswith("nothing is published on /tf_static)")
    else:
        assert mount.startswith("camera_mount parameter (no TF lookup, tf2_ros is not importable")
    assert h.probe.count_publishers("/tf_static") == 0 and h.probe.count_publishers("/tf") == 0
    np.testing.assert_array_equal(h.node._mount, camera_mount(MOUNT))


@pytest.mark.skipif(not HAVE_TF2_MSGS, reason="needs tf2_msgs (a ROS 2 distro)")
def test_publish_camera_mount_latches_the_mount_on_tf_static(harness_factory):
    from tf2_msgs.msg import TFMessage

    h = harness_factory(camera_mount=MOUNT, publish_camera_mount=True, camera_frame="front_camera_optical")
    received = Collector("/tf_static")
    # Created after the node published: only a transient-local publisher reaches it.
    h.probe.create_subscription(TFMessage, "/tf_static", received, QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    (transform,) = received.wait_for(1)[0].transforms
    assert (transform.header.frame_id, transform.child_frame_id) == ("base_link", "front_camera_optical")
    np.testing.assert_allclose(transform_matrix(transform), camera_mount(MOUNT), atol=1e-9)
    moved = [0.1, 0.0, 1.2, 0.0, 0.0, 0.0]
    (result,) = h.node.set_parameters([Parameter("camera_mount", value=moved)])
    assert result.successful, result.reason
    np.testing.assert_allclose(transform_matrix(received.wait_for(2)[-1].transforms[0]), camera_mount(moved),
                               atol=1e-9)


@pytest.mark.skipif(not (HAVE_TF2_MSGS and HAVE_TF2_ROS), reason="needs tf2_ros and tf2_msgs (a ROS 2 distro)")
def test_the_mount_is_looked_up_in_tf_when_the_robot_description_has_it(harness_factory):
    """TF's base_link -> camera_optical (as robot_state_publisher would latch it) gives the odometry of a node
    whose camera_mount parameter is that mount, while the parameter here says something else."""
    from tf2_msgs.msg import TFMessage

    reference = harness_factory(camera_mount=MOUNT, publish_odom=True)
    expected = _odometry_after_a_pair(reference)
    h = harness_factory(namespace="/robot", camera_mount=[0.0] * 6, diagnostics_period=0.2)
    static = h.probe.create_publisher(TFMessage, "/tf_static", QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    header: Any = TransformStamped().header
    header.frame_id = "base_link"
    static.publish(TFMessage(transforms=[transform_message(camera_mount(MOUNT), header, "camera_optical")]))
    wait_until(lambda: h.node._mount_tf._buffer.can_transform("base_link", "camera_optical", Time()),
               "the node's TF buffer to hold base_link -> camera_optical")
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    np.testing.assert_allclose(_odometry_after_a_pair(h), expected, atol=1e-6)
    assert _diagnostic_values(h, diagnostics)["camera mount"] == "TF base_link -> camera_optical"


@pytest.mark.slow
def test_auto_backend_runs_onnx_runtime_from_one_cached_export_and_says_so(checkpoint, reference_predictor,
                                                                           tmp_path):
    """The default backend on this CPU is ONNX Runtime: the first node exports into cache_dir, the second opens
    the same files (not written again); both report backend, provider and file on /diagnostics, and give the
    PyTorch model's depth to float tolerance."""
    reports, depths, stamps = [], [], []
    for _ in range(2):
        h = NodeHarness(checkpoint, backend="auto", cache_dir=str(tmp_path), diagnostics_period=0.2)
        try:
            diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
            depth_out = h.subscribe(Image, "depth/image")
            camera = h.publisher(Image, "image")
            depths.append(depth_array(send_and_wait(camera, raw_image(scene(15), 90.0), depth_out)))
            reports.append(_diagnostic_values(h, diagnostics))
            stamps.append(sorted(p.stat().st_mtime_ns for p in tmp_path.iterdir()))
        finally:
            h.close()
    files = sorted(tmp_path.iterdir())
    assert [p.name.rsplit(".", 2)[1:] for p in files] == [["depth", "onnx"], ["motion", "onnx"]]
    assert stamps[0] == stamps[1], "the second node opened the export, it did not write it again"
    prefix = str(files[0]).removesuffix(".depth.onnx")
    for report, origin in zip(reports, ("exported now in ", "from the cache"), strict=True):
        assert report["backend"] == "onnx (auto: ONNX Runtime on the CPU)"
        assert report["execution"] == "CPUExecutionProvider"
        assert report["onnx export"].startswith(f"{prefix}.{{depth,motion}}.onnx ({origin}")
        assert report["model"].endswith("onnx on CPUExecutionProvider")
    for depth in depths:
        np.testing.assert_allclose(depth, expected_depth(reference_predictor, scene(15)), rtol=1e-4)
