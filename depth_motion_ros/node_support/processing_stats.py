"""Counters and timings behind the periodic rate summary, the diagnostics and the per-stage debug log."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np


def format_stage_times(stage_seconds: dict[str, float]) -> str:
    """'decode 1.2 ms, depth 35.0 ms, ...' in the order the stages ran."""
    return ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in stage_seconds.items())


@dataclass(frozen=True)
class WindowFigures:
    """What one window of frames measured; NaN where it has no sample."""

    seconds: float
    received_hz: float
    processed_hz: float
    p50_latency_ms: float
    #: Time outside the networks as a percentage of the time in them.
    non_network_percent: float
    received: int
    processed: int
    #: Frames whose processing raised (the worker logged why and went on).
    failed: int
    #: Frames refused as bad input (an undecodable image), and frames not processed because no output
    #: was wanted (nothing subscribed or enabled).
    rejected: int
    skipped: int
    #: Images the middleware reported lost before they reached the callback (DDS sample-lost status: a large
    #: image with a fragment missing, a gap in a best-effort stream; docs/node.md, "Frames that arrive").
    lost: int = 0


@dataclass
class _Window:
    start: float
    received: int = 0
    processed: int = 0
    failed: int = 0
    rejected: int = 0
    skipped: int = 0
    lost: int = 0
    network_s: float = 0.0
    other_s: float = 0.0
    latencies: list[float] = field(default_factory=list)


class ProcessingStats:
    """Thread-safe received/processed counts, latencies and network vs other time, in named windows.

    Each reader (the log summary, the diagnostics) has its own window: ``take(name)`` reports the frames since
    that reader's previous call and starts it anew, so readers with different periods do not disturb each other.
    """

    def __init__(self, windows: tuple[str, ...] = ("summary",), clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows = {name: _Window(clock()) for name in windows}

    def record_received(self) -> None:
        self._count("received")

    def record_processed(self, latency_s: float, network_s: float, other_s: float) -> None:
        """One processed frame: arrival-to-depth latency, time in the networks, time in everything else."""
        with self._lock:
            for window in self._windows.values():
                window.processed += 1
                window.latencies.append(latency_s)
                window.network_s += network_s
                window.other_s += other_s

    def record_failed(self) -> None:
        self._count("failed")

    def record_rejected(self) -> None:
        self._count("rejected")

    def record_skipped(self) -> None:
        self._count("skipped")

    def record_lost(self, count: int) -> None:
        self._count("lost", count)

    def _count(self, what: str, count: int = 1) -> None:
        with self._lock:
            for window in self._windows.values():
                setattr(window, what, getattr(window, what) + count)

    def take(self, name: str) -> WindowFigures:
        """The figures of window `name` since its previous `take`, and a fresh window."""
        with self._lock:
            window = self._windows[name]
            now = self._clock()
            self._windows[name] = _Window(now)
        elapsed = max(now - window.start, 1e-9)
        return WindowFigures(
            seconds=elapsed, received_hz=window.received / elapsed, processed_hz=window.processed / elapsed,
            p50_latency_ms=float(np.median(window.latencies)) * 1e3 if window.latencies else float("nan"),
            non_network_percent=100.0 * window.other_s / window.network_s if window.network_s > 0 else float("nan"),
            received=window.received, processed=window.processed, failed=window.failed, rejected=window.rejected,
            skipped=window.skipped, lost=window.lost)


def summary_line(figures: WindowFigures, dropped_total: int) -> str:
    """The periodic log line."""
    return (f"received {figures.received_hz:.1f} Hz, processed {figures.processed_hz:.1f} Hz, "
            f"dropped {dropped_total} in total, p50 latency {figures.p50_latency_ms:.0f} ms, "
            f"non-network time {figures.non_network_percent:.0f}% of network time")
