"""The node over real DDS (test/node_harness.py): camera-like publishers, subscribers on every output.

The model is an untrained checkpoint of the real networks at a small input size: these tests check
plumbing and known answers that do not depend on training (identical inputs give identical depth, scale
multiplies depth exactly, odometry after a reset repeats the first step exactly).
"""
# Fixtures are imported by name from node_harness and then requested as arguments, which pyflakes reads
# as redefinitions:
# ruff: noqa: F811
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import Log
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Trigger

from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.image_rectification import Calibration, Rectifier
from depth_motion_ros.ros import node as node_module
from depth_motion_ros.ros.node import NO_MODEL_MESSAGE, DepthMotionNode, StartupError

from node_harness import (  # noqa: F401 (fixtures)
    IMAGE_H,
    IMAGE_W,
    TIMEOUT,
    NodeHarness,
    call_service,
    camera_info,
    checkpoint,
    compressed_image,
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
    stamp,
    wait_until,
)

pytestmark = pytest.mark.ros


# ---------------------------------------------------------------------------------------------- tests
def test_every_output_with_learned_intrinsics_in_a_namespace(harness_factory, reference_predictor):
    h = harness_factory(namespace="/front")
    outputs = {name: h.subscribe(t, name) for name, t in [
        ("depth/image", Image), ("depth/camera_info", CameraInfo), ("points", PointCloud2), ("odom", Odometry),
        ("motion/field", Image), ("motion/mask", Image), ("motion/image", Image)]}
    camera = h.publisher(Image, "image")
    frames = [(scene(1), 100.0), (scene(2), 100.1), (scene(1), 100.2)]
    for rgb, t in frames:
        send_and_wait(camera, raw_image(rgb, t), outputs["depth/image"])
    odom = outputs["odom"].wait_for(2)
    for name in ("motion/field", "motion/mask", "motion/image"):
        outputs[name].wait_for(2)
    depth_msgs = outputs["depth/image"].messages
    assert [seconds(m.header.stamp) for m in depth_msgs] == pytest.approx([t for _, t in frames])
    assert all(m.header.frame_id == "camera_optical" for m in depth_msgs)
    depth = depth_array(depth_msgs[0])
    assert depth.shape == (64, 96)
    np.testing.assert_array_equal(depth, expected_depth(reference_predictor, frames[0][0]))
    info = outputs["depth/camera_info"].wait_for(3)[0]
    k = np.reshape(info.k, (3, 3))
    assert (info.height, info.width) == (64, 96) and info.header.frame_id == "camera_optical"
    assert np.all(np.isfinite(k)) and k[0, 0] > 0 and k[1, 1] > 0 and k[2, 2] == 1.0
    cloud = outputs["points"].wait_for(3)[0]
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (32, 48, 32, 48 * 32)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"] and not cloud.is_dense
    assert [seconds(m.header.stamp) for m in odom] == pytest.approx([100.1, 100.2])
    assert all(m.header.frame_id == "odom" and m.child_frame_id == "base_link" for m in odom)
    field = outputs["motion/field"].messages[0]
    assert (field.encoding, field.height, field.width, field.step) == ("32FC3", 64, 96, 96 * 12)
    for name in ("motion/field", "motion/mask", "motion/image"):  # each belongs to the earlier frame of its pair
        assert [seconds(m.header.stamp) for m in outputs[name].messages] == pytest.approx([100.0, 100.1])
        assert all(m.header.frame_id == "camera_optical" for m in outputs[name].messages)
    mask = np.frombuffer(bytes(outputs["motion/mask"].messages[0].data), np.uint8)
    assert outputs["motion/mask"].messages[0].encoding == "mono8" and set(np.unique(mask)) <= {0, 255}
    assert outputs["motion/image"].messages[0].encoding == "rgb8"


def test_every_raw_encoding_gives_the_same_depth(harness_factory, reference_predictor):
    h = harness_factory()
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    grey = scene(3, grey=True)
    expected = expected_depth(reference_predictor, grey)
    variants = [("rgb8", 0, False), ("bgr8", 4, False), ("rgba8", 0, False), ("bgra8", 8, False),
                ("mono8", 3, False)]
    for index, (encoding, pad, big_endian) in enumerate(variants):
        out = send_and_wait(camera, raw_image(grey, 10.0 + index, encoding, pad, big_endian), depth_out)
        np.testing.assert_array_equal(depth_array(out), expected, err_msg=f"{encoding} pad={pad}")


