"""Start the depth_motion node (and optionally RViz2 with the shipped view).

    ros2 launch depth_motion_ros node.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info rviz:=true

Arguments: params_file, namespace, image, camera_info, use_sim_time, log_level, managed (true: the
lifecycle node, for a lifecycle manager to configure and activate), fastdds_profile (a Fast DDS XML profile
for the node and RViz, such as the shipped config/fastdds_large_frames.xml; empty: none), rviz, rviz_config
(see depth_motion_ros/node_support/launch_arguments.py, where their logic lives and is tested).
"""
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from depth_motion_ros.node_support.launch_arguments import (
    NODE_NAME,
    PACKAGE,
    launch_arguments,
    plan_launch,
)


def _launch_setup(context, *args, **kwargs):
    share = get_package_share_directory(PACKAGE)
    values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in launch_arguments(share)}
    plan = plan_launch(values)
    # managed:=true starts the lifecycle variant as a plain launch_ros Node: it stays unconfigured until a
    # lifecycle manager (or `ros2 lifecycle set`) drives it, as Nav2 expects of its nodes.
    actions = [Node(package=PACKAGE, executable=plan.executable, name=NODE_NAME, namespace=plan.namespace,
                    parameters=plan.parameters, remappings=plan.remappings, ros_arguments=plan.ros_arguments,
                    additional_env=plan.environment, output="screen", emulate_tty=True)]
    if plan.rviz_config is not None:
        actions.append(Node(package="rviz2", executable="rviz2", namespace=plan.namespace,
                            arguments=["-d", plan.rviz_config], parameters=plan.parameters[1:],
                            additional_env=plan.environment, output="screen"))
    return actions


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in launch_arguments(share)]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
