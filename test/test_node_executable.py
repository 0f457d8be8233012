"""The installed console script runs without the ros2 CLI: `depth_motion_node --ros-args --params-file F`."""
# Fixtures are imported by name from node_harness and then requested as arguments, which pyflakes reads
# as redefinitions:
# ruff: noqa: F811
from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import rclpy
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from node_harness import Collector, checkpoint, raw_image, scene, wait_until  # noqa: F401 (fixture)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_EXECUTABLE = Path(sys.executable).parent / "depth_motion_node"


def _start(*ros_args: str, command: list[str] | None = None, **popen) -> subprocess.Popen:
    command = command or [str(VENV_EXECUTABLE)]
    return subprocess.Popen([*command, "--ros-args", *ros_args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def _finish(process: subprocess.Popen, timeout: float) -> str:
    """The process's output once it has exited; killed after `timeout` s, so that a node that should have
    stopped never outlives the test (it would answer the next tests' services on this domain)."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


@pytest.fixture(params=["venv console script", "colcon install tree"])
def node_command(request, tmp_path) -> tuple[list[str], dict]:
    """How to start the node: the venv's console script, or the executable that `ros2 run` would start from a
    colcon install tree (lib/depth_motion_ros/depth_motion_node, importing the installed copy of the code)."""
    if request.param == "venv console script":
        return [str(VENV_EXECUTABLE)], {}
    install = request.getfixturevalue("colcon_install")
    executable = install.prefix / "lib" / "depth_motion_ros" / "depth_motion_node"
    return [sys.executable, str(executable)], {"env": install.python_env(), "cwd": tmp_path}


def test_console_script_processes_images_logs_a_summary_and_exits_cleanly(checkpoint, node_command):
    command, popen = node_command
    process = _start("--params-file", str(REPO_ROOT / "config" / "depth_motion.yaml"),
                     "-p", f"checkpoint:={checkpoint}", "-p", "device:=cpu", "-p", "backend:=torch",
                     "-p", "summary_period:=0.5",
                     command=command, **popen)
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = rclpy.create_node("executable_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    try:
        depth = Collector("/depth/image")
        rosout = Collector("/rosout")
        probe.create_subscription(Image, "/depth/image", depth, QoSProfile(depth=10))
        probe.create_subscription(Log, "/rosout", rosout, QoSProfile(depth=100))
        camera = probe.create_publisher(Image, "/image", QoSProfile(depth=1))

        def spin_until(predicate, what: str, timeout: float = 60.0) -> None:
            wait_until(lambda: executor.spin_once(timeout_sec=0.05) or predicate(), what, timeout)

        spin_until(lambda: camera.get_subscription_count() > 0, "the node process to subscribe /image")
        frame = iter(range(10_000))

        def publish_and_check() -> bool:
            camera.publish(raw_image(scene(1), 1.0 + 0.1 * next(frame)))
            return len(depth) > 0

        spin_until(publish_and_check, "depth from the node process")
        spin_until(lambda: any("processed" in m.msg and "p50 latency" in m.msg for m in rosout.messages),
                   "the periodic rate summary")
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.shutdown(context=context)
        process.send_signal(signal.SIGINT)
        output = _finish(process, 30)
    assert process.returncode == 0, output


def test_console_script_without_a_usable_model_says_why_and_keeps_running(tmp_path):
    process = _start("-p", f"checkpoint:={tmp_path / 'missing.pt'}")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = rclpy.create_node("no_model_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    camera = probe.create_publisher(Image, "/image", QoSProfile(depth=1))
    try:
        wait_until(lambda: any("running without a model" in line for line in lines), "the no-model error", 60.0)
        assert process.poll() is None, "the node must keep running"
        # An image answered with the no-model error shows the node spinning: only then is SIGINT a clean stop
        # (one during rclpy.spin's set-up leaves a traceback from rclpy's executor).
        wait_until(lambda: executor.spin_once(timeout_sec=0.05) or camera.get_subscription_count() > 0,
                   "the node process to subscribe /image", 60.0)
        wait_until(lambda: camera.publish(raw_image(scene(1), 1.0))
                   or any("image not processed, no model" in line for line in lines), "the per-image error", 60.0)
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.shutdown(context=context)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # never outlive the test (see _finish)
            process.wait()
        reader.join(timeout=10)
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "checkpoint not found" in output and "missing.pt" in output and "Traceback" not in output


def test_console_script_stops_with_one_clear_message_on_invalid_parameters():
    process = _start("-p", "scale_mode:=magic")
    output = _finish(process, 60)
    assert process.returncode == 1
    assert "invalid parameters: parameter 'scale_mode'" in output and "Traceback" not in output


def test_console_script_stops_with_one_line_on_an_out_of_range_start_up_value():
    """rclpy refuses the value against its descriptor's range: one line naming it, exit code 1."""
    process = _start("-p", "point_stride:=99")
    output = _finish(process, 60)
    assert process.returncode == 1, output
    assert "invalid parameters: parameter 'point_stride'" in output and "Traceback" not in output
    assert len([line for line in output.splitlines() if line.strip()]) == 1, output


def test_lifecycle_console_script_starts_unconfigured_and_is_configured_and_activated_over_its_services(
        checkpoint):
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = rclpy.create_node("lifecycle_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    change = probe.create_client(ChangeState, "/depth_motion/change_state")
    get = probe.create_client(GetState, "/depth_motion/get_state")

    def call(client, request):
        assert client.wait_for_service(timeout_sec=60.0)
        future = client.call_async(request)
        wait_until(lambda: executor.spin_once(timeout_sec=0.05) or future.done(), f"{client.srv_name}", 60.0)
        return future.result()

    process = _start("-p", f"checkpoint:={checkpoint}", "-p", "device:=cpu", "-p", "backend:=torch",
                     command=[str(VENV_EXECUTABLE.parent / "depth_motion_lifecycle_node")])
    try:
        assert call(get, GetState.Request()).current_state.id == State.PRIMARY_STATE_UNCONFIGURED
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert call(change, ChangeState.Request(transition=Transition(id=transition))).success
        assert call(get, GetState.Request()).current_state.id == State.PRIMARY_STATE_ACTIVE
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.shutdown(context=context)
        process.send_signal(signal.SIGINT)
        output = _finish(process, 30)
    assert process.returncode == 0, output
    assert "configured: model" in output and "Traceback" not in output