def test_compressed_input_png_exact_jpeg_close_and_corrupt_survived(harness_factory, reference_predictor):
    h = harness_factory(input_transport="compressed")
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(CompressedImage, "image/compressed")
    rgb = scene(4)
    png = send_and_wait(camera, compressed_image(rgb, 1.0, "png"), depth_out)
    np.testing.assert_array_equal(depth_array(png), expected_depth(reference_predictor, rgb))
    jpeg = send_and_wait(camera, compressed_image(rgb, 1.1, "jpeg"), depth_out)
    assert np.abs(depth_array(jpeg) - depth_array(png)).max() < 0.05 * float(depth_array(png).max())
    corrupt = CompressedImage(format="jpeg", data=b"\xff\xd8\xff\xe0 not really a jpeg")
    corrupt.header.stamp = stamp(1.2)
    camera.publish(corrupt)
    wait_until(logged(rosout, "payload is corrupt", Log.WARN), "the corrupt-JPEG warning")
    after = send_and_wait(camera, compressed_image(rgb, 1.3, "png"), depth_out)
    assert seconds(after.header.stamp) == pytest.approx(1.3)


def test_compressed_input_follows_the_remapped_image_topic(harness_factory, reference_predictor):
    """image_transport's naming: remapping 'image' moves the compressed subscription to '<image>/compressed'."""
    h = harness_factory(namespace="/front", input_transport="compressed",
                        remap={"image": "/camera/color/image_raw"})
    assert h.node._image_subscription.topic_name == "/camera/color/image_raw/compressed"
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(CompressedImage, "/camera/color/image_raw/compressed")
    rgb = scene(4)
    out = send_and_wait(camera, compressed_image(rgb, 1.0, "png"), depth_out)
    np.testing.assert_array_equal(depth_array(out), expected_depth(reference_predictor, rgb))


def test_camera_info_is_used_and_bad_ones_fall_back_to_learned(harness_factory):
    h = harness_factory(publish_points=False)
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    info_out = h.subscribe(CameraInfo, "depth/camera_info")
    camera = h.publisher(Image, "image")
    info_pub = h.publisher(CameraInfo, "camera_info")
    k = np.array([[70.0, 0, 39.5], [0, 72.0, 29.5], [0, 0, 1]])
    expected_k = resize_intrinsics(k, (IMAGE_H, IMAGE_W), (64, 96))
    frame = iter(range(1000))

    def published_k(info: CameraInfo | None = None) -> np.ndarray:
        if info is not None:
            info_pub.publish(info)
        send_and_wait(camera, raw_image(scene(5), 20.0 + 0.1 * next(frame)), depth_out)
        return np.reshape(info_out.wait_for(len(depth_out))[-1].k, (3, 3))

    wait_until(lambda: np.allclose(published_k(camera_info(k)), expected_k), "camera_info intrinsics in use")
    nan_info = camera_info(k)
    nan_info.k[0] = float("nan")
    info_pub.publish(nan_info)
    wait_until(logged(rosout, "K contains NaN", Log.WARN), "the NaN camera_info warning")
    np.testing.assert_allclose(published_k(), expected_k)  # the last good camera_info stays in use
    wait_until(lambda: not np.allclose(published_k(camera_info(k * [[2], [2], [1]], 120, 160)), expected_k),
               "learned intrinsics after a camera_info of another size")
    wait_until(logged(rosout, "camera_info is for 160x120 but the image is 80x60", Log.WARN),
               "the size-mismatch warning")


#: A camera with barrel distortion whose rectified camera P is zoomed out from K.
LENS_K = np.array([[70.0, 0, 39.5], [0, 72.0, 29.5], [0, 0, 1]])
LENS_P = np.hstack([LENS_K * [[0.8], [0.8], [1.0]], np.zeros((3, 1))])
LENS_D = [-0.28, 0.07, 0.0002, 0.00002, 0.0]


