"""The node's parameters: one table with defaults, descriptions, ranges and run-time mutability.

Keeping the table separate from the node lets the YAML in config/, the docs and the tests check the same
names, and lets a run-time change be validated (NodeSettings.from_values) before it is accepted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from depth_motion_ros.geometry.direct_alignment import REFINEMENT_MODES
from depth_motion_ros.predictors.loader import BACKENDS
from depth_motion_ros.ros.qos import parse_reliability

CHOICES = {
    "backend": BACKENDS,
    "input_transport": ("raw", "compressed"),
    "intrinsics_source": ("auto", "camera_info", "learned"),
    "input_rectification": ("auto", "raw", "rectified"),
    "pose_refinement": REFINEMENT_MODES,
    "scale_mode": ("fixed", "camera_height", "odometry"),
}


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any
    description: str
    read_only: bool = False
    value_range: tuple[float, float] | None = None


PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("checkpoint", "", "Model checkpoint (.pt). Empty: the model bundled with the package. Setting "
                  "it at run time loads that model (refused, old model kept, if it cannot be used).", False),
    ParameterSpec("device", "auto", "Device: auto, cpu, cuda or cuda:N (at run time: reloads the model).", False),
    ParameterSpec("backend", "auto", "Inference backend: auto (ONNX Runtime where it is installed, with its CUDA "
                  "provider on a GPU; PyTorch otherwise), torch, or onnx (exported from the checkpoint once into "
                  "cache_dir). At run time: reloads the model.", False),
    ParameterSpec("cache_dir", "", "Folder of the ONNX exports, one per checkpoint content and exporter version; "
                  "empty: ~/.cache/depth_motion_ros/onnx. At run time: reloads the model.", False),
    ParameterSpec("input_height", 0, "Network input height in pixels; 0 = the model's own size.", False, (0, 4096)),
    ParameterSpec("input_width", 0, "Network input width in pixels; 0 = the model's own size.", False, (0, 4096)),
    ParameterSpec("input_transport", "raw",
                  "raw: subscribe to 'image' (sensor_msgs/Image); compressed: 'image/compressed'.", True),
    ParameterSpec("input_reliability", "best_effort", "QoS reliability of the inputs: best_effort or reliable.",
                  True),
    ParameterSpec("input_depth", 1, "QoS history depth of the inputs (1 = newest frame only).", True, (1, 100)),
    ParameterSpec("output_reliability", "reliable", "QoS reliability of the outputs: reliable or best_effort.",
                  True),
    ParameterSpec("output_depth", 1, "QoS history depth of the outputs.", True, (1, 100)),
    ParameterSpec("intrinsics_source", "auto",
                  "auto: camera_info when a valid one has arrived, else learned; camera_info: wait for it; "
                  "learned: always the motion network's intrinsics (fy for square pixels)."),
    ParameterSpec("pose_refinement", "none",
                  "Photometric refinement of the network's camera motion before it is integrated: none, "
                  "rotation (rotation only; the network keeps the translation) or full (rotation and "
                  "translation). Figures per mode: docs/node.md, Pose refinement."),
    ParameterSpec("input_rectification", "auto",
                  "raw: images whose camera_info has lens distortion are rectified here (K, D, R, P), as image_proc "
                  "would, and outputs belong to the rectified camera (P); rectified: 'image' is image_proc's "
                  "image_rect already, used as received with P's matrix; auto: rectified when the subscribed "
                  "topic is named image_rect*, else raw."),
    ParameterSpec("flip_average", False,
                  "Average each depth map with its mirror image's (Monodepth2's post-processing), for a second "
                  "depth pass. Figures: docs/node.md, Flip averaging."),
    ParameterSpec("camera_frame", "camera_optical_frame",
                  "Optical frame (REP 103) of depth, points and motion when an input image's header has no "
                  "frame_id (said once in the log); images with a frame_id keep theirs."),
    ParameterSpec("odom_frame", "odom", "Fixed frame of the odometry (REP 105)."),
    ParameterSpec("base_frame", "base_link", "Robot frame whose pose the odometry reports (REP 105)."),
    ParameterSpec("camera_mount", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                  "Camera body frame (x forward, REP 103) in base_frame: [x, y, z, roll, pitch, yaw], "
                  "metres and radians. The optical rotation is added by the node. Used while TF has no "
                  "base_frame -> image frame transform (or always with publish_camera_mount)."),
    ParameterSpec("publish_camera_mount", False,
                  "Publish camera_mount as the static transform base_frame -> camera_frame on /tf_static "
                  "(needs tf2_msgs) and use it instead of looking the mount up in TF. Leave false when the "
                  "robot description (robot_state_publisher) has the camera.", True),
    ParameterSpec("publish_depth", True, "Publish depth/image and depth/camera_info."),
    ParameterSpec("publish_points", True, "Publish the organised point cloud 'points'."),
    ParameterSpec("publish_odom", True, "Publish 'odom' (nav_msgs/Odometry)."),
    ParameterSpec("publish_motion", True, "Publish motion/field, motion/mask and motion/image."),
    ParameterSpec("publish_tf", True, "Broadcast odom_frame -> base_frame on /tf (needs tf2_ros)."),
    ParameterSpec("point_stride", 2, "Keep every N-th pixel (rows and columns) in the point cloud.", False, (1, 16)),
    ParameterSpec("max_point_range", 50.0, "Points farther than this (metres) become NaN; 0 = no limit.", False,
                  (0.0, 10000.0)),
    ParameterSpec("max_rate_hz", 0.0, "Upper bound on processed frames per second; 0 = as fast as possible.",
                  False, (0.0, 1000.0)),
    ParameterSpec("max_frame_gap", 1.0,
                  "Seconds between frames beyond which the pair is not used for motion; 0 = never.", False,
                  (0.0, 3600.0)),
    ParameterSpec("scale_mode", "fixed",
                  "fixed: metres_per_unit (not metric unless calibrated by hand); camera_height: metric scale from "
                  "the ground plane and camera_height; odometry: metric scale from the robot's own odometry "
                  "(nav_msgs/Odometry on 'robot_odom'): the median ratio of the distances travelled."),
    ParameterSpec("metres_per_unit", 1.0, "Metres per model depth unit in fixed mode (and before the first "
                  "estimate in camera_height and odometry mode).", False, (1e-6, 1e6)),
    ParameterSpec("odometry_scale_window", 10, "odometry mode: the scale is the median over this many recent "
                  "frame pairs with motion.", False, (1, 10000)),
    ParameterSpec("odometry_min_speed", 0.05, "odometry mode: frame pairs over which the camera moved slower "
                  "than this (m/s, by the robot's odometry) are not used for the scale.", False, (0.0, 100.0)),
    ParameterSpec("camera_height", 1.5, "Camera height above the ground in metres (camera_height mode).", False,
                  (0.01, 100.0)),
    ParameterSpec("ground_region", 0.35, "Lowest fraction of the image searched for the ground plane.", False,
                  (0.05, 0.9)),
    ParameterSpec("scale_smoothing", 0.1, "Weight of each new ground-plane scale in the running average.", False,
                  (0.001, 1.0)),
    ParameterSpec("motion_threshold", 0.5, "Object speed (m/s) above which motion/mask is set; 0.5 m/s is the "
                  "former 0.05 m a frame at the 10 Hz the node keeps at least (docs/node.md).", False,
                  (0.0, 100.0)),
    ParameterSpec("motion_full_scale", 5.0, "Object speed (m/s) shown at full brightness in motion/image.", False,
                  (1e-6, 100.0)),
    ParameterSpec("step_translation_noise", 0.15, "Relative standard deviation of one frame pair's translation "
                  "length for the odometry covariances, where no robot odometry measures it (fixed and "
                  "camera_height mode).", False, (0.0, 10.0)),
    ParameterSpec("step_rotation_noise", 0.01, "Standard deviation (radians, per axis) of one frame pair's "
                  "rotation for the odometry covariances, where no robot odometry measures it (fixed and "
                  "camera_height mode).", False, (0.0, 3.2)),
    ParameterSpec("diagnostics_period", 1.0,
                  "Seconds between diagnostic_msgs/DiagnosticArray messages on /diagnostics; 0 = none.", False,
                  (0.0, 3600.0)),
    ParameterSpec("summary_period", 10.0, "Seconds between one-line rate summaries in the log; 0 = never.", False,
                  (0.0, 3600.0)),
)

PARAMETER_NAMES = tuple(spec.name for spec in PARAMETERS)
READ_ONLY = frozenset(spec.name for spec in PARAMETERS if spec.read_only)


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """ParameterDescriptor with the description, read-only flag, choices and numeric range of ``spec``."""
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.name in CHOICES:
        desc.additional_constraints = "one of: " + ", ".join(CHOICES[spec.name])
    if spec.value_range is not None:
        low, high = spec.value_range
        if isinstance(spec.default, int) and not isinstance(spec.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    return desc


def _choice(values: dict[str, Any], name: str) -> str:
    value = str(values[name]).strip().lower()
    if value not in CHOICES[name]:
        raise ValueError(f"parameter '{name}' must be one of {', '.join(CHOICES[name])}; got '{values[name]}'")
    return value


def _six_numbers(values: dict[str, Any], name: str) -> tuple[float, ...]:
    numbers = tuple(float(v) for v in values[name])
    if len(numbers) != 6:
        raise ValueError(f"parameter '{name}' needs 6 numbers, got {len(numbers)}")
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"parameter '{name}' must be finite numbers (no NaN or infinity), got {list(numbers)}")
    return numbers


@dataclass(frozen=True)
class NodeSettings:
    """Validated parameter values as the node uses them (one immutable object, swapped as a whole)."""

    checkpoint: str
    device: str
    backend: str
    cache_dir: str
    input_size: tuple[int, int] | None
    input_transport: str
    input_reliability: str
    input_depth: int
    output_reliability: str
    output_depth: int
    intrinsics_source: str
    pose_refinement: str
    input_rectification: str
    flip_average: bool
    camera_frame: str
    odom_frame: str
    base_frame: str
    camera_mount: tuple[float, ...]
    publish_camera_mount: bool
    publish_depth: bool
    publish_points: bool
    publish_odom: bool
    publish_motion: bool
    publish_tf: bool
    point_stride: int
    max_point_range: float
    max_rate_hz: float
    max_frame_gap: float
    scale_mode: str
    metres_per_unit: float
    camera_height: float
    ground_region: float
    scale_smoothing: float
    motion_threshold: float
    motion_full_scale: float
    odometry_scale_window: int
    odometry_min_speed: float
    step_translation_noise: float
    step_rotation_noise: float
    diagnostics_period: float
    summary_period: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeSettings:
        """Validate a full name -> value mapping; ValueError names the first bad parameter."""
        height, width = int(values["input_height"]), int(values["input_width"])
        if (height == 0) != (width == 0):
            raise ValueError("input_height and input_width must both be 0 (model size) or both be set")
        for name in ("input_reliability", "output_reliability"):
            parse_reliability(str(values[name]))
        _check_ranges(values)
        odom_frame, base_frame = _frame_id(values, "odom_frame"), _frame_id(values, "base_frame")
        camera_frame = _frame_id(values, "camera_frame")
        _check_frames(odom_frame, base_frame, camera_frame)
        return cls(
            checkpoint=str(values["checkpoint"]),
            device=str(values["device"]),
            backend=_choice(values, "backend"),
            cache_dir=str(values["cache_dir"]),
            input_size=(height, width) if height else None,
            input_transport=_choice(values, "input_transport"),
            input_reliability=str(values["input_reliability"]),
            input_depth=int(values["input_depth"]),
            output_reliability=str(values["output_reliability"]),
            output_depth=int(values["output_depth"]),
            intrinsics_source=_choice(values, "intrinsics_source"),
            pose_refinement=_choice(values, "pose_refinement"),
            input_rectification=_choice(values, "input_rectification"),
            flip_average=bool(values["flip_average"]),
            camera_frame=camera_frame,
            odom_frame=odom_frame,
            base_frame=base_frame,
            camera_mount=_six_numbers(values, "camera_mount"),
            publish_camera_mount=bool(values["publish_camera_mount"]),
            publish_depth=bool(values["publish_depth"]),
            publish_points=bool(values["publish_points"]),
            publish_odom=bool(values["publish_odom"]),
            publish_motion=bool(values["publish_motion"]),
            publish_tf=bool(values["publish_tf"]),
            point_stride=int(values["point_stride"]),
            max_point_range=float(values["max_point_range"]),
            max_rate_hz=float(values["max_rate_hz"]),
            max_frame_gap=float(values["max_frame_gap"]),
            scale_mode=_choice(values, "scale_mode"),
            metres_per_unit=float(values["metres_per_unit"]),
            camera_height=float(values["camera_height"]),
            ground_region=float(values["ground_region"]),
            scale_smoothing=float(values["scale_smoothing"]),
            motion_threshold=float(values["motion_threshold"]),
            motion_full_scale=float(values["motion_full_scale"]),
            odometry_scale_window=int(values["odometry_scale_window"]),
            odometry_min_speed=float(values["odometry_min_speed"]),
            step_translation_noise=float(values["step_translation_noise"]),
            step_rotation_noise=float(values["step_rotation_noise"]),
            diagnostics_period=float(values["diagnostics_period"]),
            summary_period=float(values["summary_period"]),
        )


def _check_ranges(values: dict[str, Any]) -> None:
    """Every ranged parameter within its range, and not NaN: the descriptor's range is what rclpy checks, but
    a NaN passes some of its comparisons, and the same check here also covers values set before the
    descriptor (YAML overrides of another type of node) and the tests of this table."""
    for spec in PARAMETERS:
        if spec.value_range is None:
            continue
        value = float(values[spec.name])
        low, high = spec.value_range
        if not low <= value <= high:  # False for NaN
            raise ValueError(f"parameter '{spec.name}' must be within [{low:g}, {high:g}], got {value}")


def _frame_id(values: dict[str, Any], name: str) -> str:
    """A TF frame id: not blank, no surrounding spaces, no leading '/' (tf2 refuses those)."""
    frame = str(values[name])
    if not frame.strip():
        raise ValueError(f"parameter '{name}' must not be empty or blank")
    if frame != frame.strip() or frame.startswith("/"):
        raise ValueError(f"parameter '{name}' must be a tf2 frame id (no surrounding spaces, no leading "
                         f"'/'), got '{frame}'")
    return frame


def _check_frames(odom_frame: str, base_frame: str, camera_frame: str) -> None:
    """REP 105: odom -> base -> camera are three different frames (an odometry from a frame to itself, or
    points in the odometry's own frames, would put the tree in a loop)."""
    if odom_frame == base_frame:
        raise ValueError(f"parameters 'odom_frame' and 'base_frame' must differ (both are '{odom_frame}')")
    if camera_frame in (odom_frame, base_frame):
        raise ValueError(f"parameter 'camera_frame' must differ from odom_frame and base_frame "
                         f"(got '{camera_frame}')")


def default_values() -> dict[str, Any]:
    return {spec.name: spec.default for spec in PARAMETERS}
