"""Turn a recorded node run back into arrays and score it against the ground truth of the played bag.

Outputs are matched to input frames by header stamp (the node copies the input's header), so frames the
node dropped simply have no prediction. Odometry is of `base_link`; with the camera mount the node was
given, it is converted back to camera-to-world poses in the optical frame of the first processed camera.
The node's object-motion field of a frame (published with that frame's header, one frame late) is the
motion to the next processed frame in the frame's own camera; it is scored where that next frame is the
next input frame, against the rendered truth rotated into the same camera.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from rosbags.typesys import Stores, get_typestore

from depth_motion_ros.cli.topic_recorder import RecordedMessage
from depth_motion_ros.evaluation.baselines import BASELINES
from depth_motion_ros.evaluation.evaluator import (
    EvaluationReport,
    EvaluationSettings,
    evaluate_predictions,
    evaluate_sequence,
)
from depth_motion_ros.image_encoding import raw_image_to_rgb
from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.transforms import pose_matrix

_TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
_FLOAT_CHANNELS = {"32FC1": 1, "32FC3": 3}
#: EvaluationReport fields that come from the poses.
POSE_FIELDS = ("pose_frames", "snippets", "snippet_ate", "snippet_ate_std", "snippet_ate_interval", "per_snippet_ate",
               "trajectory_ate", "rpe_translation", "rpe_rotation_deg")


def decode(message: RecordedMessage, type_name: str):
    """Deserialize a recorded message (rosbags message object)."""
    return _TYPESTORE.deserialize_cdr(message.data, type_name)


def float_image(msg) -> np.ndarray:
    """32FC1 / 32FC3 Image -> float32 [H, W] or [H, W, C], honouring row padding and endianness."""
    channels = _FLOAT_CHANNELS.get(msg.encoding)
    if channels is None:
        raise ValueError(f"expected a 32FC1 or 32FC3 image, got '{msg.encoding}'")
    dtype = np.dtype(np.float32).newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    values = rows[:, :msg.width * channels * 4].copy().view(dtype).astype(np.float32)
    return values.reshape(msg.height, msg.width) if channels == 1 else values.reshape(msg.height, msg.width, channels)


def colour_image(msg) -> np.ndarray:
    """An 8-bit Image (rgb8, bgr8, mono8, ...) -> uint8 RGB [H, W, 3]."""
    return raw_image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), bytes(msg.data))


def cloud_points(msg) -> tuple[np.ndarray, np.ndarray]:
    """PointCloud2 with x y z (float32) and packed rgb -> (finite points [N, 3], uint8 colours [N, 3])."""
    offsets = {f.name: f.offset for f in msg.fields}
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(-1, msg.point_step)
    xyz = np.stack([raw[:, offsets[a]:offsets[a] + 4].copy().view("<f4")[:, 0] for a in "xyz"], axis=1)
    packed = raw[:, offsets["rgb"]:offsets["rgb"] + 4].copy().view("<u4")[:, 0]
    rgb = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)
    keep = np.all(np.isfinite(xyz), axis=1)
    return xyz[keep], rgb[keep]


def odometry_pose(msg) -> np.ndarray:
    """nav_msgs/Odometry -> 4x4 pose of the child frame in the odometry frame."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return pose_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


@dataclass
class FrameOutputs:
    """The node's outputs for one input frame."""
    stamp_ns: int
    depth: np.ndarray | None = None
    camera_pose: np.ndarray | None = None        # camera-to-world (optical), world = first camera
    motion_image: np.ndarray | None = None       # the node's own colour rendering of the motion field
    motion_field: np.ndarray | None = None
    points: tuple[np.ndarray, np.ndarray] | None = None


def collect_outputs(messages: list[RecordedMessage], namespace: str, base_T_optical: np.ndarray,
                    with_points: bool = True) -> list[FrameOutputs]:
    """Group the recorded outputs by stamp; camera poses from odometry through the camera mount."""
    by_stamp: dict[int, FrameOutputs] = {}
    mount_inverse = np.linalg.inv(base_T_optical)
    for message in messages:
        topic = message.topic.removeprefix(namespace + "/")
        if topic == "points" and not with_points:
            continue
        frame = by_stamp.setdefault(message.stamp_ns, FrameOutputs(message.stamp_ns))
        if topic == "depth/image":
            frame.depth = float_image(decode(message, "sensor_msgs/msg/Image"))
        elif topic == "odom":
            odom_T_base = odometry_pose(decode(message, "nav_msgs/msg/Odometry"))
            frame.camera_pose = mount_inverse @ odom_T_base @ base_T_optical
        elif topic == "motion/image":
            frame.motion_image = colour_image(decode(message, "sensor_msgs/msg/Image"))
        elif topic == "motion/field":
            frame.motion_field = float_image(decode(message, "sensor_msgs/msg/Image"))
        elif topic == "points":
            frame.points = cloud_points(decode(message, "sensor_msgs/msg/PointCloud2"))
    frames = sorted((f for f in by_stamp.values() if f.depth is not None), key=lambda f: f.stamp_ns)
    if frames and frames[0].camera_pose is None:
        frames[0].camera_pose = np.eye(4)  # odometry starts at the first processed frame: the origin
    return frames


