"""Benchmark of the depth_motion node as a robot sees it: the node in its own process, a camera and the
subscribers of every output (like RViz) in this one.

Measures (issue 3, "Performance"), with a 30 Hz camera (faster than the networks) and every output subscribed:
  1. processed frames per second (depth images received per second);
  2. latency from publishing an image to receiving its depth (p50, max, first vs last third of the run:
     it must not grow, the newest-frame policy never queues), and the node's own p50 from image arrival
     to depth publish, from its periodic summary line;
  3. the node's time outside the networks (decoding, resizing, point cloud, message building, publishing)
     as a percentage of network time, from the same summary line;
  4. resident memory of the node process before and after N more processed frames.

The camera publishes reliable (and the node is started with input_reliability:=reliable): Fast DDS as
installed loses most best-effort ~1 MB images between processes (docs/node.md, "Frames that arrive").

Speed does not depend on training, so by default the light preset's untrained weights are used.

    .venv/bin/python bench/bench_node.py                       # full run (2000 frames for memory)
    .venv/bin/python bench/bench_node.py --rate-seconds 10 --rss-frames 300   # short run
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # never the network, whatever the shell says
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402

OUTPUTS = [("depth/image", Image), ("depth/camera_info", CameraInfo), ("points", PointCloud2),
           ("odom", Odometry), ("motion/field", Image), ("motion/mask", Image), ("motion/image", Image)]


def untrained_light_checkpoint(folder: Path) -> Path:
    import torch

    from depth_motion_ros.checkpoint import save_checkpoint
    from depth_motion_ros.model_config import PRESETS
    from depth_motion_ros.networks.model import DepthMotionModel

    torch.manual_seed(0)
    path = folder / "light_untrained.pt"
    save_checkpoint(path, DepthMotionModel(PRESETS["light"]), {"purpose": "benchmark (speed only)"})
    return path


def camera_frames(height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [cv2.resize(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8), (width, height),
                       interpolation=cv2.INTER_CUBIC) for _ in range(2)]


def image_message(rgb: np.ndarray, stamp_ns: int) -> Image:
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = "camera_optical"
    msg.data = rgb.tobytes()
    return msg


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("VmRSS not found")


class Probe:
    """Camera publisher plus subscribers of every output, recording arrival times per image stamp."""

    def __init__(self, context: rclpy.Context) -> None:
        self.node = rclpy.create_node("bench_probe", context=context)
        self.lock = threading.Condition()
        self.arrivals: dict[str, dict[int, float]] = {name: {} for name, _ in OUTPUTS}
        self.summaries: list[str] = []
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        for name, msg_type in OUTPUTS:
            self.node.create_subscription(msg_type, f"/{name}", self._recorder(name), reliable)
        self.node.create_subscription(Log, "/rosout", self._on_log, QoSProfile(depth=100))
        # Reliable camera: with Fast DDS as installed, best-effort images of ~1 MB between processes are
        # mostly lost (the sender's shared memory segment is too small; docs/node.md, "Frames that arrive"),
        # which would measure DDS, not the node.
        self.camera = self.node.create_publisher(Image, "/image", reliable)

    def _recorder(self, name: str):
        def record(msg) -> None:
            now = time.monotonic()
            with self.lock:
                self.arrivals[name][msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = now
                self.lock.notify_all()
        return record

    def _on_log(self, msg: Log) -> None:
        if "p50 latency" in msg.msg:
            with self.lock:
                self.summaries.append(msg.msg)

    def wait(self, predicate, timeout: float) -> bool:
        with self.lock:
            return bool(self.lock.wait_for(predicate, timeout))


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model to run (default: untrained light preset)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                        help="the node's backend parameter (auto, its default: ONNX Runtime where installed)")
    parser.add_argument("--device", default="cpu", help="the node's device parameter: cpu, cuda, auto")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--pose-refinement", choices=("none", "rotation", "full"), default="none",
                        help="the node's pose_refinement parameter")
    parser.add_argument("--flip-average", action="store_true", help="set the node's flip_average parameter")
    parser.add_argument("--rate-seconds", type=float, default=30.0, help="duration of the 30 Hz run")
    parser.add_argument("--rss-frames", type=int, default=2000, help="frames between the two RSS readings")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_node_"))
    checkpoint = Path(args.checkpoint) if args.checkpoint else untrained_light_checkpoint(workdir)
    log_file = (workdir / "node.log").open("w")
    node_process = subprocess.Popen(
        [str(Path(sys.executable).parent / "depth_motion_node"), "--ros-args", "-p", f"checkpoint:={checkpoint}",
         "-p", f"device:={args.device}", "-p", f"backend:={args.backend}", "-p", "summary_period:=3.0",
         "-p", "input_reliability:=reliable", "-p", f"pose_refinement:={args.pose_refinement}",
         "-p", f"flip_average:={str(args.flip_average).lower()}"],
        stdout=log_file, stderr=subprocess.STDOUT)
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Probe(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe.node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    frames = camera_frames(args.height, args.width)
    results: dict[str, object] = {"camera": f"{args.width}x{args.height} rgb8", "backend": args.backend,
                                  "device": args.device,
                                  "pose_refinement": args.pose_refinement, "flip_average": args.flip_average,
                                  "cpu_count": os.cpu_count()}
    stamp_ns = 1_000_000_000
    try:
        deadline = time.monotonic() + 300  # the onnx backend exports the checkpoint on its first start
        while probe.camera.get_subscription_count() == 0 or any(
                probe.node.count_publishers(f"/{name}") == 0 for name, _ in OUTPUTS):
            if time.monotonic() > deadline or node_process.poll() is not None:
                raise RuntimeError("the node process did not come up")
            time.sleep(0.05)  # start-up polling only; nothing is measured here

        def stream(seconds: float | None = None, until_processed: int | None = None) -> dict[int, float]:
            """Publish at 30 Hz (camera pacing) for ``seconds`` or until ``until_processed`` more depth
            images arrived; returns the send time of every frame."""
            nonlocal stamp_ns
            sent_at: dict[int, float] = {}
            start = time.monotonic()
            depth_before = len(probe.arrivals["depth/image"])
            i = 0
            while (seconds is not None and time.monotonic() - start < seconds) or (
                    until_processed is not None
                    and len(probe.arrivals["depth/image"]) - depth_before < until_processed):
                stamp_ns += 33_333_333
                sent_at[stamp_ns] = time.monotonic()
                probe.camera.publish(image_message(frames[i % 2], stamp_ns))
                i += 1
                time.sleep(max(0.0, start + i / 30.0 - time.monotonic()))  # camera pacing, not a wait
            last = max(sent_at)
            probe.wait(lambda: max(probe.arrivals["depth/image"]) >= last - 300_000_000, 5.0)
            return sent_at

        for _ in range(60):  # the first frames may go out before the node's reader has matched ours
            stamp_ns += 100_000_000
            probe.camera.publish(image_message(frames[0], stamp_ns))
            if probe.wait(lambda: len(probe.arrivals["depth/image"]) > 0, 1.0):
                break
        stream(seconds=3.0)  # warm-up: first-call allocations, every output flowing

        summaries_before = len(probe.summaries)
        start = time.monotonic()
        sent_at = stream(seconds=args.rate_seconds)
        elapsed = time.monotonic() - start
        with probe.lock:
            arrivals = probe.arrivals
            processed = sorted((k, arrivals["depth/image"][k] - t) for k, t in sent_at.items()
                               if k in arrivals["depth/image"])
            complete = sum(1 for k in sent_at if all(k in arrivals[name] for name, _ in OUTPUTS))
            summaries = probe.summaries[summaries_before + 1:]  # windows fully inside the run
        lat = [v for _, v in processed]
        third = max(1, len(lat) // 3)
        results["processed_fps_all_outputs"] = round(len(processed) / elapsed, 2)
        results["frames_with_every_output"] = complete
        results["latency_publish_to_depth_p50_ms"] = round(percentile_ms(lat, 50), 1)
        results["latency_publish_to_depth_max_ms"] = round(max(lat) * 1e3, 1) if lat else None
        results["latency_p50_first_third_ms"] = round(percentile_ms(lat[:third], 50), 1)
        results["latency_p50_last_third_ms"] = round(percentile_ms(lat[-third:], 50), 1)
        node_latency = [float(m.group(1)) for m in (re.search(r"p50 latency (\d+) ms", x) for x in summaries) if m]
        overhead = [float(m.group(1)) for m in (re.search(r"non-network time (\d+)%", x) for x in summaries) if m]
        node_rate = [float(m.group(1)) for m in (re.search(r"processed ([\d.]+) Hz", x) for x in summaries) if m]
        results["node_processed_hz"] = float(np.median(node_rate)) if node_rate else None
        results["node_p50_arrival_to_depth_ms"] = float(np.median(node_latency)) if node_latency else None
        results["node_non_network_percent_of_network"] = float(np.median(overhead)) if overhead else None
        results["node_summaries"] = summaries

        rss_start = rss_mb(node_process.pid)
        stream(until_processed=args.rss_frames)
        rss_end = rss_mb(node_process.pid)
        results["rss_frames"] = args.rss_frames
        results["rss_start_mb"] = round(rss_start, 1)
        results["rss_growth_mb"] = round(rss_end - rss_start, 1)
    finally:
        executor.shutdown()
        probe.node.destroy_node()
        rclpy.shutdown(context=context)
        node_process.terminate()
        node_process.wait(timeout=30)
    log_file.close()
    results["node_log"] = str(workdir / "node.log")
    # What ran: the node's start-up line names the backend it chose and where it executes.
    ready = [line for line in (workdir / "node.log").read_text(errors="replace").splitlines() if "ready: " in line]
    results["node_model"] = ready[0].split("ready: ", 1)[1] if ready else None
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
