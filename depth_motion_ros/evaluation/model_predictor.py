"""Adapts the per-frame engine (`depth_motion_ros.stream`) to the evaluation's `FramePredictor` protocol.

The evaluation scores exactly what the node computes: every frame goes through `DepthMotionStream.step`
with the node's options, and this module only converts the step's conventions to the protocol's.
"""
from __future__ import annotations

import numpy as np
import torch

from depth_motion_ros.evaluation.online_adaptation import AdaptationOptions, OnlineDepthAdapter
from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.predictors.base import PredictorBase
from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.stream import DepthMotionStream, StreamOptions, StreamStep
from depth_motion_ros.transforms import invert_rigid


class ModelFramePredictor:
    """Depth of each frame and camera motion between consecutive frames with one network.

    Frames must be asked about in order (as `evaluate_sequence` does); each is stepped through the engine
    once. `pose_refinement` ('none', 'rotation', 'full') refines each pair's motion photometrically as the
    node's parameter does, with the frames' own intrinsics when they have them and `intrinsics` is 'auto',
    else the running mean of the learned ones (the node's `intrinsics_source`). `flip_average` is the node's
    parameter too.

    With `camera_height` (metres, a level camera), depth and translation are in metres, scaled as the node's
    `scale_mode: camera_height` scales them with its default ground region and smoothing; until the first
    ground fit the node's `metres_per_unit` default (1) applies, and `frames_without_scale` counts those
    frames.

    With `adaptation`, the PyTorch model's depth network is trained in place as the frames go by
    (online_adaptation.py, `adaptation_steps` steps after each pair, each frame predicted before it is trained
    on); use a fresh predictor for each sequence.
    """

    def __init__(self, predictor: PredictorBase, pose_refinement: str = "none", intrinsics: str = "auto",
                 flip_average: bool = False, camera_height: float | None = None,
                 adaptation: AdaptationOptions | None = None, adaptation_steps: int = 1) -> None:
        if intrinsics not in ("auto", "learned"):
            raise ValueError(f"intrinsics must be 'auto' or 'learned', got '{intrinsics}'")
        if camera_height is not None and camera_height <= 0:
            raise ValueError(f"camera_height must be positive, got {camera_height}")
        self.predictor = predictor
        self.camera_height = camera_height
        # Frames are paired by order, not by time: their index is the stamp, and no gap breaks a pair.
        self.options = StreamOptions(
            scale_mode="camera_height" if camera_height is not None else "fixed",
            camera_height=camera_height if camera_height is not None else StreamOptions.camera_height,
            max_frame_gap=0.0, intrinsics_source=intrinsics, pose_refinement=pose_refinement,
            flip_average=flip_average)
        self.stream = DepthMotionStream(predictor)
        self.frames_without_scale = 0
        self._steps: dict[int, StreamStep] = {}
        self.adapter: OnlineDepthAdapter | None = None
        self._adaptation_steps = adaptation_steps
        self._last_adapted: int | None = None  # index of the newest frame in the adapter's window
        if adaptation is not None:
            model = getattr(predictor, "model", None)
            if model is None:
                raise ValueError("online adaptation needs the PyTorch backend (ONNX Runtime graphs cannot be trained)")
            if adaptation_steps < 1:
                raise ValueError(f"adaptation_steps must be at least 1, got {adaptation_steps}")
            self.adapter = OnlineDepthAdapter(model.depth_net, adaptation)

    def _step(self, frame: Frame) -> StreamStep:
        """The engine's step for `frame`, run once, when the frame is first asked about."""
        if frame.index not in self._steps:
            step = self.stream.step(frame.rgb, float(frame.index), frame.intrinsics, self.options)
            if self.camera_height is not None and self.stream.ground_scale is None:
                self.frames_without_scale += 1
            if len(self._steps) >= 2:
                del self._steps[min(self._steps)]
            self._steps[frame.index] = step
            if self.adapter is not None and step.camera_motion is not None:
                self._adapt(frame.index, step)
        return self._steps[frame.index]

    def _pair(self, previous: Frame, current: Frame) -> StreamStep:
        self._step(previous)
        step = self._step(current)
        if step.previous_stamp != float(previous.index):
            raise ValueError(f"frames {previous.index} and {current.index} are not consecutive in the stream")
        return step

    def predict_depth(self, frame: Frame) -> np.ndarray:
        """Depth at the network's input size (metres with `camera_height`); the metrics resize it to the
        ground truth's resolution."""
        return self._step(frame).depth

    def predict_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        """4x4 `T_21` (previous-camera points to current-camera points), metres with `camera_height`."""
        motion = self._pair(previous, current).camera_motion
        assert motion is not None, "a paired step carries the camera motion"
        return invert_rigid(motion)

    def predict_object_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        """The network's object-motion field [h, w, 3] on `previous`'s grid at its input size, in the CURRENT
        camera's frame as the protocol's ground truth is (the engine gives it in the previous camera's: it is
        rotated back with the network's own rotation), model units (metres with `camera_height`; not refined)."""
        step = self._pair(previous, current)
        assert step.motion_field is not None and step.previous_stamp is not None and step.network_motion is not None
        # The engine's field is per stamp unit (here: per index step); the truth is the pair's displacement.
        displacement = step.motion_field.astype(np.float64) * (step.stamp - step.previous_stamp)
        # Row vectors: the engine's field is r @ R; network_motion's rotation block is R^T.
        field: np.ndarray = (displacement @ step.network_motion[:3, :3]).astype(np.float32)
        return field

    def predict_intrinsics(self, previous: Frame, current: Frame) -> np.ndarray:
        """The learned camera matrix the engine uses (the running mean over the pairs so far, including this
        one), rescaled to `current`'s image size."""
        self._pair(previous, current)
        learned = self.stream.learned_intrinsics
        assert learned is not None, "a pair's step adds to the running mean"
        return resize_intrinsics(learned, self.predictor.input_size, (current.rgb.shape[0], current.rgb.shape[1]))

    def _adapt(self, index: int, step: StreamStep) -> None:
        """Online adaptation after the pair's depth and motion were predicted: the current frame joins the
        window (the previous one starts a new window unless it is the window's newest frame), then the depth
        network takes its steps, so the next frame is the first one predicted with the new weights (causal)."""
        def inputs(frame_step: StreamStep) -> tuple[torch.Tensor, torch.Tensor]:
            image = self.predictor.prepare(frame_step.rgb)
            return image, torch.as_tensor(frame_step.intrinsics, dtype=torch.float32, device=image.device)[None]

        adapter = self.adapter
        assert adapter is not None and step.previous_stamp is not None and step.camera_motion is not None, \
            "called with an adapter, for a paired step"
        previous_index = int(step.previous_stamp)
        if self._last_adapted != previous_index:
            adapter.add_frame(*inputs(self._steps[previous_index]), None)
        motion = invert_rigid(step.camera_motion)
        motion[:3, 3] /= step.scale  # the adapter's depth is in model units
        image, intrinsics = inputs(step)
        adapter.add_frame(image, intrinsics, motion, refine=self.options.pose_refinement != "full")
        self._last_adapted = index
        for _ in range(self._adaptation_steps):
            adapter.step()
