"""Run the real node on a bag: start it as its own process, play the bag to it, record everything it says.

This is the demo's pipeline (player -> node -> recorder) and what its end-to-end test exercises. The node
runs exactly as users run it (`python -m depth_motion_ros.ros.node --ros-args ...`, the same entry point as
the `depth_motion_node` console script), in a private namespace so nothing else on the machine collides.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from depth_motion_ros.cli.bag_player import BagPlayer, PlaybackStats
from depth_motion_ros.cli.ros_session import spinning_node
from depth_motion_ros.cli.topic_recorder import RecordedMessage, TopicRecorder

#: Every output of the node (relative names, see issue 3 / the node's docstring) and its message type.
NODE_OUTPUTS: dict[str, str] = {
    "depth/image": "sensor_msgs/msg/Image",
    "depth/camera_info": "sensor_msgs/msg/CameraInfo",
    "points": "sensor_msgs/msg/PointCloud2",
    "odom": "nav_msgs/msg/Odometry",
    "motion/field": "sensor_msgs/msg/Image",
    "motion/mask": "sensor_msgs/msg/Image",
    "motion/image": "sensor_msgs/msg/Image",
}
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
#: In lockstep, an image without depth output after this long is published again (see BagPlayer.play).
RETRY_INTERVAL_S = 2.0
RECORDING_HISTORY_DEPTH = 20
#: At most this many images are played before the recorded run to make sure every output flows.
WARM_UP_MAX_IMAGES = 5
#: Each warm-up round is stamped this much later than the previous one (a day after the bag's stamps).
WARM_UP_STAMP_OFFSET_NS = 86_400 * 10**9
#: Warm-up rounds continue until every output has arrived once, or this long.
WARM_UP_TIMEOUT_S = 20.0
#: How long to wait after the last image for outputs still in flight (two Fast DDS heartbeat periods).
LATE_OUTPUT_TIMEOUT_S = 6.0
#: Outputs that need a pair of frames: none for the first processed frame.
PAIR_OUTPUTS = ("odom", "motion/field", "motion/mask", "motion/image")


class NodeSessionError(RuntimeError):
    """The node did not start or did not answer; the message carries the end of its log."""


@dataclass
class NodeRun:
    """What one session produced."""
    namespace: str
    playback: PlaybackStats
    messages: list[RecordedMessage]     # every output message in arrival order (full topic names)
    recording: Path                     # MCAP bag of the outputs (full topic names)
    node_log: Path
    seconds: float

    def on(self, topic: str) -> list[RecordedMessage]:
        """Messages of one output topic ('depth/image', 'odom', ...)."""
        full = f"{self.namespace}/{topic}"
        return [m for m in self.messages if m.topic == full]


def parameter_arguments(parameters: Mapping[str, object]) -> list[str]:
    """`-p name:=value` pairs in ROS 2 command-line syntax (YAML values)."""
    arguments = []
    for name, value in parameters.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = "[" + ", ".join(repr(float(v)) if isinstance(v, float) else str(v) for v in value) + "]"
        else:
            text = str(value)
        arguments += ["-p", f"{name}:={text}"]
    return arguments


def _log_tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines() if path.is_file() else []
    return "\n".join(text[-lines:])


def _stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGINT (a clean rclpy shutdown), then SIGTERM, then SIGKILL, each with a grace period."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def run_node_on_bag(bag: str | Path, image_topic: str, image_type: str, camera_info_topic: str | None,
                    parameters: Mapping[str, object], recording: str | Path, node_log: str | Path,
                    namespace: str = "/depth_motion_demo", lockstep: bool = True, rate: float = 1.0,
                    max_images: int | None = None, startup_timeout: float = 120.0,
                    frame_timeout: float = 10.0) -> NodeRun:
    """Start the node, play `image_topic` (and `camera_info_topic`) of `bag` to it, record all outputs.

    `lockstep`: publish the next image only once the node has published depth for the previous one (every
    frame is processed, reproducibly); otherwise play at `rate` times the recorded speed and let the node
    drop frames as it would live.
    """
    start = time.monotonic()
    node_log = Path(node_log)
    input_topic = f"{namespace}/image/compressed" if image_type == COMPRESSED_IMAGE else f"{namespace}/image"
    node_parameters = dict(parameters)
    # A recorder wants every message: with the node's default history of 1, a busy machine can replace a
    # reliable sample before the recorder has taken it.
    node_parameters.setdefault("output_depth", RECORDING_HISTORY_DEPTH)
    node_parameters["input_transport"] = "compressed" if image_type == COMPRESSED_IMAGE else "raw"
    command = [sys.executable, "-m", "depth_motion_ros.ros.node", "--ros-args", "-r", f"__ns:={namespace}",
               *parameter_arguments(node_parameters)]
    topic_map = {image_topic: input_topic}
    if camera_info_topic is not None:
        topic_map[camera_info_topic] = f"{namespace}/camera_info"
    outputs = {f"{namespace}/{topic}": type_name for topic, type_name in NODE_OUTPUTS.items()}
    depth_topic = f"{namespace}/depth/image"
    with open(node_log, "w") as log, spinning_node("depth_motion_demo_player") as node:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            player = BagPlayer(node, bag, topic_map)
            recorder = TopicRecorder(node, outputs)
            _wait_for_node(process, player, recorder, image_topic, startup_timeout, node_log)
            flowing = _warm_up(player, recorder, depth_topic)
            frame_done = ((lambda stamp: recorder.wait_for_stamp(depth_topic, stamp, RETRY_INTERVAL_S))
                          if lockstep else None)
            playback = player.play(rate=None if lockstep else rate, frame_done=frame_done, max_images=max_images,
                                   republish=max(0, round(frame_timeout / RETRY_INTERVAL_S) - 1))
            _wait_for_all_outputs(recorder, namespace, flowing, set(playback.image_stamps), LATE_OUTPUT_TIMEOUT_S)
        finally:
            _stop(process)
        recorder.keep_only(set(playback.image_stamps))
        recorded = recorder.write_mcap(recording)
    return NodeRun(namespace, playback, list(recorder.messages), recorded, node_log, time.monotonic() - start)


def _wait_for_node(process: subprocess.Popen, player: BagPlayer, recorder: TopicRecorder, image_topic: str,
                   timeout: float, node_log: Path) -> None:
    """Until the node subscribes to the image and publishes every output, or fail with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NodeSessionError(f"the node exited with code {process.returncode} before it was ready:\n"
                                   f"{_log_tail(node_log)}")
        if player.wait_for_subscribers(image_topic, 0.2) and recorder.wait_for_publishers(0.2):
            return
    raise NodeSessionError(f"the node was not ready within {timeout:.0f} s:\n{_log_tail(node_log)}")


