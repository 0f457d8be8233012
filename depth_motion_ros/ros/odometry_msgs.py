"""nav_msgs/Odometry and TransformStamped from an OdometryState, and the pose out of a robot's Odometry."""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
from std_msgs.msg import Header

from depth_motion_ros.odometry import OdometryState
from depth_motion_ros.transforms import matrix_to_quaternion, pose_matrix


def _diagonal_covariance(diagonal: np.ndarray) -> list[float]:
    covariance = np.zeros((6, 6))
    np.fill_diagonal(covariance, diagonal)
    return [float(v) for v in covariance.reshape(36)]


def build_odometry(state: OdometryState, header: Header, child_frame: str) -> Odometry:
    """Odometry with the pose in ``header.frame_id`` (odom) and the twist in ``child_frame`` (base_link), and
    the state's covariances (diagonal)."""
    msg = Odometry()
    msg.header = header
    msg.child_frame_id = child_frame
    position = state.odom_T_base[:3, 3]
    quaternion = matrix_to_quaternion(state.odom_T_base[:3, :3])
    msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = (float(v) for v in position)
    (msg.pose.pose.orientation.x, msg.pose.pose.orientation.y,
     msg.pose.pose.orientation.z, msg.pose.pose.orientation.w) = (float(v) for v in quaternion)
    msg.pose.covariance = _diagonal_covariance(state.pose_variance)
    msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.linear.z = (
        float(v) for v in state.linear_velocity)
    msg.twist.twist.angular.x, msg.twist.twist.angular.y, msg.twist.twist.angular.z = (
        float(v) for v in state.angular_velocity)
    msg.twist.covariance = _diagonal_covariance(state.twist_variance)
    return msg


def transform_message(parent_T_child: np.ndarray, header: Header, child_frame: str) -> TransformStamped:
    """``header.frame_id -> child_frame`` transform carrying the 4x4 pose of the child in the parent."""
    msg = TransformStamped()
    msg.header = header
    msg.child_frame_id = child_frame
    translation = parent_T_child[:3, 3]
    quaternion = matrix_to_quaternion(parent_T_child[:3, :3])
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (
        float(v) for v in translation)
    (msg.transform.rotation.x, msg.transform.rotation.y,
     msg.transform.rotation.z, msg.transform.rotation.w) = (float(v) for v in quaternion)
    return msg


def transform_matrix(msg: TransformStamped) -> np.ndarray:
    """The 4x4 pose of ``msg.child_frame_id`` in ``msg.header.frame_id`` (inverse of `transform_message`)."""
    t, q = msg.transform.translation, msg.transform.rotation
    return pose_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))


def build_transform(state: OdometryState, header: Header, child_frame: str) -> TransformStamped:
    """``header.frame_id -> child_frame`` transform carrying the odometry pose (for /tf)."""
    return transform_message(state.odom_T_base, header, child_frame)


def odometry_pose(msg: Odometry) -> np.ndarray:
    """The 4x4 pose (``child_frame_id`` in ``header.frame_id``) of a robot's nav_msgs/Odometry."""
    position, orientation = msg.pose.pose.position, msg.pose.pose.orientation
    return pose_matrix((position.x, position.y, position.z),
                       (orientation.x, orientation.y, orientation.z, orientation.w))
