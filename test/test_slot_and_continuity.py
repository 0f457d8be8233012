"""Newest-frame slot semantics and the classification of time steps between frames."""
from __future__ import annotations

import threading

from depth_motion_ros.node_support.latest_slot import LatestSlot
from depth_motion_ros.stream import Continuity, classify_step


def test_slot_keeps_only_the_newest_and_counts_drops():
    slot: LatestSlot[int] = LatestSlot()
    for value in range(5):
        slot.put(value)
    assert slot.take(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.take(timeout=0) is None


def test_take_waits_for_a_put_from_another_thread():
    slot: LatestSlot[str] = LatestSlot()
    putter = threading.Timer(0.05, slot.put, args=("frame",))
    putter.start()
    assert slot.take(timeout=5.0) == "frame"
    putter.join()


def test_close_releases_a_waiting_take():
    slot: LatestSlot[int] = LatestSlot()
    result = []
    taker = threading.Thread(target=lambda: result.append(slot.take(timeout=10.0)))
    taker.start()
    slot.close()
    taker.join(timeout=5.0)
    assert not taker.is_alive() and result == [None]


def test_continuity_classes():
    assert classify_step(None, 5.0, 1.0) is Continuity.FIRST
    assert classify_step(5.0, 5.1, 1.0) is Continuity.CONTINUOUS
    assert classify_step(5.0, 5.0, 1.0) is Continuity.DUPLICATE
    assert classify_step(5.0, 4.9, 1.0) is Continuity.BACKWARDS
    assert classify_step(5.0, 6.5, 1.0) is Continuity.GAP
    assert classify_step(5.0, 600.0, 0.0) is Continuity.CONTINUOUS  # gap check disabled
