"""The launch file's logic as plain functions, so it is tested where the `launch` packages are absent.

launch/node.launch.py only declares these arguments and turns NodeLaunchPlan into launch_ros actions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "depth_motion_ros"
EXECUTABLE = "depth_motion_node"
#: The managed (lifecycle) variant: starts unconfigured; a lifecycle manager configures and activates it.
MANAGED_EXECUTABLE = "depth_motion_lifecycle_node"
NODE_NAME = "depth_motion"

#: The shipped Fast DDS profile for large raw images (docs/node.md, "Frames that arrive").
LARGE_FRAMES_PROFILE = Path("config") / "fastdds_large_frames.xml"
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def launch_arguments(share_dir: str | Path) -> list[tuple[str, str, str]]:
    """``(name, default, description)`` of every launch argument; defaults point into the package share."""
    share = Path(share_dir)
    return [
        ("params_file", str(share / "config" / "depth_motion.yaml"), "Node parameters YAML."),
        ("namespace", "", "Namespace of the node (and of RViz, whose displays use relative topics)."),
        ("image", "image", "Camera image topic ('/compressed' is appended for compressed input)."),
        ("camera_info", "camera_info", "CameraInfo topic of the camera."),
        ("use_sim_time", "false", "Use /clock (true when playing a bag with --clock)."),
        ("log_level", "info", "Node log level: debug shows per-stage timings."),
        ("managed", "false", "Start the lifecycle node (depth_motion_lifecycle_node): unconfigured until a "
         "lifecycle manager (e.g. Nav2's) configures and activates it."),
        ("fastdds_profile", "", "Fast DDS XML profile for the node and RViz, e.g. the shipped "
         f"{share / LARGE_FRAMES_PROFILE} (large raw images; it must be loaded by the camera's process too, "
         "docs/node.md, 'Frames that arrive'); empty: the environment's middleware configuration."),
        ("rviz", "false", "Also start RViz2 with the shipped configuration."),
        ("rviz_config", str(share / "config" / "depth_motion.rviz"), "RViz2 configuration file."),
    ]


def parse_bool(text: str, name: str = "value") -> bool:
    """Launch-style booleans ('true'/'false', '1'/'0', 'yes'/'no', 'on'/'off'); ValueError otherwise."""
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"launch argument '{name}' must be true or false, got '{text}'")


def node_remappings(image: str, camera_info: str) -> list[tuple[str, str]]:
    """Remap the node's relative input names onto the camera's topics. The compressed subscription follows the
    remapped 'image' by itself ('<image>/compressed', image_transport's naming), so it needs no rule."""
    image = image.rstrip("/")
    if not image or not camera_info:
        raise ValueError("the image and camera_info topics must not be empty")
    return [("image", image), ("camera_info", camera_info)]


def middleware_environment(profile: str | Path, distro: str | None = None) -> dict[str, str]:
    """The environment in which Fast DDS loads `profile` as its default XML profile. Fast DDS 2 (Humble, Iron,
    Jazzy) reads FASTRTPS_DEFAULT_PROFILES_FILE; Fast DDS 3 (Kilted on, and the PyPI wheels, which set no
    ROS_DISTRO) reads FASTDDS_DEFAULT_PROFILES_FILE, and its rmw warns that the older name is deprecated. The
    shipped profile sets only the participant's transports, so the node's QoS still come from its parameters
    (RMW_FASTRTPS_USE_QOS_FROM_XML unset)."""
    distro = os.environ.get("ROS_DISTRO", "") if distro is None else distro
    fast_dds_2 = distro.strip().lower() in ("humble", "iron", "jazzy")
    return {PROFILE_VARIABLES[1] if fast_dds_2 else PROFILE_VARIABLES[0]: str(profile)}


@dataclass(frozen=True)
class NodeLaunchPlan:
    namespace: str
    executable: str             # depth_motion_node, or depth_motion_lifecycle_node with managed:=true
    parameters: list
    remappings: list[tuple[str, str]]
    ros_arguments: list[str]
    rviz_config: str | None     # None: RViz is not started
    environment: dict[str, str]  # added to the node's and RViz's environment (middleware_environment)


def plan_launch(values: dict[str, str]) -> NodeLaunchPlan:
    """Everything the launch file needs, from the performed launch argument values."""
    params_file = values["params_file"]
    if not Path(params_file).is_file():
        raise ValueError(f"params_file '{params_file}' does not exist")
    level = values["log_level"].strip().lower()
    if level not in ("debug", "info", "warn", "error", "fatal"):
        raise ValueError(f"log_level must be debug, info, warn, error or fatal, got '{values['log_level']}'")
    profile = values["fastdds_profile"].strip()
    if profile and not Path(profile).is_file():
        raise ValueError(f"fastdds_profile '{profile}' does not exist")
    rviz = parse_bool(values["rviz"], "rviz")
    managed = parse_bool(values["managed"], "managed")
    return NodeLaunchPlan(
        namespace=values["namespace"],
        executable=MANAGED_EXECUTABLE if managed else EXECUTABLE,
        parameters=[params_file, {"use_sim_time": parse_bool(values["use_sim_time"], "use_sim_time")}],
        remappings=node_remappings(values["image"], values["camera_info"]),
        ros_arguments=["--log-level", level],
        rviz_config=values["rviz_config"] if rviz else None,
        environment=middleware_environment(profile) if profile else {},
    )
