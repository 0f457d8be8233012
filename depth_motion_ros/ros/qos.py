"""QoS profiles from node parameters.

Inputs default to sensor-data QoS (best effort, depth 1): a camera publishing best effort cannot talk to a
reliable subscription, and depth 1 is the newest-frame policy at the DDS level too. Outputs default to
reliable so RViz (reliable by default) receives them; best-effort outputs remain one parameter away.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY_CHOICES = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
}


def parse_reliability(name: str) -> ReliabilityPolicy:
    """'best_effort' or 'reliable' (case and dash/underscore insensitive); ValueError otherwise."""
    key = name.strip().lower().replace("-", "_")
    if key not in RELIABILITY_CHOICES:
        raise ValueError(f"QoS reliability must be one of {sorted(RELIABILITY_CHOICES)}, got '{name}'")
    return RELIABILITY_CHOICES[key]


def make_qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last volatile profile with the given reliability and history depth."""
    if depth < 1:
        raise ValueError(f"QoS depth must be at least 1, got {depth}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                      reliability=parse_reliability(reliability), durability=DurabilityPolicy.VOLATILE)
