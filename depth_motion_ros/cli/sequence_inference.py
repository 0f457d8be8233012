"""Run the per-frame engine over a stream of frames for `depth_motion_infer`: one `InferredFrame` per frame.

Every frame goes through `DepthMotionStream.step` (depth_motion_ros/stream.py) with the node's default
options, so the files hold what the node publishes. Results are returned at the INPUT frame's resolution
(depth, object motion and intrinsics are resized from the network's size; metric values are unchanged by
resizing). A frame's result is complete only once the next frame has arrived, because its object motion
is that of the pair (frame, next frame) on the frame's own pixel grid, in the frame's camera; the last
frame therefore has no motion field.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.predictors.base import PredictorBase
from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.stream import DepthMotionStream, StreamOptions, StreamStep
from depth_motion_ros.transforms import invert_rigid


@dataclass
class InferredFrame:
    """Everything predicted for one input frame, at the input frame's resolution."""
    frame: Frame
    depth: np.ndarray                # float32 [H, W], model units (monocular scale is not observable)
    pose: np.ndarray                 # 4x4 camera-to-world (optical), the first frame at the identity
    intrinsics: np.ndarray           # 3x3 used for points: given by the source, else the learned running mean
    intrinsics_learned: bool
    motion: np.ndarray | None        # float32 [H, W, 3] object motion to the next frame, this frame's camera
    motion_from_previous: np.ndarray | None  # 4x4 T_21 from the previous frame's camera; None for the first


def resize_field(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an [h, w] or [h, w, C] float field to (H, W); values are not rescaled."""
    height, width = size
    if field.shape[:2] == (height, width):
        return field.astype(np.float32, copy=False)
    return cv2.resize(field.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


class SequenceInference:
    """Streams frames through the engine; memory stays constant whatever the length.

    `pose_refinement` and `flip_average` are the node's parameters of those names. Frames are paired by
    order, not by time (their index is the engine's stamp, and no gap breaks a pair).
    """

    def __init__(self, predictor: PredictorBase, pose_refinement: str = "none", flip_average: bool = False) -> None:
        self.predictor = predictor
        self.options = StreamOptions(max_frame_gap=0.0, pose_refinement=pose_refinement, flip_average=flip_average)

    def _result(self, frame: Frame, step: StreamStep, motion: np.ndarray | None) -> InferredFrame:
        size = frame.rgb.shape[:2]
        # The engine's matrix belongs to the network input; map it back to this frame's resolution.
        # Without a camera matrix from the source the engine uses the learned one (the default intrinsics source).
        assert step.intrinsics is not None, "the engine's step has a camera matrix"
        intrinsics = np.asarray(resize_intrinsics(step.intrinsics, self.predictor.input_size, size))
        return InferredFrame(frame=frame, depth=resize_field(step.depth, size), pose=step.pose,
                             intrinsics=intrinsics, intrinsics_learned=step.intrinsics_learned,
                             motion=None if motion is None else resize_field(motion, size),
                             motion_from_previous=None if step.camera_motion is None else invert_rigid(
                                 step.camera_motion))

    def run(self, frames: Iterable[Frame]) -> Iterator[InferredFrame]:
        """Yield one `InferredFrame` per input frame, in input order."""
        stream = DepthMotionStream(self.predictor)
        previous: tuple[Frame, StreamStep] | None = None
        for frame in frames:
            step = stream.step(frame.rgb, float(frame.index), frame.intrinsics, self.options)
            if previous is not None:
                yield self._result(*previous, step.motion_field)
            previous = (frame, step)
        if previous is not None:
            yield self._result(*previous, None)
