"""Throttling of log messages per REASON rather than per call site.

rclpy's `throttle_duration_sec` throttles per call site: when four different bad inputs arrive within a few
seconds and go through one `except` clause, only the first reason is ever logged. Here each reason (a short
key such as the error's text) has its own period, and the count of messages held back is reported with the
next one that gets through, so nothing is hidden without a trace.
"""
from __future__ import annotations

from collections import OrderedDict


class ReasonThrottle:
    """Admits each reason at most once per `period_s`; remembers at most `max_reasons` reasons (the least
    recently seen are forgotten first, so a stream of ever-new texts cannot grow memory)."""

    def __init__(self, period_s: float, max_reasons: int = 64) -> None:
        if period_s < 0 or max_reasons < 1:
            raise ValueError("period_s must be >= 0 and max_reasons >= 1")
        self.period_s = period_s
        self.max_reasons = max_reasons
        self._reasons: OrderedDict[str, tuple[float, int]] = OrderedDict()  # reason -> (last admitted, held)

    def admit(self, reason: str, now: float) -> int | None:
        """None when `reason` was admitted less than `period_s` before `now` (monotonic seconds); otherwise
        the number of messages with this reason held back since it was last admitted."""
        last = self._reasons.get(reason)
        if last is not None and now - last[0] < self.period_s:
            self._reasons[reason] = (last[0], last[1] + 1)
            self._reasons.move_to_end(reason)
            return None
        self._reasons[reason] = (now, 0)
        self._reasons.move_to_end(reason)
        while len(self._reasons) > self.max_reasons:
            self._reasons.popitem(last=False)
        return 0 if last is None else last[1]
