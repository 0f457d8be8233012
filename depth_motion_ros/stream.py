"""The per-frame engine: one frame in, that frame's depth, pose and intrinsics and the previous frame's
object-motion field out. The node, `depth_motion_infer`, `depth_motion_eval` and (through the node) the
demo all run their frames through `DepthMotionStream`, so they compute the same numbers; it imports no ROS.

Conventions of a `StreamStep` (docs/ARCHITECTURE.md, "The per-frame engine"):

* Arrays are at the network's input size (`predictor.input_size`); callers resize for display or files.
* Depth is metres along the optical axis: model units times the step's `scale` (1 unless a scale mode
  gives metres: `camera_height` from the ground plane, `odometry` from the robot's own odometry, passed to
  `step` as the camera's motion over each pair; odometry_scale.py).
* Frames are optical (x right, y down, z forward). `camera_motion` is `previous_T_current`, the pose of the
  current camera in the previous one (its inverse `T_21` maps previous-camera points to current-camera
  points); `pose` is `world_T_camera`, the chained camera motions, with `world` the camera of the first
  frame since the start or the last reset. Translations are metres (the current frame's scale).
* Motion is predicted for the pair (previous, current), the temporal order the motion network was trained
  on (with the reverse order the bundled model's rotation error on the development frames is 1.5-1.9
  times larger; docs/decisions/node-pair-order.md). Its object-motion field lies on the
  PREVIOUS frame's pixel grid, so it belongs to the previous frame: `motion_field[v, u]` is the velocity
  of the point seen at (u, v) in the previous frame, in the previous camera's frame: how far it moved by
  the current frame (metres) divided by the pair's stamp difference. With stamps in seconds (the node)
  that is metres per second, as velocities in ROS are, and does not change with the frame rate or dropped
  frames; `depth_motion_infer` and `depth_motion_eval` pass frame indices as stamps, so for them it is
  metres per frame (the evaluation multiplies by the index difference to compare with the rendered
  ground truth of that pair). The network says `p_cur = R p_prev + t + r` (its own R, before any
  refinement), so the point moved by `R^T r` as seen from the previous camera; `network_motion` keeps
  that R. A pair is only formed for increasing stamps (`Continuity.CONTINUOUS`), so the divisor is > 0.
* Intrinsics are the camera's (its camera_info K, mapped to the input size) when given and allowed by
  `intrinsics_source`, else the running mean of the motion network's learned ones over every pair since
  the stream started (a camera's K is constant, and the mean is steadier than any one pair's).
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.ground_scale import ScaleSmoother, scale_from_camera_height
from depth_motion_ros.odometry import MotionUncertainty
from depth_motion_ros.odometry_scale import OdometryScaleEstimator
from depth_motion_ros.predictors.base import PredictorBase, resize_rgb
from depth_motion_ros.transforms import invert_rigid, rigid_from_motion
from depth_motion_ros.visualisation import moving_mask

#: Up in the optical frame of a level camera (y points down).
LEVEL_CAMERA_UP = np.array([0.0, -1.0, 0.0])
#: The relative scale deviation that says "unknown scale": `fixed` mode, and the other modes before their
#: first estimate. With it the pose's standard deviation is as large as the distance travelled.
UNKNOWN_SCALE = 1.0


class Continuity(enum.Enum):
    """How a frame's stamp relates to the previous one's.

    A bag that loops (or a simulator that restarts) sends time backwards, and a camera that stalls leaves a
    gap; in both cases the motion network would be asked about two unrelated images, so the stream resets
    instead (and the node tells the user why).
    """

    FIRST = "first"          # no previous frame: nothing to pair with
    CONTINUOUS = "continuous"
    DUPLICATE = "duplicate"  # same stamp as the previous frame: skip motion, keep state
    BACKWARDS = "backwards"  # time jumped back: restart the pose from the origin
    GAP = "gap"              # too long since the previous frame: drop the pair, keep the pose


def classify_step(previous_stamp: float | None, stamp: float, max_gap_s: float) -> Continuity:
    """Classify the step from ``previous_stamp`` to ``stamp`` (seconds); ``max_gap_s <= 0`` disables gaps."""
    if previous_stamp is None:
        return Continuity.FIRST
    dt = stamp - previous_stamp
    if dt < 0.0:
        return Continuity.BACKWARDS
    if dt == 0.0:
        return Continuity.DUPLICATE
    if max_gap_s > 0.0 and dt > max_gap_s:
        return Continuity.GAP
    return Continuity.CONTINUOUS


@dataclass(frozen=True)
class StreamOptions:
    """What the engine needs to know for one frame (the node maps its parameters onto these)."""

    scale_mode: str = "fixed"          # 'fixed' (metres_per_unit), 'camera_height' (ground_scale.py) or
    #                                    'odometry' (the robot's odometry, odometry_scale.py)
    metres_per_unit: float = 1.0
    camera_height: float = 1.5
    ground_region: float = 0.35
    scale_smoothing: float = 0.1
    max_frame_gap: float = 1.0         # seconds; <= 0 pairs frames whatever the time between them
    intrinsics_source: str = "auto"    # 'auto', 'camera_info' or 'learned'
    pose_refinement: str = "none"      # 'none', 'rotation' or 'full' (geometry/direct_alignment.py)
    flip_average: bool = False         # average each depth map with its mirror image's (PredictorBase.depth)
    odometry_window: int = 10          # pairs in the odometry mode's median (docs/decisions/odometry-scale.md)
    odometry_min_speed: float = 0.05   # m/s of the camera (by the robot) below which a pair is not used
    translation_noise: float = 0.15    # relative deviation of one step's length where nothing measures it
    rotation_noise: float = 0.01       # radians per step and axis where nothing measures it


@dataclass
class StreamStep:
    """What one frame gave, in the conventions of the module docstring."""

    stamp: float
    continuity: Continuity
    rgb: np.ndarray                          # uint8 [h, w, 3] at the network size
    depth: np.ndarray                        # float32 [h, w] metres (scale applied)
    intrinsics: np.ndarray | None            # 3x3 at the network size; None until any is known
    intrinsics_learned: bool                 # True when `intrinsics` is the learned running mean
    scale: float                             # metres per model unit used for this frame
    pose: np.ndarray                         # 4x4 world_T_camera after this frame
    uncertainty: MotionUncertainty           # of this frame's scale and of the pair's motion (odometry.py)
    previous_stamp: float | None = None      # stamp of the frame this one was paired with
    camera_motion: np.ndarray | None = None  # 4x4 previous_T_current (refined when asked), metres
    network_motion: np.ndarray | None = None  # 4x4 previous_T_current as the network predicted it, metres
    motion_field: np.ndarray | None = None   # float32 [h, w, 3] of the PREVIOUS frame, previous camera,
    #                                          metres per stamp unit (m/s for the node)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    network_seconds: float = 0.0

    def moving_mask(self, threshold: float) -> np.ndarray | None:
        """mono8 mask of the previous frame: 255 where its field exceeds `threshold` (the field's unit: metres
        per second for the node), None without a field (the node's motion/mask)."""
        return None if self.motion_field is None else moving_mask(self.motion_field, threshold)


class DepthMotionStream:
    """Keeps the previous frame (network input and depth), the pose, the scale and the learned intrinsics;
    `step` takes one camera frame."""

    def __init__(self, predictor: PredictorBase, up_in_camera: np.ndarray = LEVEL_CAMERA_UP) -> None:
        self.predictor = predictor
        self._up_in_camera = np.asarray(up_in_camera, dtype=np.float64)
        self._scale = ScaleSmoother(StreamOptions.scale_smoothing)
        self.odometry_scale = OdometryScaleEstimator(StreamOptions.odometry_window, StreamOptions.odometry_min_speed)
        self._learned_intrinsics_sum = np.zeros((3, 3))
        self._learned_count = 0
        self._previous: tuple[float, torch.Tensor, torch.Tensor] | None = None
        self._pose = np.eye(4)

    def set_up(self, up_in_camera: np.ndarray) -> None:
        """The up direction in the optical frame (the camera_height scale's ground must be level with it)."""
        self._up_in_camera = np.asarray(up_in_camera, dtype=np.float64)

    def forget_previous_frame(self) -> None:
        """Start a new pair with the next frame and keep the pose (its images changed geometry, e.g. once
        rectification starts: a motion between two differently mapped images would be wrong)."""
        self._previous = None

    def reset(self) -> None:
        """Forget the previous frame and put the camera back at the world origin."""
        self._previous = None
        self._pose = np.eye(4)

    @property
    def previous_stamp(self) -> float | None:
        """Stamp of the frame the next one will be paired with (None after a reset)."""
        return self._previous[0] if self._previous else None

    @property
    def learned_intrinsics(self) -> np.ndarray | None:
        """Running mean of the motion network's intrinsics at the network size (a camera's K is constant)."""
        return self._learned_intrinsics_sum / self._learned_count if self._learned_count else None

    @property
    def ground_scale(self) -> float | None:
        """The smoothed camera_height estimate of metres per model unit; None before the first ground fit."""
        return self._scale.value

    def _add_learned_intrinsics(self, intrinsics: torch.Tensor) -> None:
        self._learned_intrinsics_sum += intrinsics[0].detach().cpu().double().numpy()
        self._learned_count += 1

    def _choose_intrinsics(self, camera_k: np.ndarray | None, image_size: tuple[int, int],
                           source: str) -> tuple[np.ndarray | None, bool]:
        if source != "learned" and camera_k is not None:
            return self.predictor.intrinsics_at_input(camera_k, image_size), False
        if source == "camera_info":
            return None, False
        learned = self.learned_intrinsics
        return learned, learned is not None

    def update_scale(self, depth_units: np.ndarray, intrinsics: np.ndarray | None, options: StreamOptions,
                     pair: tuple[np.ndarray, np.ndarray, float] | None = None) -> float:
        """Metres per model unit for this frame: fixed, the smoothed ground-plane estimate, or the robot's
        odometry over the recent pairs.

        In camera_height mode a frame without a level ground plane leaves the running estimate unchanged. In
        odometry mode `pair` is this frame's pair (the camera's motion by the robot in metres, by the network
        in model units, seconds between them), or None when it has none or the robot's odometry does not
        cover it. Before the first estimate, ``metres_per_unit`` applies.
        """
        if options.scale_mode == "camera_height":
            self._scale.smoothing = options.scale_smoothing
            if intrinsics is not None:
                frame_scale = scale_from_camera_height(depth_units, intrinsics, self._up_in_camera,
                                                       options.camera_height, options.ground_region)
                if frame_scale is not None:
                    self._scale.update(frame_scale)
            estimate = self._scale.value
        elif options.scale_mode == "odometry":
            self.odometry_scale.configure(options.odometry_window, options.odometry_min_speed)
            if pair is not None:
                self.odometry_scale.add(*pair)
            estimate = self.odometry_scale.scale
        else:
            estimate = None
        return options.metres_per_unit if estimate is None else estimate

    def uncertainty(self, options: StreamOptions) -> MotionUncertainty:
        """What the scale mode knows about its own errors (odometry.py, MotionUncertainty): the odometry mode
        measures all three against the robot; camera_height the scale from the spread of its ground fits;
        where nothing measures them, the options' `translation_noise` and `rotation_noise`, and an unknown
        scale (UNKNOWN_SCALE) in fixed mode and before the first estimate."""
        assumed = MotionUncertainty(UNKNOWN_SCALE, options.translation_noise, options.rotation_noise)
        if options.scale_mode == "odometry":
            return self.odometry_scale.uncertainty() or assumed
        if options.scale_mode == "camera_height":
            spread = self._scale.relative_std
            return assumed if spread is None else MotionUncertainty(spread, options.translation_noise,
                                                                    options.rotation_noise)
        return assumed

    def scale_status(self, options: StreamOptions) -> tuple[bool, str]:
        """Whether the output is metric, and a line saying where its scale comes from (the node's
        /diagnostics)."""
        if options.scale_mode == "camera_height":
            ground, spread = self._scale.value, self._scale.relative_std
            if ground is None:
                return False, (f"not yet metric: no level ground plane found yet, {options.metres_per_unit:g} "
                               "metres per model unit")
            deviation = "" if spread is None else f" (deviation {spread:.1%})"
            return True, f"metric from the ground plane: {ground:.4g} metres per model unit{deviation}"
        if options.scale_mode == "odometry":
            estimator = self.odometry_scale
            robot, uncertainty = estimator.scale, estimator.uncertainty()
            if robot is None or uncertainty is None:
                return False, (f"not yet metric: {estimator.pairs} of {estimator.min_pairs} frame pairs with motion "
                               f"matched to the robot's odometry, {options.metres_per_unit:g} metres per model unit")
            return True, (f"metric from the robot's odometry: {robot:.4g} metres per model unit, median of "
                          f"{estimator.pairs} pairs (deviation {uncertainty.scale:.1%})")
        return False, (f"not metric: scale_mode fixed, {options.metres_per_unit:g} metres per model unit "
                       "(set scale_mode camera_height or odometry)")

    def step(self, rgb: np.ndarray, stamp: float, camera_k: np.ndarray | None, options: StreamOptions,
             want_motion: bool = True, want_field: bool = True,
             robot_motion: np.ndarray | None = None) -> StreamStep:
        """Depth for ``rgb``; with ``want_motion`` the camera motion since the previous frame and the pose, and
        with ``want_field`` too the previous frame's object-motion field (one network pass gives both).

        ``camera_k`` is the camera's K at ``rgb``'s resolution, or None. ``robot_motion`` is the camera's
        motion from `previous_stamp` to ``stamp`` as the robot's odometry measured it (`previous_T_current`,
        metres; odometry_scale.RobotOdometryBuffer.camera_motion), for `scale_mode: odometry`; None when the
        robot's odometry does not cover the pair. The caller reports continuity events (the node logs them);
        the state changes for them happen here.
        """
        stages: dict[str, float] = {}
        tick = time.perf_counter()
        continuity = classify_step(self.previous_stamp, stamp, options.max_frame_gap)
        if continuity is Continuity.BACKWARDS:
            self.reset()
        elif continuity is Continuity.GAP:
            self._previous = None
        small_rgb = resize_rgb(rgb, self.predictor.input_size)
        image = self.predictor.prepare(small_rgb)
        stages["prepare"] = time.perf_counter() - tick

        tick = time.perf_counter()
        depth_units = self.predictor.depth(image, options.flip_average)
        depth_numpy = depth_units[0, 0].float().cpu().numpy()
        stages["depth_net"] = time.perf_counter() - tick
        network = stages["depth_net"]

        camera = None  # the network's motion previous -> current camera, and the previous frame's field
        paired = self._previous if continuity is Continuity.CONTINUOUS else None
        pair_ready = paired is not None
        previous_image, previous_depth = (paired[1], paired[2]) if paired is not None else (image, depth_units)
        needs_learned_k = options.intrinsics_source != "camera_info" and (
            options.intrinsics_source == "learned" or camera_k is None) and self._learned_count == 0
        if (want_motion and pair_ready) or needs_learned_k:
            tick = time.perf_counter()
            # Without a previous frame, the pair (frame, frame) still yields the learned intrinsics.
            camera = self.predictor.motion(previous_image, previous_depth, image, depth_units)
            self._add_learned_intrinsics(self.predictor.learned_intrinsics_at_input(camera.intrinsics,
                                                                                    rgb.shape[:2]))
            stages["motion_net"] = time.perf_counter() - tick
            network += stages["motion_net"]
            if not pair_ready:
                camera = None

        intrinsics, learned = self._choose_intrinsics(camera_k, rgb.shape[:2], options.intrinsics_source)
        camera_rotation, camera_translation = (camera.rotation, camera.translation) if camera else (None, None)
        if camera is not None and options.pose_refinement != "none" and intrinsics is not None:
            tick = time.perf_counter()
            camera_rotation, camera_translation = refine_motion(
                previous_image, previous_depth, image,
                torch.as_tensor(intrinsics, dtype=torch.float32, device=image.device)[None],
                camera.rotation, camera.translation, AlignmentOptions(mode=options.pose_refinement))
            stages["pose_refinement"] = time.perf_counter() - tick

        tick = time.perf_counter()
        units_motion = None  # previous_T_current in model units
        if camera is not None and paired is not None and camera_rotation is not None \
                and camera_translation is not None:
            # p_cur = R p_prev + t: that is current_T_previous; the camera motion is its inverse.
            units_motion = invert_rigid(rigid_from_motion(camera_rotation[0].double().cpu().numpy(),
                                                          camera_translation[0].double().cpu().numpy()))
        odometry_pair = None
        if units_motion is not None and robot_motion is not None and paired is not None:
            odometry_pair = (np.asarray(robot_motion, dtype=np.float64), units_motion, stamp - paired[0])
        scale = self.update_scale(depth_numpy, intrinsics, options, odometry_pair)
        result = StreamStep(stamp, continuity, small_rgb, depth_numpy * np.float32(scale), intrinsics, learned,
                            scale, self._pose.copy(), self.uncertainty(options))
        if camera is not None and paired is not None and units_motion is not None:
            network_rotation = camera.rotation[0].double().cpu().numpy()
            result.camera_motion = units_motion.copy()
            result.camera_motion[:3, 3] *= scale
            network_current_T_previous = rigid_from_motion(network_rotation,
                                                           camera.translation[0].double().cpu().numpy() * scale)
            result.network_motion = invert_rigid(network_current_T_previous)
            result.previous_stamp = paired[0]
            self._pose = self._pose @ result.camera_motion
            result.pose = self._pose.copy()
            if want_field:
                # Residual r on the previous frame's pixels: p_cur = R p_prev + t + r (network R), so the
                # point moved by R^T r in the previous camera's frame (row vectors: r @ R); per stamp unit.
                residual = camera.residual_translation[0].permute(1, 2, 0).double().cpu().numpy()
                elapsed = stamp - paired[0]
                result.motion_field = ((residual @ network_current_T_previous[:3, :3]) * (scale / elapsed)
                                       ).astype(np.float32)
        if continuity is not Continuity.DUPLICATE:
            self._previous = (stamp, image, depth_units)
        stages["scale_and_odometry"] = time.perf_counter() - tick
        result.stage_seconds = stages
        result.network_seconds = network
        return result
