"""Launch logic (pure functions, always tested) and the launch file itself (only where `launch` exists)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from depth_motion_ros.node_support.launch_arguments import (
    EXECUTABLE,
    LARGE_FRAMES_PROFILE,
    MANAGED_EXECUTABLE,
    launch_arguments,
    middleware_environment,
    node_remappings,
    parse_bool,
    plan_launch,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / "launch" / "node.launch.py"


def _values(**changes: str) -> dict[str, str]:
    values = {name: default for name, default, _ in launch_arguments(REPO_ROOT)}
    values.update(changes)
    return values


def test_defaults_point_at_the_shipped_config_files():
    values = _values()
    assert Path(values["params_file"]).is_file() and Path(values["rviz_config"]).is_file()
    plan = plan_launch(values)
    assert plan.parameters == [values["params_file"], {"use_sim_time": False}]
    assert plan.rviz_config is None and plan.namespace == ""
    assert plan.ros_arguments == ["--log-level", "info"]


def test_camera_topics_are_remapped_for_raw_and_compressed_input():
    assert node_remappings("/camera/color/image_raw/", "/camera/color/camera_info") == [
        ("image", "/camera/color/image_raw"),
        ("camera_info", "/camera/color/camera_info")]
    with pytest.raises(ValueError, match="must not be empty"):
        node_remappings("", "camera_info")


def test_rviz_namespace_sim_time_and_log_level():
    plan = plan_launch(_values(rviz="true", namespace="front", use_sim_time="True", log_level="DEBUG"))
    assert plan.rviz_config == _values()["rviz_config"] and plan.namespace == "front"
    assert plan.parameters[1] == {"use_sim_time": True} and plan.ros_arguments[-1] == "debug"


@pytest.mark.parametrize("changes, message", [
    ({"rviz": "maybe"}, "'rviz' must be true or false"),
    ({"managed": "perhaps"}, "'managed' must be true or false"),
    ({"log_level": "loud"}, "log_level"),
    ({"params_file": "/no/such/params.yaml"}, "does not exist"),
    ({"fastdds_profile": "/no/such/profile.xml"}, "fastdds_profile '/no/such/profile.xml' does not exist"),
])
def test_bad_arguments_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        plan_launch(_values(**changes))


def test_managed_chooses_the_lifecycle_node():
    assert plan_launch(_values()).executable == EXECUTABLE == "depth_motion_node"
    assert plan_launch(_values(managed="true")).executable == MANAGED_EXECUTABLE == "depth_motion_lifecycle_node"


def test_a_fastdds_profile_is_given_to_the_node_and_rviz_only_when_asked(monkeypatch):
    """Off by default: the profile must be in the camera's process to help (docs/decisions/frame-delivery.md)."""
    assert plan_launch(_values()).environment == {}
    shipped = REPO_ROOT / LARGE_FRAMES_PROFILE
    monkeypatch.delenv("ROS_DISTRO", raising=False)  # the PyPI wheels: Kilted, Fast DDS 3
    assert plan_launch(_values(fastdds_profile=str(shipped))).environment == {
        "FASTDDS_DEFAULT_PROFILES_FILE": str(shipped)}
    assert str(shipped) in dict((n, d) for n, _, d in launch_arguments(REPO_ROOT))["fastdds_profile"]


@pytest.mark.parametrize("distro, variable", [("humble", "FASTRTPS_DEFAULT_PROFILES_FILE"),
                                              ("jazzy", "FASTRTPS_DEFAULT_PROFILES_FILE"),
                                              ("kilted", "FASTDDS_DEFAULT_PROFILES_FILE"),
                                              ("rolling", "FASTDDS_DEFAULT_PROFILES_FILE")])
def test_the_profile_variable_is_the_one_the_distros_fast_dds_reads(distro, variable):
    """Fast DDS 2 (Humble to Jazzy) reads only FASTRTPS_...; Fast DDS 3's rmw warns about that name."""
    assert middleware_environment("/p.xml", distro) == {variable: "/p.xml"}


def test_parse_bool_accepts_launch_spellings():
    assert parse_bool("On") and parse_bool("1") and not parse_bool("no") and not parse_bool("FALSE")


def test_rviz_config_shows_every_output_with_relative_topics():
    text = (REPO_ROOT / "config" / "depth_motion.rviz").read_text()
    for topic in ("depth/image", "points", "odom", "motion/image"):
        assert f"Value: {topic}\n" in text, topic


@pytest.mark.skipif(importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None,
                    reason="launch / launch_ros are not installed (they come with a ROS 2 distro)")
def test_launch_file_builds_a_description():
    spec = importlib.util.spec_from_file_location("node_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {entity.name for entity in description.entities if hasattr(entity, "name")}
    assert {"params_file", "namespace", "image", "camera_info", "managed", "rviz"} <= names
