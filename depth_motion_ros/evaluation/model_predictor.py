"""Adapts a `DepthMotionPredictor` (or its ONNX twin) to the evaluation's `FramePredictor` protocol."""
from __future__ import annotations

import numpy as np
import torch

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.geometry.rotations import axis_angle_to_matrix
from depth_motion_ros.online_adaptation import AdaptationOptions, OnlineDepthAdapter
from depth_motion_ros.ros.ground_scale import ScaleSmoother, scale_from_camera_height
from depth_motion_ros.ros.pipeline import PipelineOptions
from depth_motion_ros.sources.frame import Frame

#: Up in the optical frame of a level camera (y points down).
LEVEL_CAMERA_UP = np.array([0.0, -1.0, 0.0])


def motion_matrix(rotation: torch.Tensor, translation: torch.Tensor) -> np.ndarray:
    """Axis-angle `[1, 3]` and translation `[1, 3]` of the motion network -> 4x4 `T_21` (float64)."""
    transform = np.eye(4)
    transform[:3, :3] = axis_angle_to_matrix(rotation.detach().float().cpu())[0].numpy()
    transform[:3, 3] = translation.detach().float().cpu()[0].numpy()
    return transform


def pair_intrinsics(predictor, output, frame: Frame, frame_intrinsics: bool, device: torch.device) -> torch.Tensor:
    """[1, 3, 3] camera matrix at the network size for a pair ending at `frame`: the frame's own when it has
    one (and `frame_intrinsics`), else the ones the motion network learned (`output.intrinsics`)."""
    if frame_intrinsics and frame.intrinsics is not None:
        return torch.as_tensor(predictor.intrinsics_at_input(frame.intrinsics, frame.rgb.shape[:2]),
                               dtype=torch.float32, device=device)[None]
    return predictor.learned_intrinsics_at_input(output.intrinsics.float(), frame.rgb.shape[:2]).to(device)


def camera_motion(predictor, image1: torch.Tensor, depth1: torch.Tensor, image2: torch.Tensor, output,
                  frame: Frame, refinement: AlignmentOptions, frame_intrinsics: bool = True) -> np.ndarray:
    """4x4 `T_21` of a pair from the motion network's `output`, refined photometrically unless the mode is
    'none', with `pair_intrinsics`."""
    rotation, translation = output.rotation, output.translation
    if refinement.mode != "none":
        intrinsics = pair_intrinsics(predictor, output, frame, frame_intrinsics, image1.device)
        rotation, translation = refine_motion(image1, depth1, image2, intrinsics, rotation, translation, refinement)
    return motion_matrix(rotation, translation)


