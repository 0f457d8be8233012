"""Optional /tf broadcasting: tf2_ros when the distro provides it, otherwise odometry topic only.

tf2_ros is not installable from PyPI, so the node must work without it; it then says so once instead of
failing, and RViz can still show the trajectory from the 'odom' topic.
"""
from __future__ import annotations

from typing import Any


def make_transform_broadcaster(node: Any) -> tuple[Any | None, str]:
    """``(tf2_ros.TransformBroadcaster(node), '')`` or ``(None, reason)`` when tf2_ros cannot be imported."""
    try:
        from tf2_ros import TransformBroadcaster
    except ImportError as error:
        return None, f"tf2_ros is not importable ({error})"
    return TransformBroadcaster(node), ""
