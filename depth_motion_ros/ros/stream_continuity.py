"""Decide from consecutive image stamps whether the previous frame can pair with the current one.

A bag that loops (or a simulator that restarts) sends time backwards, and a camera that stalls leaves a gap;
in both cases the motion network would be asked about two unrelated images. The node resets its state on
those events instead, and tells the user why.
"""
from __future__ import annotations

import enum


class Continuity(enum.Enum):
    FIRST = "first"          # no previous frame: nothing to pair with
    CONTINUOUS = "continuous"
    DUPLICATE = "duplicate"  # same stamp as the previous frame: skip motion, keep state
    BACKWARDS = "backwards"  # time jumped back: restart odometry from the origin
    GAP = "gap"              # too long since the previous frame: drop the pair, keep the pose


def classify_step(previous_stamp: float | None, stamp: float, max_gap_s: float) -> Continuity:
    """Classify the step from ``previous_stamp`` to ``stamp`` (seconds); ``max_gap_s <= 0`` disables gaps."""
    if previous_stamp is None:
        return Continuity.FIRST
    dt = stamp - previous_stamp
    if dt < 0.0:
        return Continuity.BACKWARDS
    if dt == 0.0:
        return Continuity.DUPLICATE
    if max_gap_s > 0.0 and dt > max_gap_s:
        return Continuity.GAP
    return Continuity.CONTINUOUS
