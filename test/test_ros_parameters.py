"""Parameter table, validation of whole parameter sets, QoS parsing, and the shipped YAML's consistency."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rclpy.qos import HistoryPolicy, ReliabilityPolicy

from depth_motion_ros.ros.parameters import (
    PARAMETER_NAMES,
    PARAMETERS,
    READ_ONLY,
    NodeSettings,
    default_values,
    descriptor,
)
from depth_motion_ros.ros.qos import make_qos, parse_reliability

CONFIG = Path(__file__).resolve().parents[1] / "config" / "depth_motion.yaml"


@pytest.mark.parametrize("text, policy", [("best_effort", ReliabilityPolicy.BEST_EFFORT),
                                          ("Best-Effort", ReliabilityPolicy.BEST_EFFORT),
                                          ("reliable", ReliabilityPolicy.RELIABLE)])
def test_reliability_parsing(text, policy):
    assert parse_reliability(text) == policy


def test_unknown_reliability_and_bad_depth_are_rejected():
    with pytest.raises(ValueError, match="reliability"):
        parse_reliability("sometimes")
    with pytest.raises(ValueError, match="depth"):
        make_qos("reliable", 0)


def test_qos_profile_fields():
    qos = make_qos("best_effort", 3)
    assert qos.reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos.history == HistoryPolicy.KEEP_LAST and qos.depth == 3


def test_defaults_validate_with_sensor_data_in_and_reliable_out():
    settings = NodeSettings.from_values(default_values())
    assert settings.input_reliability == "best_effort" and settings.input_depth == 1
    assert settings.output_reliability == "reliable"
    assert settings.input_size is None and settings.camera_mount == (0.0,) * 6


@pytest.mark.parametrize("changes, message", [
    ({"scale_mode": "magic"}, "scale_mode"),
    ({"intrinsics_source": "guess"}, "intrinsics_source"),
    ({"pose_refinement": "everything"}, "pose_refinement"),
    ({"input_transport": "theora"}, "input_transport"),
    ({"input_height": 128}, "both"),
    ({"output_reliability": "maybe"}, "reliability"),
    ({"camera_mount": [0.0, 1.0]}, "camera_mount"),
    ({"step_translation_noise": -0.1}, "'step_translation_noise' must be within"),
    ({"odom_frame": " "}, "must not be empty"),
    ({"camera_frame": ""}, "'camera_frame' must not be empty or blank"),
    ({"camera_frame": "  "}, "'camera_frame' must not be empty or blank"),
    ({"base_frame": "/base_link"}, "'base_frame' must be a tf2 frame id"),
    ({"base_frame": "odom"}, "'odom_frame' and 'base_frame' must differ"),
    ({"camera_frame": "base_link"}, "'camera_frame' must differ"),
    ({"camera_mount": [0.0, float("nan"), 0.0, 0.0, 0.0, 0.0]}, "'camera_mount' must be finite"),
    ({"step_rotation_noise": float("nan")}, "'step_rotation_noise' must be within"),
    ({"odometry_min_speed": float("inf")}, "'odometry_min_speed' must be within"),
    ({"odometry_scale_window": 0}, "'odometry_scale_window' must be within"),
    ({"metres_per_unit": float("nan")}, "'metres_per_unit' must be within"),
    ({"motion_threshold": float("nan")}, "'motion_threshold' must be within"),
    ({"point_stride": 0}, "'point_stride' must be within"),
    ({"camera_height": 0.0}, "'camera_height' must be within"),
])
def test_invalid_values_name_the_parameter(changes, message):
    values = default_values()
    values.update(changes)
    with pytest.raises(ValueError, match=message):
        NodeSettings.from_values(values)


def test_every_parameter_has_a_described_descriptor_with_its_range():
    for spec in PARAMETERS:
        desc = descriptor(spec)
        assert desc.description and desc.read_only == spec.read_only
    stride = descriptor(next(s for s in PARAMETERS if s.name == "point_stride"))
    assert (stride.integer_range[0].from_value, stride.integer_range[0].to_value) == (1, 16)
    rate = descriptor(next(s for s in PARAMETERS if s.name == "max_rate_hz"))
    assert rate.floating_point_range[0].to_value == 1000.0
    assert {"input_transport", "input_reliability", "output_depth"} <= READ_ONLY
    assert not {"checkpoint", "device", "backend", "input_height", "input_width", "max_rate_hz"} & READ_ONLY


def test_shipped_yaml_lists_exactly_the_declared_parameters_with_their_defaults():
    content = yaml.safe_load(CONFIG.read_text())
    values = content["/**"]["ros__parameters"]
    assert set(values) == set(PARAMETER_NAMES)
    assert values == default_values()
    assert NodeSettings.from_values(values) == NodeSettings.from_values(default_values())
