"""/tf and /tf_static publishers that need only the tf2_msgs messages, not tf2_ros.

They publish tf2_msgs/TFMessage on the topics and with the QoS of tf2_ros's TransformBroadcaster (/tf:
reliable, volatile, depth 100) and StaticTransformBroadcaster (/tf_static: reliable, transient local, depth
1, so that a listener that starts later still gets the static transform). A ROS 2 distro has tf2_msgs; the
ROS 2 wheels from PyPI (requirements-ros.txt) have neither tf2_msgs nor tf2_ros, and there the node publishes
no TF and says so once.
"""
from __future__ import annotations

from typing import Any

from geometry_msgs.msg import TransformStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


class TransformPublisher:
    """Publishes TransformStamped messages as tf2_msgs/TFMessage on /tf or, `static`, on /tf_static."""

    def __init__(self, node: Any, message_type: type, static: bool) -> None:
        qos = QoSProfile(depth=1 if static else 100, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if static else DurabilityPolicy.VOLATILE)
        self._node = node
        self._message_type = message_type
        self.topic = "/tf_static" if static else "/tf"
        self._publisher = node.create_publisher(message_type, self.topic, qos)

    def sendTransform(self, transform: TransformStamped) -> None:  # noqa: N802 (tf2_ros's name)
        self._publisher.publish(self._message_type(transforms=[transform]))

    def destroy(self) -> None:
        self._node.destroy_publisher(self._publisher)


def _tf_message_type() -> tuple[type | None, str]:
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError as error:
        return None, f"tf2_msgs is not importable ({error})"
    return TFMessage, ""


def make_transform_broadcaster(node: Any, static: bool = False) -> tuple[TransformPublisher | None, str]:
    """``(TransformPublisher, '')`` for /tf (or /tf_static), or ``(None, reason)`` without tf2_msgs."""
    message_type, reason = _tf_message_type()
    if message_type is None:
        return None, reason
    return TransformPublisher(node, message_type, static), ""