def lens_outputs(h: NodeHarness, image_topic: str, rgb: np.ndarray,
                 info: CameraInfo) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """A call that sends `info` and one frame of `rgb` and returns the node's depth and published K."""
    depth_out = h.subscribe(Image, "depth/image")
    info_out = h.subscribe(CameraInfo, "depth/camera_info")
    camera = h.publisher(Image, image_topic)
    info_pub = h.publisher(CameraInfo, "camera_info")
    frame = iter(range(1000))

    def outputs() -> tuple[np.ndarray, np.ndarray]:
        info_pub.publish(info)
        depth = depth_array(send_and_wait(camera, raw_image(rgb, 20.0 + 0.1 * next(frame)), depth_out))
        return depth, np.reshape(info_out.wait_for(len(depth_out))[-1].k, (3, 3))

    return outputs


def lens_camera_info() -> CameraInfo:
    info = camera_info(LENS_K)
    info.d, info.p = list(LENS_D), [float(v) for v in LENS_P.reshape(12)]
    return info


def test_distorted_images_are_rectified_to_the_camera_of_p(harness_factory, reference_predictor):
    h = harness_factory(publish_points=False)
    rosout = h.subscribe_rosout()
    info, rgb = lens_camera_info(), scene(5)
    outputs = lens_outputs(h, "image", rgb, info)
    rectified_rgb = Rectifier(Calibration.from_fields(LENS_K, LENS_D, "plumb_bob", np.zeros(9), LENS_P,
                                                      (IMAGE_H, IMAGE_W))).rectify(rgb)
    rectified_k = resize_intrinsics(LENS_P[:, :3], (IMAGE_H, IMAGE_W), (64, 96))
    wait_until(lambda: np.allclose(outputs()[1], rectified_k), "the rectified camera in depth/camera_info")
    depth, _ = outputs()
    np.testing.assert_allclose(depth, expected_depth(reference_predictor, rectified_rgb), rtol=1e-4)
    assert not np.allclose(depth, expected_depth(reference_predictor, rgb), rtol=1e-2)

    # An image_rect input: P is its camera and nothing is remapped; the change breaks the pair.
    _set_parameters(h, input_rectification="rectified")
    wait_until(lambda: np.allclose(outputs()[0], expected_depth(reference_predictor, rgb), rtol=1e-4),
               "the image as received once it is declared rectified")
    np.testing.assert_allclose(outputs()[1], rectified_k)
    wait_until(logged(rosout, "the images' rectification changed", Log.INFO), "the pair-break log line")

    _set_parameters(h, input_rectification="raw")
    info.distortion_model = "kannala_brandt"
    outputs()
    wait_until(logged(rosout, "not rectifying the images: distortion model 'kannala_brandt'", Log.WARN),
               "the unsupported-model warning")
    np.testing.assert_allclose(outputs()[0], expected_depth(reference_predictor, rgb), rtol=1e-4)


def test_an_image_rect_topic_is_taken_as_rectified(harness_factory, reference_predictor):
    h = harness_factory(publish_points=False, remap={"image": "camera/image_rect"})
    rgb = scene(6)
    outputs = lens_outputs(h, "camera/image_rect", rgb, lens_camera_info())
    rectified_k = resize_intrinsics(LENS_P[:, :3], (IMAGE_H, IMAGE_W), (64, 96))
    wait_until(lambda: np.allclose(outputs()[1], rectified_k), "P's matrix in depth/camera_info")
    np.testing.assert_allclose(outputs()[0], expected_depth(reference_predictor, rgb), rtol=1e-4)