def _warm_up(player: BagPlayer, recorder: TopicRecorder, depth_topic: str) -> set[str]:
    """Play the first frames, stamped in the future, until every output has arrived once; returns the
    topics that did (the outputs this node configuration publishes).

    Discovery is not symmetric: the recorder can see the node's publishers before the node sees the
    recorder's subscriptions, and the node skips outputs nobody subscribes to, so the first frames of a
    run could lose outputs. Rounds of up to WARM_UP_MAX_IMAGES frames, each a day later than the last,
    are played until everything flows or WARM_UP_TIMEOUT_S has passed. The shifted stamps keep late
    warm-up messages apart from the real run's, and the real run's jump back in time makes the node
    reset its odometry (its bag-loop behaviour).
    """
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    round_number = 0
    while recorder.missing_topics() and time.monotonic() < deadline:
        round_number += 1
        player.play(rate=None,
                    frame_done=lambda stamp: recorder.wait_for_stamp(depth_topic, stamp, RETRY_INTERVAL_S),
                    max_images=WARM_UP_MAX_IMAGES, stop_when=lambda: not recorder.missing_topics(),
                    stamp_offset_ns=round_number * WARM_UP_STAMP_OFFSET_NS)
    flowing = {topic for topic, count in recorder.counts().items() if count}
    if depth_topic not in flowing:
        raise NodeSessionError("the node published no depth during the warm-up")
    recorder.clear()
    return flowing


def _wait_for_all_outputs(recorder: TopicRecorder, namespace: str, flowing: set[str], stamps: set[int],
                          timeout: float) -> None:
    """Wait until every output that flows has arrived for every processed frame of the run (`stamps`;
    pair outputs for all but the first), or `timeout`: small reliable messages can arrive seconds late on
    a loaded machine, when DDS retransmits them after a heartbeat."""
    depth_topic = f"{namespace}/depth/image"
    processed = len({m.stamp_ns for m in recorder.received(depth_topic)} & stamps)
    minimum = {topic: processed - (1 if topic.removeprefix(namespace + "/") in PAIR_OUTPUTS else 0)
               for topic in flowing}
    recorder.wait_for_counts(minimum, timeout, stamps)
