"""Share of camera frames that reach the node's image callback, per image size, QoS pair and middleware
configuration (docs/node.md, "Frames that arrive"; docs/decisions/frame-delivery.md).

The real node (`depth_motion_node`, the bundled model, its default backend) runs in its own process and is
kept busy: the camera process subscribes to every output, as RViz would, so each frame that arrives is
computed. The camera publishes `--frames` raw rgb8 frames at `--rate` Hz; the node counts the frames its
image callback received ("received in this period" on /diagnostics), summed over the diagnostics windows
that cover the burst, and the camera counts the depth images that came back (processed frames).

Every child process gets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, this process's ROS_DOMAIN_ID and the
configuration's middleware environment (for the node and for the camera separately: a camera driver is
another process, and Fast DDS writes a sample into the shared memory segment of the *sending* process):

  default      Fast DDS as installed (no profile file) on both sides
  node_only    the shipped profile for the node only (the launch file's fastdds_profile), the camera as installed
  shipped      the shipped profile for the node and the camera (a robot that exports it for every process)
  camera_only  the shipped profile for the camera only
  udp_only     both sides with Fast DDS's built-in UDPv4 transport alone (no shared memory)
  udp_4mb      the same with 4 MiB socket buffers (capped by net.core.rmem_max / wmem_max)
  large_data   both sides with FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (data over TCP or shared memory)

    .venv/bin/python bench/bench_delivery.py                   # default, node_only, shipped (about 4 minutes)
    .venv/bin/python bench/bench_delivery.py --configs default shipped --sizes 640x480 --frames 120
    .venv/bin/python bench/bench_delivery.py --configs default shipped --sizes 4000x3000 --rate 2 --frames 10
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

from bench_node import OUTPUTS, camera_frames, image_message  # this folder: the node benchmark's camera

from depth_motion_ros.node_support.launch_arguments import LARGE_FRAMES_PROFILE, middleware_environment

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Every Fast DDS variable a configuration may set: removed from the inherited environment first, so that a
#: shell's own settings do not leak into the "default" configuration.
MIDDLEWARE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                        "RMW_FASTRTPS_USE_QOS_FROM_XML", "FASTDDS_BUILTIN_TRANSPORTS", "RMW_IMPLEMENTATION")
UDP_4MB = "UDPv4?sockets_size=4194304"
SHIPPED = middleware_environment(REPO_ROOT / LARGE_FRAMES_PROFILE)
CONFIGS: dict[str, tuple[dict[str, str], dict[str, str]]] = {  # name -> (node's environment, camera's)
    "default": ({}, {}),
    "node_only": (SHIPPED, {}),
    "shipped": (SHIPPED, SHIPPED),
    "camera_only": ({}, SHIPPED),
    "udp_only": ({"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}, {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}),
    "udp_4mb": ({"FASTDDS_BUILTIN_TRANSPORTS": UDP_4MB}, {"FASTDDS_BUILTIN_TRANSPORTS": UDP_4MB}),
    "large_data": ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}),
}
#: (camera publisher, node subscription): a reliable subscription does not match a best-effort camera.
QOS_PAIRS = (("best_effort", "best_effort"), ("reliable", "best_effort"), ("reliable", "reliable"))
DIAGNOSTICS_PERIOD_S = 1.0


def child_environment(middleware: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MIDDLEWARE_VARIABLES}
    env.update(middleware)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    return env


# ------------------------------------------------------------------------------------------------ camera
def shared_memory_segment_bytes() -> int:
    """Size of the largest Fast DDS shared memory segment this process maps (its own, where it writes what it
    sends): shows which profile a process really loaded (the default is 512 KiB)."""
    sizes = [0]
    for line in Path("/proc/self/maps").read_text().splitlines():
        name = line.split()[-1]
        if re.fullmatch(r"/dev/shm/fast(dds|rtps)_[0-9a-f]+", name):
            start, end = line.split()[0].split("-")
            sizes.append(int(end, 16) - int(start, 16))
    return max(sizes)


class CameraProbe:
    """The camera's node: a publisher per burst, the node's diagnostics windows and the depth images back."""

    def __init__(self, context) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node = rclpy.create_node("bench_delivery_camera", context=context)
        self.condition = threading.Condition()
        self.windows: list[tuple[float, int]] = []  # (arrival, frames the node's callback received in it)
        self.depth_stamps: set[int] = set()
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, QoSProfile(depth=100))
        for name, msg_type in OUTPUTS:  # every output, as RViz would: the node computes every frame it takes
            self.node.create_subscription(msg_type, f"/{name}",
                                          self._on_depth if name == "depth/image" else (lambda _: None), reliable)
        self.stamp_ns = 1_000_000_000

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "received in this period" in values:
                with self.condition:
                    self.windows.append((time.monotonic(), int(values["received in this period"])))
                    self.condition.notify_all()

    def _on_depth(self, msg) -> None:
        with self.condition:
            self.depth_stamps.add(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            self.condition.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        with self.condition:
            return bool(self.condition.wait_for(predicate, timeout))

    def burst(self, width: int, height: int, reliability: str, count: int, rate: float) -> dict:
        """Publish `count` frames at `rate` Hz; what the node's callback received and what came back."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        # A camera driver's QoS (REP 2003): reliable keep-last 10 (system default), or sensor data (best
        # effort, keep-last 5).
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE) if reliability == "reliable" \
            else QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
        camera = self.node.create_publisher(Image, "/image", qos)
        deadline = time.monotonic() + 60
        while camera.get_subscription_count() == 0 and time.monotonic() < deadline:
            self.wait(lambda: False, 0.05)  # discovery only: nothing is measured here
        # Both sides matched: a small frame goes through and comes back as depth.
        small = camera_frames(48, 64)[0]
        for _ in range(100):
            self.stamp_ns += 50_000_000
            camera.publish(image_message(small, self.stamp_ns))
            if self.wait(lambda stamp=self.stamp_ns: stamp in self.depth_stamps, 0.5):
                break
        # A window without frames: from here on, every window counts burst frames only.
        quiet_from = time.monotonic()
        self.wait(lambda: any(t > quiet_from and n == 0 for t, n in self.windows), 10.0)
        first_window = len(self.windows)
        frames = [image_message(rgb, 0) for rgb in camera_frames(height, width)]
        sent: list[int] = []
        start = time.monotonic()
        for i in range(count):
            self.stamp_ns += int(1e9 / rate)
            msg = frames[i % 2]
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(self.stamp_ns, 1_000_000_000)
            camera.publish(msg)
            sent.append(self.stamp_ns)
            time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))  # camera pacing
        burst_s = time.monotonic() - start
        ended = time.monotonic()
        # Two windows without frames after the burst: nothing is in flight any more.
        self.wait(lambda: sum(1 for t, n in self.windows[first_window:] if t > ended and n == 0) >= 2, 20.0)
        with self.condition:
            received = sum(n for _, n in self.windows[first_window:])
            processed = sum(1 for s in sent if s in self.depth_stamps)
        self.node.destroy_publisher(camera)
        return {"size": f"{width}x{height}", "publisher": reliability, "sent": len(sent), "received": received,
                "processed": processed, "processed_hz": round(processed / burst_s, 2),
                "publish_hz": round(len(sent) / burst_s, 2)}