def stamp_key(seconds: float) -> int:
    """Frame timestamps (float seconds) and header stamps (ns, see `stamp_key_ns`) compared in microseconds."""
    return int(round(seconds * 1e6))


def stamp_key_ns(stamp_ns: int) -> int:
    return int(round(stamp_ns / 1000))


def object_motion_truth_in_own_camera(frame: Frame, following: Frame) -> np.ndarray | None:
    """`frame`'s true object motion to `following` (given in `following`'s camera) in `frame`'s own camera,
    the frame of the node's `motion/field`; None without the truth or the poses to rotate it."""
    if frame.object_motion is None or frame.pose is None or following.pose is None:
        return None
    own_R_next = frame.pose[:3, :3].T @ following.pose[:3, :3]
    in_own_camera: np.ndarray = (frame.object_motion.astype(np.float64) @ own_R_next.T).astype(np.float32)
    return in_own_camera


def _object_motions(matched: list[tuple[FrameOutputs, Frame]]) -> tuple[list, list] | None:
    """Per matched frame: the node's field and the truth of the pair it starts, where the next processed
    frame is the next input frame (a dropped frame makes the pair longer than the truth's one step)."""
    if not any(gt.object_motion is not None for _, gt in matched):
        return None
    predicted: list[np.ndarray | None] = []
    truth: list[np.ndarray | None] = []
    for (outputs, gt), following in zip(matched, [*matched[1:], None], strict=True):
        consecutive = following is not None and following[1].index == gt.index + 1
        pair_truth = object_motion_truth_in_own_camera(gt, following[1]) if following and consecutive else None
        has_both = pair_truth is not None and outputs.motion_field is not None
        # The node's field is metres per second; the truth is the pair's displacement.
        if has_both and following is not None and outputs.motion_field is not None:
            elapsed = (following[0].stamp_ns - outputs.stamp_ns) * 1e-9
            predicted.append(outputs.motion_field * np.float32(elapsed))
        else:
            predicted.append(None)
        truth.append(pair_truth if has_both else None)
    return predicted, truth


def score(frames: list[FrameOutputs], inputs: dict[int, Frame],
          settings: EvaluationSettings | None = None) -> EvaluationReport | None:
    """Depth, odometry and object-motion scores of the processed frames that have ground truth (None when
    none has).

    `inputs` maps `stamp_key(frame.timestamp)` to the played frames.
    """
    matched = [(f, gt) for f in frames if (gt := inputs.get(stamp_key_ns(f.stamp_ns))) is not None]
    if not any(gt.depth is not None or gt.pose is not None for _, gt in matched):
        return None
    # Depth (and object motion) is scored on every processed frame; odometry on the frames with a node pose.
    predicted_fields, true_fields = _object_motions(matched) or (None, None)
    report = evaluate_predictions([f.depth for f, _ in matched], [gt.depth for _, gt in matched],
                                  settings=settings, pred_object_motions=predicted_fields,
                                  gt_object_motions=true_fields, frame_indices=[gt.index for _, gt in matched])
    posed = [(f.camera_pose, gt) for f, gt in matched if f.camera_pose is not None and gt.pose is not None]
    if len(posed) < 2:
        return report
    poses = evaluate_predictions([None] * len(posed), [None] * len(posed), np.stack([p for p, _ in posed]),
                                 [gt.pose for _, gt in posed], settings, frame_indices=[gt.index for _, gt in posed])
    return dataclasses.replace(report, **{name: getattr(poses, name) for name in POSE_FIELDS})


def baseline_reports(frames: list[FrameOutputs], inputs: dict[int, Frame],
                     settings: EvaluationSettings | None = None) -> dict[str, EvaluationReport]:
    """The evaluation module's trivial baselines (constant depth, ramp prior, standing still) scored on
    exactly the frames the node processed: the yardstick that makes the node's figures readable."""
    played = [inputs[key] for key in (stamp_key_ns(f.stamp_ns) for f in frames) if key in inputs]
    return {name: evaluate_sequence(played, baseline(), settings) for name, baseline in BASELINES.items()}
