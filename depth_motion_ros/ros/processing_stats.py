"""Counters and timings behind the periodic one-line rate summary and the per-stage debug log."""
from __future__ import annotations

import threading
import time

import numpy as np


def format_stage_times(stage_seconds: dict[str, float]) -> str:
    """'decode 1.2 ms, depth 35.0 ms, ...' in the order the stages ran."""
    return ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in stage_seconds.items())


class ProcessingStats:
    """Thread-safe window of received/processed counts, latencies and network vs other time.

    ``summary`` reports and then starts a new window, so each log line describes the last period only.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._start_window()

    def _start_window(self) -> None:
        self._window_start = self._clock()
        self._received = 0
        self._processed = 0
        self._latencies: list[float] = []
        self._network_s = 0.0
        self._other_s = 0.0

    def record_received(self) -> None:
        with self._lock:
            self._received += 1

    def record_processed(self, latency_s: float, network_s: float, other_s: float) -> None:
        """One processed frame: arrival-to-depth latency, time in the networks, time in everything else."""
        with self._lock:
            self._processed += 1
            self._latencies.append(latency_s)
            self._network_s += network_s
            self._other_s += other_s

    def summary(self, dropped_total: int) -> str:
        """One line for the log covering the window since the previous call."""
        with self._lock:
            elapsed = max(self._clock() - self._window_start, 1e-9)
            p50 = float(np.median(self._latencies)) * 1e3 if self._latencies else float("nan")
            overhead = 100.0 * self._other_s / self._network_s if self._network_s > 0 else float("nan")
            line = (f"received {self._received / elapsed:.1f} Hz, processed {self._processed / elapsed:.1f} Hz, "
                    f"dropped {dropped_total} in total, p50 latency {p50:.0f} ms, "
                    f"non-network time {overhead:.0f}% of network time")
            self._start_window()
        return line
