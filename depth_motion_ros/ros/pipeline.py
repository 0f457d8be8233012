"""Per-frame processing behind the node, without ROS: depth, scale, intrinsics, ego-motion, object motion.

The node only decodes messages and publishes; everything numerical happens here so it can be tested and
timed on its own. Motion is predicted for the pair (previous, current), the temporal order the motion
network was trained on (the bundled model saw no other: with the reverse order its rotation error on the
development frames is 1.5-1.9 times larger, docs/model-experiments.md "Session 6"). Its camera motion,
inverted, is the odometry increment; its object-motion field lies on the previous frame's pixel grid, so
it belongs to the previous frame and is published with that frame's header, one frame late.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.inference import PredictorBase, resize_rgb
from depth_motion_ros.ros.ground_scale import ScaleSmoother, scale_from_camera_height
from depth_motion_ros.ros.odometry import OdometryIntegrator, OdometryState, invert_rigid, rigid_from_motion
from depth_motion_ros.ros.stream_continuity import Continuity, classify_step


@dataclass(frozen=True)
class PipelineOptions:
    """The subset of node settings the numerical pipeline needs for one frame."""

    scale_mode: str = "fixed"          # 'fixed' or 'camera_height'
    metres_per_unit: float = 1.0
    camera_height: float = 1.5
    ground_region: float = 0.35
    scale_smoothing: float = 0.1
    max_frame_gap: float = 1.0
    intrinsics_source: str = "auto"    # 'auto', 'camera_info' or 'learned'
    pose_refinement: str = "none"      # 'none', 'rotation' or 'full' (geometry/direct_alignment.py)
    flip_average: bool = False         # average each depth map with its mirror image's (PredictorBase.depth)


@dataclass
class FrameResult:
    stamp: float
    continuity: Continuity
    rgb: np.ndarray                         # uint8 [h, w, 3] at the network size
    depth: np.ndarray                       # float32 [h, w] metres (scale applied)
    intrinsics: np.ndarray | None           # 3x3 at the network size; None until any is known
    scale: float                            # metres per model unit used for this frame
    # float32 [h, w, 3] on the PREVIOUS frame's pixels: how far each point seen there moved by this frame,
    # in the previous camera's frame (metres); None without a previous frame or when not wanted.
    motion_field: np.ndarray | None = None
    odometry: OdometryState | None = None   # updated pose; None when no motion was integrated
    stage_seconds: dict[str, float] = field(default_factory=dict)
    network_seconds: float = 0.0


class DepthMotionPipeline:
    """Keeps the previous frame (network input and depth) and the odometry; one call per camera frame."""

    def __init__(self, predictor: PredictorBase, base_T_optical: np.ndarray) -> None:
        self.predictor = predictor
        self.integrator = OdometryIntegrator(base_T_optical)
        self._up_in_camera = np.array(base_T_optical)[:3, :3].T @ np.array([0.0, 0.0, 1.0])
        self._scale = ScaleSmoother(0.1)
        self._learned_intrinsics_sum = np.zeros((3, 3))
        self._learned_count = 0
        self._previous: tuple[float, torch.Tensor, torch.Tensor] | None = None

    def set_mount(self, base_T_optical: np.ndarray) -> None:
        self.integrator.set_mount(base_T_optical)
        self._up_in_camera = np.array(base_T_optical)[:3, :3].T @ np.array([0.0, 0.0, 1.0])

    def forget_previous_frame(self) -> None:
        """Start a new pair with the next frame and keep the pose (its images changed geometry, e.g. once
        rectification starts: a motion between two differently mapped images would be wrong)."""
        self._previous = None

    def reset(self) -> None:
        """Forget the previous frame and put base_link back at the odom origin."""
        self._previous = None
        self.integrator.reset()

    @property
    def previous_stamp(self) -> float | None:
        """Stamp of the frame the next one will be paired with (None after a reset)."""
        return self._previous[0] if self._previous else None

    @property
    def learned_intrinsics(self) -> np.ndarray | None:
        """Running mean of the motion network's intrinsics at the network size (a camera's K is constant)."""
        return self._learned_intrinsics_sum / self._learned_count if self._learned_count else None

    def _add_learned_intrinsics(self, intrinsics: torch.Tensor) -> None:
        self._learned_intrinsics_sum += intrinsics[0].detach().cpu().double().numpy()
        self._learned_count += 1

    def _choose_intrinsics(self, camera_k: np.ndarray | None, image_size: tuple[int, int],
                           source: str) -> np.ndarray | None:
        if source != "learned" and camera_k is not None:
            return self.predictor.intrinsics_at_input(camera_k, image_size)
        if source == "camera_info":
            return None
        return self.learned_intrinsics

    def update_scale(self, depth_units: np.ndarray, intrinsics: np.ndarray | None,
                     options: PipelineOptions) -> float:
        """Metres per model unit for this frame: fixed, or the smoothed ground-plane estimate.

        In camera_height mode a frame without a level ground plane leaves the running estimate unchanged;
        before the first good fit, ``metres_per_unit`` applies.
        """
        if options.scale_mode != "camera_height":
            return options.metres_per_unit
        self._scale.smoothing = options.scale_smoothing
        if intrinsics is not None:
            frame_scale = scale_from_camera_height(depth_units, intrinsics, self._up_in_camera,
                                                   options.camera_height, options.ground_region)
            if frame_scale is not None:
                self._scale.update(frame_scale)
        smoothed = self._scale.value
        return options.metres_per_unit if smoothed is None else smoothed

    def process(self, rgb: np.ndarray, stamp: float, camera_k: np.ndarray | None,
                options: PipelineOptions, want_motion: bool, want_field: bool = False) -> FrameResult:
        """Depth for ``rgb``; with ``want_motion`` the camera motion since the previous frame (odometry), and
        with ``want_field`` too the previous frame's object-motion field (one network pass gives both).

        ``camera_k`` is the camera_info K at ``rgb``'s resolution, or None. The caller handles the
        continuity events (logging); the state changes for them happen here.
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
        pair_ready = self._previous is not None and continuity is Continuity.CONTINUOUS
        previous_image, previous_depth = (self._previous[1], self._previous[2]) if pair_ready else (
            image, depth_units)
        needs_learned_k = options.intrinsics_source != "camera_info" and (
            options.intrinsics_source == "learned" or camera_k is None) and self._learned_count == 0
        if (want_motion and pair_ready) or needs_learned_k:
            tick = time.perf_counter()
            # Without a previous frame, the pair (frame, frame) still yields the learned intrinsics.
            camera = self.predictor.motion(previous_image, previous_depth, image, depth_units)
            self._add_learned_intrinsics(self.predictor.learned_intrinsics_at_input(camera.intrinsics, rgb.shape[:2]))
            stages["motion_net"] = time.perf_counter() - tick
            network += stages["motion_net"]
            if not pair_ready:
                camera = None

        intrinsics = self._choose_intrinsics(camera_k, rgb.shape[:2], options.intrinsics_source)
        camera_rotation, camera_translation = (camera.rotation, camera.translation) if camera else (None, None)
        if camera is not None and options.pose_refinement != "none" and intrinsics is not None:
            tick = time.perf_counter()
            camera_rotation, camera_translation = refine_motion(
                previous_image, previous_depth, image,
                torch.as_tensor(intrinsics, dtype=torch.float32, device=image.device)[None],
                camera.rotation, camera.translation, AlignmentOptions(mode=options.pose_refinement))
            stages["pose_refinement"] = time.perf_counter() - tick

        tick = time.perf_counter()
        scale = self.update_scale(depth_numpy, intrinsics, options)
        result = FrameResult(stamp, continuity, small_rgb, depth_numpy * np.float32(scale), intrinsics, scale)
        if camera is not None:
            # p_cur = R p_prev + t; the odometry increment is its inverse, the current camera in the previous.
            current_T_previous = rigid_from_motion(camera_rotation[0].double().cpu().numpy(),
                                                   camera_translation[0].double().cpu().numpy() * scale)
            dt = stamp - self._previous[0]
            result.odometry = self.integrator.update(invert_rigid(current_T_previous), dt)
            if want_field:
                # Residual r on the previous frame's pixels: p_cur = R p_prev + t + r (network R), so the
                # point moved by R^T r in the previous camera's frame.
                residual = camera.residual_translation[0].permute(1, 2, 0).double().cpu().numpy()
                rotation = rigid_from_motion(camera.rotation[0].double().cpu().numpy(), np.zeros(3))[:3, :3]
                result.motion_field = ((residual @ rotation) * scale).astype(np.float32)
        if continuity is not Continuity.DUPLICATE:
            self._previous = (stamp, image, depth_units)
        stages["scale_and_odometry"] = time.perf_counter() - tick
        result.stage_seconds = stages
        result.network_seconds = network
        return result
