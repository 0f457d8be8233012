"""The node's health on /diagnostics, the way robot drivers report theirs.

diagnostic_aggregator, rqt_robot_monitor and fleet tooling read `diagnostic_msgs/DiagnosticArray` messages on
the absolute topic /diagnostics. Once a period the node publishes one `DiagnosticStatus`: whether images
arrive, how many were processed and how fast, whether processing failed, and whether the camera model is
the one the user meant (camera_info in use or not, rectified or not). `assess` decides the level from those
figures alone, so it is tested without ROS.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from depth_motion_ros.node_support.processing_stats import WindowFigures

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # DiagnosticStatus levels


@dataclass(frozen=True)
class Health:
    level: int
    message: str


def assess(figures: WindowFigures, camera_problem: str | None, model_problem: str | None = None) -> Health:
    """The level and one-line message of a window of frames.

    ERROR first when there is no model (`model_problem`: why it could not be loaded); the node runs on and waits
    for a usable 'checkpoint'. STALE: no image arrived (a camera that stopped, a wrong remap; the message adds
    images the middleware lost, as large raw images are without the right transport settings). ERROR: processing
    raised (a bug; the log has the reason). WARN: images were rejected as bad input, the middleware lost
    images (the camera sends more than arrives), images arrive but no frame
    finished in the period (a frame slower than the period), or the camera model is not what it should be
    (`camera_problem`: a camera_info of another size, an unsupported lens model, ...). OK otherwise, also when
    no output is wanted (the node then skips the work by design), and when frames are dropped: the node
    processes the newest frame and skips the rest by design.
    """
    if model_problem:
        return Health(ERROR, f"no model: {model_problem}")
    lost = (f"the middleware lost {figures.lost} images before they reached the node (docs/node.md, 'Frames that "
            "arrive')") if figures.lost else ""
    if figures.received == 0:
        return Health(STALE, f"no image in the last {figures.seconds:.1f} s" + (f"; {lost}" if lost else ""))
    if figures.failed:
        return Health(ERROR, f"{figures.failed} of {figures.received} frames failed to process (see the log)")
    if figures.rejected:
        return Health(WARN, f"{figures.rejected} of {figures.received} images rejected as bad input (see the log)")
    if lost:
        return Health(WARN, f"{figures.received} images received; {lost}")
    if figures.processed == 0:
        if figures.skipped:
            return Health(OK, "idle: no output is subscribed or enabled")
        return Health(WARN, "images arrive but no frame finished in this period")
    rates = f"processing {figures.processed_hz:.1f} of {figures.received_hz:.1f} Hz"
    if camera_problem:
        return Health(WARN, f"{rates}; {camera_problem}")
    return Health(OK, rates)


def build_diagnostics(stamp: Time, name: str, hardware_id: str, health: Health,
                      values: Mapping[str, object]) -> DiagnosticArray:
    """One DiagnosticArray with one status; `values` become its key-value pairs (as text)."""
    status = DiagnosticStatus(level=bytes([health.level]), name=name, message=health.message,
                              hardware_id=hardware_id,
                              values=[KeyValue(key=key, value=str(value)) for key, value in values.items()])
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg
