"""Health reporting: the named stats windows, the level rules, and the message on /diagnostics."""
from __future__ import annotations

import math

import pytest
from builtin_interfaces.msg import Time

from depth_motion_ros.node_support.processing_stats import ProcessingStats, WindowFigures, summary_line
from depth_motion_ros.ros.diagnostics import ERROR, OK, STALE, WARN, Health, assess, build_diagnostics


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_reader_has_its_own_window() -> None:
    clock = FakeClock()
    stats = ProcessingStats(windows=("summary", "diagnostics"), clock=clock)
    for _ in range(10):
        stats.record_received()
    for latency in (0.010, 0.020, 0.030):
        stats.record_processed(latency, network_s=0.010, other_s=0.002)
    stats.record_failed()
    stats.record_rejected()
    stats.record_skipped()
    stats.record_lost(4)
    clock.now += 2.0
    summary = stats.take("summary")
    assert (summary.received, summary.processed, summary.failed, summary.rejected, summary.skipped) == (10, 3, 1, 1, 1)
    assert summary.lost == 4
    assert summary.received_hz == pytest.approx(5.0) and summary.processed_hz == pytest.approx(1.5)
    assert summary.p50_latency_ms == pytest.approx(20.0) and summary.non_network_percent == pytest.approx(20.0)
    assert "received 5.0 Hz, processed 1.5 Hz, dropped 7 in total, p50 latency 20 ms" in summary_line(summary, 7)
    stats.record_received()
    clock.now += 1.0
    assert stats.take("summary").received == 1, "taking a window starts a new one"
    diagnostics = stats.take("diagnostics")
    assert diagnostics.received == 11 and diagnostics.seconds == pytest.approx(3.0), "untouched by the summary"
    empty = stats.take("diagnostics")
    assert empty.received == 0 and math.isnan(empty.p50_latency_ms)


def figures(received: int, processed: int, failed: int = 0, rejected: int = 0, skipped: int = 0,
            lost: int = 0) -> WindowFigures:
    return WindowFigures(seconds=1.0, received_hz=float(received), processed_hz=float(processed),
                         p50_latency_ms=12.0, non_network_percent=20.0, received=received, processed=processed,
                         failed=failed, rejected=rejected, skipped=skipped, lost=lost)


@pytest.mark.parametrize("window, problem, level, text", [
    (figures(0, 0), None, STALE, "no image in the last 1.0 s"),
    (figures(0, 0, lost=28), None, STALE, "no image in the last 1.0 s; the middleware lost 28 images"),
    (figures(5, 5, lost=25), None, WARN, "5 images received; the middleware lost 25 images before they reached"),
    (figures(5, 5, lost=25), "camera_info is for 640x480", WARN, "'Frames that arrive'"),
    (figures(30, 10, failed=2), None, ERROR, "2 of 30 frames failed"),
    (figures(30, 10, rejected=3), None, WARN, "3 of 30 images rejected as bad input"),
    (figures(30, 0, skipped=30), None, OK, "idle: no output is subscribed or enabled"),
    (figures(30, 0), None, WARN, "no frame finished in this period"),
    (figures(30, 16), "camera_info is for 640x480", WARN, "processing 16.0 of 30.0 Hz; camera_info is for 640x480"),
    (figures(30, 16), None, OK, "processing 16.0 of 30.0 Hz"),
])
def test_levels(window: WindowFigures, problem: str | None, level: int, text: str) -> None:
    health = assess(window, problem)
    assert health.level == level and text in health.message


@pytest.mark.parametrize("window", [figures(0, 0), figures(30, 0, rejected=30), figures(30, 16)])
def test_no_model_is_an_error_whatever_the_frames(window: WindowFigures) -> None:
    health = assess(window, "camera_info is for 640x480", "checkpoint not found: /x.pt")
    assert health.level == ERROR and health.message == "no model: checkpoint not found: /x.pt"


def test_the_message_carries_level_name_and_values_as_text() -> None:
    msg = build_diagnostics(Time(sec=5), "depth_motion: camera processing", "/camera/image_raw",
                            Health(WARN, "something"), {"received (Hz)": "30.00", "flip_average": False})
    (status,) = msg.status
    assert status.level == bytes([WARN]) and status.name == "depth_motion: camera processing"
    assert status.hardware_id == "/camera/image_raw" and status.message == "something"
    assert [(v.key, v.value) for v in status.values] == [("received (Hz)", "30.00"), ("flip_average", "False")]
    assert msg.header.stamp.sec == 5
