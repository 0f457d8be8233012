"""The node over real DDS for the node tests: a real executor in a thread, camera-like messages, collectors.

`NodeHarness` runs the node and a probe node in their own rclpy context; `harness_factory` starts as many as
a test needs and closes them afterwards. Every wait is on a condition (matched endpoints, a message count)
with a timeout, never a fixed sleep. `checkpoint` is an untrained checkpoint of the real networks at a small
input size (plumbing only; seeded, so runs are repeatable). Test modules import the fixtures they use by
name (`from node_harness import checkpoint, harness_factory`).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
import rclpy
import torch
from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import Log
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from depth_motion_ros.checkpoint import save_checkpoint
from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks.model import DepthMotionModel
from depth_motion_ros.predictors import DepthMotionPredictor
from depth_motion_ros.ros.node import DepthMotionNode
from depth_motion_ros.transforms import rotvec_to_matrix

SMALL_CONFIG = PRESETS["light"].replace(input_height=64, input_width=96)
IMAGE_H, IMAGE_W = 60, 80
TIMEOUT = 20.0


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """An untrained checkpoint of the real networks (plumbing only; seeded, so runs are repeatable)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "untrained_small.pt"
    save_checkpoint(path, DepthMotionModel(SMALL_CONFIG), {"purpose": "node plumbing tests, untrained"})
    return path


def scene(seed: int, grey: bool = False) -> np.ndarray:
    """A smooth, textured uint8 RGB test image (grey when asked, so mono encodings carry the same content)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    rgb = cv2.resize(small, (IMAGE_W, IMAGE_H), interpolation=cv2.INTER_CUBIC)
    if grey:
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(rgb)


def stamp(seconds: float) -> Time:
    sec = int(np.floor(seconds))
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def seconds(msg_stamp: Time) -> float:
    return msg_stamp.sec + msg_stamp.nanosec * 1e-9


def raw_image(rgb: np.ndarray, t: float, encoding: str = "rgb8", pad: int = 0,
              big_endian: bool = False) -> Image:
    """An Image as a camera driver would send it, with optional row padding and byte order."""
    if encoding in ("rgb8", "bgr8", "rgba8", "bgra8"):
        pixels = rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb
        if encoding.endswith("a8"):
            pixels = np.dstack([pixels, np.full(rgb.shape[:2], 255, np.uint8)])
    elif encoding == "mono8":
        pixels = rgb[:, :, 0]
    elif encoding == "mono16":
        pixels = (rgb[:, :, 0].astype(np.uint16) * 257).astype(">u2" if big_endian else "<u2")
    else:
        raise ValueError(encoding)
    rows = np.ascontiguousarray(pixels).reshape(rgb.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, is_bigendian=int(big_endian),
                step=rows.shape[1])
    msg.header.stamp = stamp(t)
    msg.header.frame_id = "camera_optical"
    msg.data = rows.tobytes()
    return msg


def compressed_image(rgb: np.ndarray, t: float, fmt: str) -> CompressedImage:
    ok, payload = cv2.imencode(".png" if fmt == "png" else ".jpg", rgb[:, :, ::-1].copy())
    assert ok
    msg = CompressedImage(format="rgb8; jpeg compressed bgr8" if fmt == "jpeg" else "png")
    msg.header.stamp = stamp(t)
    msg.header.frame_id = "camera_optical"
    msg.data = payload.tobytes()
    return msg


def camera_info(k: np.ndarray, height: int = IMAGE_H, width: int = IMAGE_W) -> CameraInfo:
    msg = CameraInfo(height=height, width=width, distortion_model="plumb_bob")
    msg.k = [float(v) for v in np.asarray(k).reshape(9)]
    msg.header.frame_id = "camera_optical"
    return msg


def depth_array(msg: Image) -> np.ndarray:
    assert msg.encoding == "32FC1" and msg.step == msg.width * 4 and not msg.is_bigendian
    return np.frombuffer(bytes(msg.data), dtype="<f4").reshape(msg.height, msg.width)


def pose_matrix(msg: Odometry) -> np.ndarray:
    q = msg.pose.pose.orientation
    x, y, z, w = q.x, q.y, q.z, q.w
    angle = 2 * np.arctan2(np.sqrt(x * x + y * y + z * z), w)
    axis = np.array([x, y, z]) / max(np.sqrt(x * x + y * y + z * z), 1e-12)
    pose = np.eye(4)
    pose[:3, :3] = rotvec_to_matrix(axis * angle)
    p = msg.pose.pose.position
    pose[:3, 3] = (p.x, p.y, p.z)
    return pose


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.005)


class Collector:
    """Subscription callback that keeps every message and lets the test wait for a count."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.messages: list[Any] = []
        self._condition = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._condition:
            self.messages.append(msg)
            self._condition.notify_all()

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> list[Any]:
        with self._condition:
            if not self._condition.wait_for(lambda: len(self.messages) >= count, timeout):
                pytest.fail(f"timed out waiting for {count} messages on {self.topic} "
                            f"(got {len(self.messages)})")
            return list(self.messages)

    def __len__(self) -> int:
        with self._condition:
            return len(self.messages)