def run_camera(plan: dict) -> None:
    """The camera process: for each (width, height, publisher reliability) of `plan`, a burst of frames; one
    JSON line per burst on stdout."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    probe = CameraProbe(context)
    segment_mib = round(shared_memory_segment_bytes() / 2**20, 1)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe.node)
    stop = threading.Event()

    def spin() -> None:  # spin_once in a loop: stopped before shutdown (see test/node_harness.py)
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    for width, height, reliability in plan["runs"]:
        row = probe.burst(width, height, reliability, plan["frames"], plan["rate"])
        print(json.dumps({**row, "camera_shm_segment_mib": segment_mib}), flush=True)
    stop.set()
    spinner.join(timeout=10.0)
    executor.shutdown()
    probe.node.destroy_node()
    rclpy.shutdown(context=context)


# ------------------------------------------------------------------------------------------ orchestrator
def run_config(name: str, sizes: list[tuple[int, int]], args: argparse.Namespace, workdir: Path) -> list[dict]:
    node_env, camera_env = CONFIGS[name]
    results = []
    for subscription in ("best_effort", "reliable"):
        runs = [(w, h, pub) for w, h in sizes for pub, sub in QOS_PAIRS if sub == subscription]
        log = (workdir / f"node_{name}_{subscription}.log").open("w")
        node = subprocess.Popen(
            [str(Path(sys.executable).parent / "depth_motion_node"), "--ros-args",
             "-p", f"checkpoint:={args.checkpoint}", "-p", f"backend:={args.backend}", "-p", "device:=cpu",
             "-p", f"input_reliability:={subscription}", "-p", f"diagnostics_period:={DIAGNOSTICS_PERIOD_S}",
             "-p", "summary_period:=0.0", "-r", "image:=/image"],
            env=child_environment(node_env), stdout=log, stderr=subprocess.STDOUT)
        load_before = os.getloadavg()
        try:
            camera = subprocess.run(
                [sys.executable, __file__, "--camera-plan", json.dumps(
                    {"runs": runs, "frames": args.frames, "rate": args.rate})],
                env=child_environment(camera_env), capture_output=True, text=True, timeout=900)
        finally:
            node.terminate()
            node.wait(timeout=30)
            log.close()
        if camera.returncode != 0:
            raise RuntimeError(f"camera process failed ({name}, {subscription}):\n{camera.stderr[-3000:]}")
        load_after = os.getloadavg()
        for line in camera.stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                row.update(config=name, subscription=subscription,
                           share=round(row["received"] / row["sent"], 3),
                           load_1min=[round(load_before[0], 2), round(load_after[0], 2)])
                print(json.dumps(row), flush=True)
                results.append(row)
    return results


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["default", "node_only", "shipped"],
                        help="middleware configurations (default: the three a robot chooses between)")
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        default=[(640, 480), (1280, 720), (1920, 1080)])
    parser.add_argument("--frames", type=int, default=120, help="frames per burst")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    parser.add_argument("--checkpoint", default=str(REPO_ROOT / "models" / "default_light.pt"))
    parser.add_argument("--backend", default="torch", help="the node's backend (its default: torch)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--camera-plan", help=argparse.SUPPRESS)  # the camera child process
    args = parser.parse_args()
    if args.camera_plan:
        run_camera(json.loads(args.camera_plan))
        return 0
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    workdir = Path(tempfile.mkdtemp(prefix="bench_delivery_"))
    started = time.time()
    rows = [row for name in args.configs for row in run_config(name, args.sizes, args, workdir)]
    results = {
        "date": time.strftime("%Y-%m-%d", time.gmtime(started)), "cpu_count": os.cpu_count(),
        "frames_per_burst": args.frames, "rate_hz": args.rate, "backend": args.backend,
        "checkpoint": Path(args.checkpoint).name, "ros_domain_id": os.environ["ROS_DOMAIN_ID"],
        "net_core_rmem_max": int(Path("/proc/sys/net/core/rmem_max").read_text()),
        "net_core_wmem_max": int(Path("/proc/sys/net/core/wmem_max").read_text()),
        "wall_s": round(time.time() - started, 1), "node_logs": str(workdir), "runs": rows,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