def test_health_on_diagnostics_goes_from_stale_to_ok_and_warns_about_the_camera(harness_factory):
    h = harness_factory(publish_points=False, diagnostics_period=0.2)
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    info_pub = h.publisher(CameraInfo, "camera_info")
    t = iter(range(1000))

    def first_status(predicate: Callable[[Any], bool], what: str, with_frames: bool) -> Any:
        """The first new status that satisfies `predicate`, sending a frame before each when asked."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            count = len(diagnostics)
            if with_frames:
                send_and_wait(camera, raw_image(scene(4), 40.0 + 0.1 * next(t)), depth_out)
            status = diagnostics.wait_for(count + 1)[-1].status[0]
            if predicate(status):
                return status
        pytest.fail(f"timed out waiting for {what}")

    stale = first_status(lambda s: s.level == DiagnosticStatus.STALE, "STALE before any image", with_frames=False)
    assert stale.name == "depth_motion: camera processing" and stale.hardware_id == "/image"
    assert {v.key: v.value for v in stale.values}["received in this period"] == "0"
    ok = first_status(lambda s: s.level == DiagnosticStatus.OK and "processing" in s.message,
                      "OK while frames are processed", with_frames=True)
    values = {v.key: v.value for v in ok.values}
    assert float(values["processed (Hz)"]) > 0 and values["intrinsics_source"] == "auto"
    assert int(values["received in this period"]) >= 1  # counted at the callback (bench/bench_delivery.py)
    info_pub.publish(camera_info(np.array([[140.0, 0, 79.5], [0, 144.0, 59.5], [0, 0, 1]]), 120, 160))
    warned = first_status(lambda s: s.level == DiagnosticStatus.WARN and "camera_info is for 160x120" in s.message,
                          "WARN about the camera_info's size", with_frames=True)
    assert {v.key: v.value for v in warned.values}["camera_info"].startswith("160x120")


def test_camera_info_source_without_camera_info_publishes_depth_only(harness_factory):
    h = harness_factory(intrinsics_source="camera_info")
    depth_out = h.subscribe(Image, "depth/image")
    info_out = h.subscribe(CameraInfo, "depth/camera_info")
    points_out = h.subscribe(PointCloud2, "points")
    camera = h.publisher(Image, "image")
    for i in range(3):
        send_and_wait(camera, raw_image(scene(6), 30.0 + 0.1 * i), depth_out)
    assert len(info_out) == 0 and len(points_out) == 0


def test_bad_raw_images_are_dropped_with_a_warning_and_the_node_keeps_going(harness_factory):
    h = harness_factory()
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    good = raw_image(scene(7), 40.0)
    unknown = raw_image(scene(7), 40.1)
    unknown.encoding = "yuv422"
    short = raw_image(scene(7), 40.2)
    short.data = bytes(short.data)[:-10]
    empty = Image(height=0, width=0, encoding="rgb8", step=0)
    empty.header.stamp = stamp(40.3)
    depth_camera = raw_image(scene(7), 40.4, "mono16")
    depth_camera.encoding = "16UC1"
    send_and_wait(camera, good, depth_out)
    # Four different reasons within a second: each is logged (warnings throttle per reason, not per call site).
    reasons = ["unsupported image encoding 'yuv422'", "shorter than height*step", "zero size",
               "'16UC1' is a depth encoding, not a camera image"]
    for index, (bad, reason) in enumerate(zip((unknown, short, empty, depth_camera), reasons, strict=True)):
        camera.publish(bad)
        wait_until(logged(rosout, reason, Log.WARN), f"the warning '{reason}'")
        send_and_wait(camera, raw_image(scene(7), 41.0 + index), depth_out)
    stamps = [seconds(m.header.stamp) for m in depth_out.messages]
    assert stamps == pytest.approx([40.0, 41.0, 42.0, 43.0, 44.0])
    # The same reason again within the throttle period is held back, and counted with the next one let through.
    before = sum("zero size" in m.msg for m in rosout.messages)
    camera.publish(empty)
    send_and_wait(camera, raw_image(scene(7), 45.0), depth_out)
    assert sum("zero size" in m.msg for m in rosout.messages) == before


def test_messages_of_every_severity_leave_the_node_processing(harness_factory):
    """rclpy refuses a logging call site whose severity changes between calls: a warning, then an info (the
    time jumping back), then more images must all go through one node without killing its worker."""
    h = harness_factory()
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    send_and_wait(camera, raw_image(scene(7), 50.0), depth_out)
    bad = raw_image(scene(7), 50.5)
    bad.encoding = "yuv422"
    camera.publish(bad)
    wait_until(logged(rosout, "unsupported image encoding", Log.WARN), "the warning")
    send_and_wait(camera, raw_image(scene(7), 40.0), depth_out)
    wait_until(logged(rosout, "jumped back", Log.INFO), "the time jump, said at info level")
    send_and_wait(camera, raw_image(scene(7), 41.0), depth_out)
    assert [seconds(m.header.stamp) for m in depth_out.messages] == pytest.approx([50.0, 40.0, 41.0])


def test_an_image_without_frame_id_is_published_in_camera_frame_said_once(harness_factory):
    h = harness_factory(camera_frame="front_camera_optical")
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    for index in range(3):
        image = raw_image(scene(7), 50.0 + 0.1 * index)
        image.header.frame_id = "" if index < 2 else "camera_optical"
        send_and_wait(camera, image, depth_out)
    assert [m.header.frame_id for m in depth_out.messages] == [
        "front_camera_optical", "front_camera_optical", "camera_optical"]
    wait_until(logged(rosout, "have no frame_id", Log.WARN), "the missing frame_id warning")
    assert sum("have no frame_id" in m.msg for m in rosout.messages) == 1


@pytest.mark.parametrize("input_reliability, camera_reliability, output_reliability", [
    ("reliable", "reliable", "best_effort"),
    ("best_effort", "reliable", "reliable"),
])
def test_qos_reliability_settings_connect(harness_factory, input_reliability, camera_reliability,
                                          output_reliability):
    h = harness_factory(input_reliability=input_reliability, output_reliability=output_reliability)
    depth_out = h.subscribe(Image, "depth/image", reliability=output_reliability)
    camera = h.publisher(Image, "image", reliability=camera_reliability)
    out = send_and_wait(camera, raw_image(scene(8), 50.0), depth_out)
    assert seconds(out.header.stamp) == pytest.approx(50.0)


def test_reliable_input_does_not_match_a_best_effort_camera(harness_factory):
    """The reason inputs default to best effort: a reliable subscription never hears a best-effort camera."""
    h = harness_factory(input_reliability="reliable")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    camera = h.probe.create_publisher(Image, "/image", qos)
    control = h.probe.create_subscription(Image, "/image", lambda _: None, qos)
    wait_until(lambda: control.get_publisher_count() > 0, "discovery of the camera")
    wait_until(lambda: h.probe.count_subscribers("/image") == 2, "discovery of the node's subscription")
    assert camera.get_subscription_count() == 1  # only the probe's own best-effort subscription


@pytest.mark.parametrize("input_depth", [1, 50])
def test_fast_camera_frames_are_dropped_and_the_newest_is_processed(harness_factory, input_depth):
    """Depth 1 drops in DDS already; with a deep reliable queue the single slot drops (and counts) them."""
    h = harness_factory(input_reliability="reliable", input_depth=input_depth)
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image", reliability="reliable", depth=50)
    frames = [raw_image(scene(9 + i % 2), 60.0 + 0.01 * i) for i in range(40)]
    for frame in frames:
        camera.publish(frame)
    wait_until(lambda: any(abs(seconds(m.header.stamp) - 60.39) < 1e-6 for m in list(depth_out.messages)),
               "depth of the newest frame")
    stamps = [seconds(m.header.stamp) for m in depth_out.messages]
    assert len(stamps) < len(frames) and stamps == sorted(stamps)
    if input_depth > 1:
        assert h.node.dropped_frames == len(frames) - len(stamps)


def test_max_rate_bounds_the_processing_rate(harness_factory):
    h = harness_factory(max_rate_hz=4.0)
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    pace = threading.Event()
    start = time.monotonic()
    for i in range(40):  # a 40 Hz camera for one second
        camera.publish(raw_image(scene(11), 70.0 + 0.025 * i))
        pace.wait(max(0.0, start + 0.025 * (i + 1) - time.monotonic()))
    elapsed = time.monotonic() - start
    depth_out.wait_for(2)
    assert len(depth_out) <= 4.0 * elapsed + 2


def test_time_jump_reset_service_and_gap(harness_factory):
    h = harness_factory()
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    odom_out = h.subscribe(Odometry, "odom")
    camera = h.publisher(Image, "image")
    a, b = scene(12), scene(13)

    def frame(rgb: np.ndarray, t: float) -> None:
        send_and_wait(camera, raw_image(rgb, t), depth_out)

    frame(a, 10.0)
    frame(b, 10.1)
    first_step = pose_matrix(odom_out.wait_for(1)[0])
    frame(a, 10.2)
    frame(a, 1.0)    # time jumps back: odometry restarts at the origin, no pair for this frame
    wait_until(logged(rosout, "time jumped back by 9.200 s", Log.INFO), "the time-jump log line")
    frame(b, 1.1)
    after_jump = odom_out.wait_for(3)[-1]
    assert seconds(after_jump.header.stamp) == pytest.approx(1.1)
    np.testing.assert_allclose(pose_matrix(after_jump), first_step, atol=1e-6)

    response = call_service(h.probe.create_client(Trigger, "/depth_motion/reset_odometry"), Trigger.Request())
    assert response.success
    frame(a, 1.2)
    frame(b, 1.3)
    after_reset = odom_out.wait_for(4)[-1]
    assert seconds(after_reset.header.stamp) == pytest.approx(1.3)
    np.testing.assert_allclose(pose_matrix(after_reset), first_step, atol=1e-6)

    frame(a, 5.0)    # 3.7 s gap > max_frame_gap: no pair, pose kept
    wait_until(logged(rosout, "no image for 3.700 s", Log.INFO), "the gap log line")
    frame(b, 5.1)
    after_gap = odom_out.wait_for(5)[-1]
    assert [seconds(m.header.stamp) for m in odom_out.messages] == pytest.approx([10.1, 10.2, 1.1, 1.3, 5.1])
    np.testing.assert_allclose(pose_matrix(after_gap), first_step @ first_step, atol=1e-6)


def test_motion_field_is_metres_per_second_of_the_stamps_difference(harness_factory):
    """The same image pair 0.1 s and 0.2 s apart: the network's displacement is the same, so the published
    velocity halves exactly; a repeated stamp gives depth, no motion, and a warning saying why."""
    h = harness_factory(motion_threshold=0.0)
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    field_out = h.subscribe(Image, "motion/field")
    mask_out = h.subscribe(Image, "motion/mask")
    camera = h.publisher(Image, "image")
    first, second = scene(20), scene(21)
    for rgb, t in [(first, 1.0), (second, 1.1), (first, 1.2), (second, 1.4)]:
        send_and_wait(camera, raw_image(rgb, t), depth_out)
    fields = field_out.wait_for(3)
    assert [seconds(m.header.stamp) for m in fields] == pytest.approx([1.0, 1.1, 1.2])

    def velocity(msg: Image) -> np.ndarray:
        return np.frombuffer(bytes(msg.data), "<f4").reshape(msg.height, msg.width, 3)

    fast, slow = velocity(fields[0]), velocity(fields[2])  # (first, second) over 0.1 s, then over 0.2 s
    assert np.abs(fast).max() > 0
    np.testing.assert_allclose(slow, fast / 2, rtol=1e-5, atol=1e-6)
    # motion_threshold 0: every moving pixel is set (thresholding the field in its own unit, m/s).
    masks = mask_out.wait_for(3)
    speed = np.linalg.norm(fast, axis=-1)
    np.testing.assert_array_equal(np.frombuffer(bytes(masks[0].data), np.uint8).reshape(speed.shape),
                                  np.where(speed > 0, 255, 0))
    send_and_wait(camera, raw_image(second, 1.4), depth_out)  # a repeated stamp
    wait_until(logged(rosout, "two images stamped 1.400 s: no motion", Log.WARN), "the repeated-stamp warning")
    send_and_wait(camera, raw_image(first, 1.5), depth_out)  # pairs with the 1.4 s frame, not the repeat
    fields = field_out.wait_for(4)
    assert [seconds(m.header.stamp) for m in fields] == pytest.approx([1.0, 1.1, 1.2, 1.4])
    np.testing.assert_allclose(velocity(fields[3]), velocity(fields[1]), rtol=1e-5, atol=1e-6)


def test_pose_refinement_is_switched_at_run_time(harness_factory):
    h = harness_factory()
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    odom_out = h.subscribe(Odometry, "odom")
    camera = h.publisher(Image, "image")
    reset = h.probe.create_client(Trigger, "/depth_motion/reset_odometry")
    a, b = scene(12), scene(13)
    stamp = iter(np.arange(10.0, 20.0, 0.1))

    def step() -> np.ndarray:
        """The odometry after the pair (a, b), starting from the origin."""
        assert call_service(reset, Trigger.Request()).success
        count = len(odom_out)
        send_and_wait(camera, raw_image(a, next(stamp)), depth_out)
        send_and_wait(camera, raw_image(b, next(stamp)), depth_out)
        return pose_matrix(odom_out.wait_for(count + 1)[-1])

    network = step()
    assert all(r.successful for r in _set_parameters(h, pose_refinement="full"))
    refined = step()
    assert not np.allclose(refined, network, atol=1e-6)
    assert all(r.successful for r in _set_parameters(h, pose_refinement="none"))
    np.testing.assert_allclose(step(), network, atol=1e-6)
    (bad,) = _set_parameters(h, pose_refinement="everything")
    assert not bad.successful and "pose_refinement" in bad.reason
    wait_until(logged(rosout, "running with the learned intrinsics", Log.WARN), "the learned-intrinsics warning")


def _set_parameters(h: NodeHarness, **values: Any) -> list[Any]:
    request = SetParameters.Request(parameters=[
        ParameterMsg(name=name, value=Parameter(name, value=value).get_parameter_value())
        for name, value in values.items()])
    response = call_service(h.probe.create_client(SetParameters, "/depth_motion/set_parameters"), request)
    return list(response.results)


def test_parameter_changes_at_run_time(harness_factory):
    h = harness_factory()
    depth_out = h.subscribe(Image, "depth/image")
    points_out = h.subscribe(PointCloud2, "points")
    camera = h.publisher(Image, "image")
    rgb = scene(14)
    before = depth_array(send_and_wait(camera, raw_image(rgb, 80.0), depth_out))
    assert points_out.wait_for(1)[-1].width == 48
    results = _set_parameters(h, metres_per_unit=2.0, point_stride=4)
    assert all(r.successful for r in results), [r.reason for r in results]
    after = depth_array(send_and_wait(camera, raw_image(rgb, 80.1), depth_out))
    np.testing.assert_array_equal(after, 2.0 * before)
    assert points_out.wait_for(2)[-1].width == 24
    (bad_mode,) = _set_parameters(h, scale_mode="magic")
    assert not bad_mode.successful and "scale_mode" in bad_mode.reason
    (missing,) = _set_parameters(h, checkpoint="/elsewhere.pt")
    assert not missing.successful and "checkpoint not found" in missing.reason
    (read_only,) = _set_parameters(h, input_reliability="reliable")
    assert not read_only.successful
    assert h.node.get_parameter("checkpoint").value != "/elsewhere.pt"
    assert depth_array(send_and_wait(camera, raw_image(rgb, 80.2), depth_out)).shape == before.shape  # model kept
    (out_of_range,) = _set_parameters(h, point_stride=99)
    assert not out_of_range.successful
    assert h.node.get_parameter("point_stride").value == 4
    nan = float("nan")
    refusals = [({"camera_mount": [0.0, 0.0, nan, 0.0, 0.0, 0.0]}, "'camera_mount' must be finite"),
                ({"step_rotation_noise": nan}, "step_rotation_noise"),
                ({"base_frame": "odom"}, "'odom_frame' and 'base_frame' must differ"),
                ({"camera_frame": " "}, "'camera_frame' must not be empty or blank"),
                ({"metres_per_unit": nan}, "metres_per_unit")]
    for change, reason in refusals:
        (refused,) = _set_parameters(h, **change)
        assert not refused.successful and reason in refused.reason, (change, refused.reason)
    assert list(h.node.get_parameter("camera_mount").value) == [0.0] * 6
    assert h.node.get_parameter("base_frame").value == "base_link"


def test_invalid_parameters_stop_startup_and_a_model_that_cannot_load_says_why(checkpoint, monkeypatch):
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        nan = float("nan")
        for override, reason in [(Parameter("scale_mode", value="magic"), "parameter 'scale_mode'"),
                                 (Parameter("camera_mount", value=[nan, 0.0, 0.0, 0.0, 0.0, 0.0]),
                                  "parameter 'camera_mount' must be finite"),
                                 (Parameter("step_translation_noise", value=nan),
                                  "parameter 'step_translation_noise'"),
                                 (Parameter("odom_frame", value="base_link"), "must differ"),
                                 (Parameter("camera_frame", value=""), "'camera_frame' must not be empty"),
                                 (Parameter("point_stride", value=99), "parameter 'point_stride'"),
                                 (Parameter("max_rate_hz", value=nan), "parameter 'max_rate_hz'"),
                                 (Parameter("point_stride", value="two"), "parameter 'point_stride'")]:
            with pytest.raises(StartupError, match=f"invalid parameters: .*{reason}"):
                DepthMotionNode(context=context, parameter_overrides=[
                    Parameter("checkpoint", value=str(checkpoint)), override])
        cases = [([Parameter("checkpoint", value="/no/such.pt")], "checkpoint not found"),
                 ([Parameter("checkpoint", value=str(checkpoint)), Parameter("backend", value="onnx"),
                   Parameter("input_height", value=96), Parameter("input_width", value=96)],
                  "only with backend 'torch'"),
                 ([Parameter("checkpoint", value=str(checkpoint)), Parameter("input_height", value=100),
                   Parameter("input_width", value=96)], "multiples of 32")]
        for overrides, problem in cases:
            node = DepthMotionNode(context=context, parameter_overrides=overrides)
            try:
                assert node._predictor is None and problem in node._model_problem
            finally:
                node.destroy_node()
        monkeypatch.setattr(node_module, "default_checkpoint_path", lambda: None)
        node = DepthMotionNode(context=context)
        try:
            assert node._model_problem == NO_MODEL_MESSAGE and "depth_motion_train" in NO_MODEL_MESSAGE
        finally:
            node.destroy_node()

        def runtime_failure(*args, **kwargs):  # what ONNX Runtime or CUDA raise: their own types, not ours
            raise RuntimeError("InvalidProtobuf: the graph is damaged")

        monkeypatch.setattr(node_module, "load_predictor", runtime_failure)
        node = DepthMotionNode(context=context, parameter_overrides=[Parameter("checkpoint", value=str(checkpoint))])
        try:
            assert node._predictor is None and "RuntimeError: InvalidProtobuf" in node._model_problem
            (refused,) = node.set_parameters([Parameter("backend", value="onnx")])
            assert not refused.successful and "InvalidProtobuf" in refused.reason
            assert node.get_parameter("backend").value == "auto"
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_without_a_usable_checkpoint_the_node_runs_reports_and_loads_one_when_set(harness_factory, tmp_path,
                                                                                 checkpoint):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    h = harness_factory(checkpoint=str(corrupt), diagnostics_period=0.2)
    rosout = h.subscribe_rosout()
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    camera.publish(raw_image(scene(5), 10.0))
    wait_until(logged(rosout, "image not processed, no model", Log.ERROR), "the no-model error for an image")
    assert "corrupt.pt" in next(m.msg for m in list(rosout.messages) if "image not processed" in m.msg)
    count = len(diagnostics)
    status = diagnostics.wait_for(count + 1)[-1].status[0]
    assert status.level == DiagnosticStatus.ERROR and status.message.startswith("no model: ")
    assert {v.key: v.value for v in status.values}["model"] == "no model" and len(depth_out) == 0
    corrupt.write_bytes(checkpoint.read_bytes())  # the file is fixed: setting the same path again loads it
    (loaded,) = _set_parameters(h, checkpoint=str(corrupt))
    assert loaded.successful, loaded.reason
    wait_until(logged(rosout, "now running model", Log.INFO), "the model-switch message")
    out = send_and_wait(camera, raw_image(scene(5), 10.1), depth_out)
    assert out.header.stamp.sec == 10 and out.encoding == "32FC1"