class ModelFramePredictor:
    """Depth of each frame and camera motion between consecutive frames with one network.

    The motion network consumes both frames' depth, so each frame's input tensor and depth are kept for
    the next pair (the last two frames only) instead of being recomputed. With a `refinement` other than
    'none', the network's motion is refined photometrically (geometry/direct_alignment.py) with the
    frames' own intrinsics when they have them and `intrinsics` is 'auto', else the learned ones: the
    node's `intrinsics_source` behaves the same way. `flip_average` averages each depth map with its mirror
    image's (`PredictorBase.depth`); the motion network then reads the averaged depth, as in the node.
    With `adaptation`, the PyTorch model's depth network is trained in place as the frames go by
    (online_adaptation.py, `adaptation_steps` steps after each pair, each frame predicted before it is trained
    on); use a fresh predictor for each sequence.

    With `camera_height` (metres, a level camera), depth and translation are in metres, scaled as the node's
    `scale_mode: camera_height` scales them with its default ground region and smoothing: a ground plane
    fitted to the lower image of every frame, smoothed over the frames (ros/ground_scale.py), with the frame's
    intrinsics under `intrinsics='auto'` and else the running mean of the learned ones (as the node's
    pipeline keeps it). Until the first fit the node's `metres_per_unit` default (1) applies;
    `frames_without_scale` counts those frames.
    """

    def __init__(self, predictor, refinement: AlignmentOptions | None = None, intrinsics: str = "auto",
                 flip_average: bool = False, camera_height: float | None = None,
                 adaptation: AdaptationOptions | None = None, adaptation_steps: int = 1) -> None:
        if intrinsics not in ("auto", "learned"):
            raise ValueError(f"intrinsics must be 'auto' or 'learned', got '{intrinsics}'")
        if camera_height is not None and camera_height <= 0:
            raise ValueError(f"camera_height must be positive, got {camera_height}")
        self.predictor = predictor
        self.flip_average = flip_average
        self.camera_height = camera_height
        #: The node's defaults of its camera_height mode (ground region, smoothing, metres per unit before a fit).
        self._node_defaults = PipelineOptions()
        self._scale = ScaleSmoother(self._node_defaults.scale_smoothing)
        #: Metres per model unit after each of the last frames (camera_height only).
        self._frame_scale: dict[int, float] = {}
        self.frames_without_scale = 0
        #: Sum and count of the learned camera matrices at the input size: their running mean is the camera
        #: of the ground plane without a calibration, as in the node's pipeline.
        self._learned_sum = np.zeros((3, 3))
        self._learned_count = 0
        self.refinement = refinement or AlignmentOptions(mode="none")
        self.intrinsics = intrinsics
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        #: The motion network's output for the last pair, shared by the camera motion and the object field.
        self._last_pair: tuple[tuple[int, int], object] | None = None
        self.adapter: OnlineDepthAdapter | None = None
        self._adaptation_steps = adaptation_steps
        self._last_adapted: int | None = None  # index of the newest frame in the adapter's window
        if adaptation is not None:
            if getattr(predictor, "model", None) is None:
                raise ValueError("online adaptation needs the PyTorch backend (ONNX Runtime graphs cannot be trained)")
            if adaptation_steps < 1:
                raise ValueError(f"adaptation_steps must be at least 1, got {adaptation_steps}")
            self.adapter = OnlineDepthAdapter(predictor.model.depth_net, adaptation)

    def _inputs(self, frame: Frame) -> tuple[torch.Tensor, torch.Tensor]:
        if frame.index not in self._cache:
            image = self.predictor.prepare(frame.rgb)
            depth = self.predictor.depth(image, self.flip_average)
            if len(self._cache) >= 2:
                del self._cache[min(self._cache)]
            self._cache[frame.index] = (image, depth)
        return self._cache[frame.index]

    def _metres_per_unit(self, frame: Frame) -> float:
        """1 without `camera_height`; else the smoothed ground-plane scale after `frame` (1 before any fit)."""
        if self.camera_height is None:
            return 1.0
        if frame.index not in self._frame_scale:
            k = self._learned_sum / self._learned_count if self._learned_count else None
            if self.intrinsics == "auto" and frame.intrinsics is not None:
                k = self.predictor.intrinsics_at_input(frame.intrinsics, frame.rgb.shape[:2])
            if k is not None:
                depth = self._inputs(frame)[1][0, 0].detach().double().cpu().numpy()
                scale = scale_from_camera_height(depth, k, LEVEL_CAMERA_UP, self.camera_height,
                                                 self._node_defaults.ground_region)
                if scale is not None:
                    self._scale.update(scale)
            if len(self._frame_scale) >= 2:
                del self._frame_scale[min(self._frame_scale)]
            if self._scale.value is None:
                self.frames_without_scale += 1
            self._frame_scale[frame.index] = self._scale.value or self._node_defaults.metres_per_unit
        return self._frame_scale[frame.index]

    def predict_depth(self, frame: Frame) -> np.ndarray:
        """Depth at the network's input size (metres with `camera_height`); the metrics resize it to the
        ground truth's resolution."""
        return self._inputs(frame)[1][0, 0].detach().float().cpu().numpy() * self._metres_per_unit(frame)

    def _motion_output(self, previous: Frame, current: Frame):
        key = (previous.index, current.index)
        if self._last_pair is None or self._last_pair[0] != key:
            image1, depth1 = self._inputs(previous)
            image2, depth2 = self._inputs(current)
            output = self.predictor.motion(image1, depth1, image2, depth2)
            self._last_pair = (key, output)
            learned = self.predictor.learned_intrinsics_at_input(output.intrinsics, current.rgb.shape[:2])
            self._learned_sum += learned[0].detach().double().cpu().numpy()
            self._learned_count += 1
        return self._last_pair[1]

    def predict_object_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        """The network's object-motion field [h, w, 3] at its input size, model units (metres with `camera_height`;
        not refined)."""
        field = self._motion_output(previous, current).residual_translation
        return field[0].detach().float().cpu().numpy().transpose(1, 2, 0) * self._metres_per_unit(current)

    def predict_intrinsics(self, previous: Frame, current: Frame) -> np.ndarray:
        """The camera matrix the motion network learned for the pair, rescaled to `current`'s image size."""
        learned = self.predictor.learned_intrinsics_at_input(self._motion_output(previous, current).intrinsics,
                                                             current.rgb.shape[:2])
        return resize_intrinsics(learned[0].detach().double().cpu().numpy(), tuple(self.predictor.input_size),
                                 current.rgb.shape[:2])

    def predict_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        image1, depth1 = self._inputs(previous)
        image2, _ = self._inputs(current)
        output = self._motion_output(previous, current)
        self._metres_per_unit(previous)  # a frame without ground-truth depth gets its ground fit here, in order
        motion = camera_motion(self.predictor, image1, depth1, image2, output, current, self.refinement,
                               frame_intrinsics=self.intrinsics == "auto")
        if self.adapter is not None:
            self._adapt(previous, current, output, motion)
        motion[:3, 3] *= self._metres_per_unit(current)  # the current frame's scale, as the node applies it
        return motion

    def _adapt(self, previous: Frame, current: Frame, output, motion: np.ndarray) -> None:
        """Online adaptation after the pair's depth and motion were predicted: `current` joins the window
        (`previous` starts a new one unless it is the window's newest frame), then the depth network takes its
        steps, so the next frame is the first one predicted with the new weights (causal)."""
        def intrinsics(frame: Frame) -> torch.Tensor:
            return pair_intrinsics(self.predictor, output, frame, self.intrinsics == "auto", self.predictor.device)

        if self._last_adapted != previous.index:
            self.adapter.add_frame(self._inputs(previous)[0], intrinsics(previous), None)
        self.adapter.add_frame(self._inputs(current)[0], intrinsics(current), motion,
                               refine=self.refinement.mode != "full")
        self._last_adapted = current.index
        for _ in range(self._adaptation_steps):
            self.adapter.step()
