"""A single-slot, newest-wins hand-over between the subscription callback and the processing worker.

The camera may run faster than the networks. Queueing frames would make latency grow without bound, so the
callback only overwrites one slot and the worker always takes the newest frame; every overwritten frame is
counted as dropped so the rate summary can report it.
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Thread-safe slot holding at most one item; ``put`` replaces, ``take`` waits for and empties it."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._dropped = 0
        self._condition = threading.Condition()

    def put(self, item: T) -> None:
        """Store ``item``, discarding (and counting) any item the worker has not taken yet."""
        with self._condition:
            if self._has_item:
                self._dropped += 1
            self._item, self._has_item = item, True
            self._condition.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` seconds; None on timeout or after ``close``."""
        with self._condition:
            self._condition.wait_for(lambda: self._has_item or self._closed, timeout)
            if not self._has_item or self._closed:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        """Wake and release any waiting ``take`` for good (used at shutdown)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def dropped(self) -> int:
        """How many items were overwritten before the worker took them."""
        with self._condition:
            return self._dropped
