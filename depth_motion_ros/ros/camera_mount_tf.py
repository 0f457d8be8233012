"""The camera mount, base_frame -> the camera's optical frame (REP 105), from TF or from the parameter.

On a robot the URDF (through robot_state_publisher) already says where the camera is; a second copy in the
'camera_mount' parameter would drift from it. So, with tf2_ros importable (a ROS 2 distro), the mount is
looked up in TF for each frame, from base_frame to the image's own frame_id, and 'camera_mount' is used only
while TF has no such transform. With 'publish_camera_mount' the parameter is the source instead: it goes out
once on /tf_static (as base_frame -> camera_frame, transient local, so RViz and every later listener place
the points), and TF is not consulted.

What exists depends on the installation, and `describe` says which case holds (logs and /diagnostics):

* a ROS 2 distro (tf2_ros and tf2_msgs): lookup, and /tf_static when asked;
* tf2_msgs without tf2_ros: /tf_static when asked, no lookup;
* the ROS 2 wheels from PyPI (neither): no lookup, nothing on /tf_static; the mount is the parameter.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.time import Time
from std_msgs.msg import Header

from depth_motion_ros.odometry import camera_mount
from depth_motion_ros.ros.odometry_msgs import transform_matrix, transform_message
from depth_motion_ros.ros.parameters import NodeSettings
from depth_motion_ros.ros.tf_broadcast import make_transform_broadcaster


class CameraMountTf:
    """The mount for each frame (`mount_for`) and the /tf_static publisher of 'publish_camera_mount'."""

    def __init__(self, node: Any, settings: NodeSettings) -> None:
        self._node = node
        self._buffer: Any = None
        self._listener: Any = None
        self._transform_exception: type[Exception] = LookupError
        self._static: Any = None
        #: What the last frame's mount came from (reported on /diagnostics; logged when TF starts or stops
        #: giving it).
        self.source = ""
        self._from_tf: bool | None = None
        self._warned_other_frame = False
        if settings.publish_camera_mount:
            self._static, problem = make_transform_broadcaster(node, static=True)
            self._off = "" if self._static is not None else f"{problem}: nothing is published on /tf_static"
        else:
            try:
                from tf2_ros import Buffer, TransformException, TransformListener
            except ImportError as error:
                self._off = f"no TF lookup, tf2_ros is not importable ({error})"
            else:
                self._off = ""
                self._transform_exception = TransformException
                self._buffer = Buffer()
                self._listener = TransformListener(self._buffer, node, spin_thread=False)
        self.publish(settings)

    def publish(self, settings: NodeSettings) -> None:
        """Send 'camera_mount' on /tf_static as base_frame -> camera_frame (when asked and possible); again
        after a change of the mount or of either frame."""
        if self._static is None:
            return
        header = Header(stamp=self._node.get_clock().now().to_msg(), frame_id=settings.base_frame)
        self._static.sendTransform(transform_message(camera_mount(settings.camera_mount), header,
                                                     settings.camera_frame))

    def mount_for(self, frame_id: str, settings: NodeSettings) -> np.ndarray:
        """``base_T_optical`` (4x4) for an image in `frame_id`: TF's latest base_frame -> frame_id when there is
        one, else the 'camera_mount' parameter. A change of source is logged once."""
        mount = None
        if self._buffer is not None:
            try:  # Time(): tf2's "latest available"
                found = self._buffer.lookup_transform(settings.base_frame, frame_id, Time())
            except self._transform_exception as error:
                source = f"camera_mount parameter (TF has no {settings.base_frame} -> {frame_id}: {error})"
            else:
                mount = transform_matrix(found)
                source = f"TF {settings.base_frame} -> {frame_id}"
        elif self._static is not None:
            source = (f"camera_mount parameter, published on /tf_static as {settings.base_frame} -> "
                      f"{settings.camera_frame}")
            if frame_id != settings.camera_frame and not self._warned_other_frame:
                self._warned_other_frame = True
                self._node.get_logger().warning(
                    f"the images are in frame '{frame_id}' but the camera mount goes to /tf_static for "
                    f"camera_frame '{settings.camera_frame}': set camera_frame to '{frame_id}' so that TF can "
                    "place the outputs (said once)")
        else:
            source = f"camera_mount parameter ({self._off})"
        if (mount is not None) != self._from_tf:
            self._from_tf = mount is not None
            self._node.get_logger().info(f"camera mount from {source}")
        self.source = source
        return mount if mount is not None else camera_mount(settings.camera_mount)

    def describe(self, settings: NodeSettings) -> str:
        """One line for the start-up log: where the mount comes from and what goes on /tf_static."""
        if self._static is not None:
            return (f"camera mount: the camera_mount parameter, published on /tf_static as {settings.base_frame} "
                    f"-> {settings.camera_frame}")
        if self._buffer is not None:
            return (f"camera mount: TF {settings.base_frame} -> <image frame_id> when it exists, else the "
                    "camera_mount parameter; nothing published on /tf_static")
        return f"camera mount: the camera_mount parameter ({self._off})"

    def close(self) -> None:
        """Destroy the publisher and the listener's subscriptions (a managed node's cleanup)."""
        if self._static is not None:
            self._static.destroy()
        if self._listener is not None:
            self._listener.unregister()