class NodeHarness:
    """The node and a probe node in their own rclpy context, spun by an executor thread (multi-threaded unless
    `single_threaded`)."""

    def __init__(self, checkpoint_path, namespace: str = "", remap: dict[str, str] | None = None,
                 node_class: type[DepthMotionNode] = DepthMotionNode, single_threaded: bool = False,
                 **parameters: Any) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        # PyTorch unless a test asks for another backend: the default ('auto') would export every test's
        # checkpoint to ONNX, and the known answers (`expected_depth`) are PyTorch's.
        overrides = {"checkpoint": str(checkpoint_path), "device": "cpu", "backend": "torch", "summary_period": 0.0,
                     **parameters}
        remap_args = [arg for rule in (remap or {}).items() for arg in ("-r", ":=".join(rule))]
        self.node = node_class(context=self.context, namespace=namespace,
                                    cli_args=["--ros-args", *remap_args] if remap_args else None,
                                    parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        self.probe = rclpy.create_node("probe", context=self.context)
        self.namespace = namespace.rstrip("/")
        # single_threaded: the executor `depth_motion_node` spins (rclpy.spin), for tests of what reaches its
        # callbacks at a camera's rate (the multi-threaded one takes fewer: single-threaded-executor.md).
        self.executor = SingleThreadedExecutor(context=self.context) if single_threaded else \
            MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self._spin_error: BaseException | None = None
        self._stop_spinning = threading.Event()
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        # spin_once in a loop rather than spin() + shutdown() from another thread: rclpy's executor can
        # trigger a guard condition that a concurrent shutdown() has already destroyed.
        try:
            while not self._stop_spinning.is_set():
                self.executor.spin_once(timeout_sec=0.05)
        except BaseException as error:  # reported by close(), with its traceback, as a test failure
            self._spin_error = error

    def topic(self, name: str) -> str:
        return name if name.startswith("/") else f"{self.namespace}/{name}"

    def subscribe(self, msg_type: type, name: str, reliability: str = "reliable") -> Collector:
        collector = Collector(self.topic(name))
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT)
        subscription = self.probe.create_subscription(msg_type, self.topic(name), collector, qos)
        wait_until(lambda: subscription.get_publisher_count() > 0, f"a publisher on {self.topic(name)}")
        return collector

    def subscribe_rosout(self) -> Collector:
        collector = Collector("/rosout")
        self.probe.create_subscription(Log, "/rosout", collector, QoSProfile(depth=100))
        return collector

    def publisher(self, msg_type: type, name: str, reliability: str = "best_effort", depth: int = 1) -> Any:
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT)
        publisher = self.probe.create_publisher(msg_type, self.topic(name), qos)
        wait_until(lambda: publisher.get_subscription_count() > 0, f"the node to subscribe {self.topic(name)}")
        return publisher

    def close(self) -> None:
        """Stop spinning first, then destroy: no callback may run on a node being destroyed."""
        self._stop_spinning.set()
        self._spinner.join(timeout=10.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.probe.destroy_node()
        rclpy.shutdown(context=self.context)
        if self._spin_error is not None:
            raise self._spin_error


@pytest.fixture
def harness_factory(checkpoint):
    harnesses: list[NodeHarness] = []

    def start(**parameters: Any) -> NodeHarness:
        harnesses.append(NodeHarness(checkpoint, **parameters))
        return harnesses[-1]

    yield start
    for harness in harnesses:
        harness.close()


@pytest.fixture(scope="session")
def reference_predictor(checkpoint) -> DepthMotionPredictor:
    return DepthMotionPredictor.from_checkpoint(checkpoint, "cpu")


def expected_depth(predictor: DepthMotionPredictor, rgb: np.ndarray) -> np.ndarray:
    return predictor.depth(predictor.prepare(rgb))[0, 0].numpy()


def call_service(client: Any, request: Any) -> Any:
    """Call a service and wait for the answer (call_async: Humble's Client.call has no timeout)."""
    assert client.wait_for_service(timeout_sec=TIMEOUT)
    future = client.call_async(request)
    wait_until(future.done, f"an answer from {client.srv_name}")
    return future.result()


def send_and_wait(publisher: Any, msg: Any, collector: Collector) -> Any:
    """Publish one frame and wait for the output it causes (frames are processed one at a time)."""
    count = len(collector)
    publisher.publish(msg)
    return collector.wait_for(count + 1)[-1]


def logged(rosout: Collector, text: str, level: int) -> Callable[[], bool]:
    return lambda: any(text in m.msg and m.level == level for m in list(rosout.messages))
