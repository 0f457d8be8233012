"""Run the predictor over a stream of frames: depth per frame, motion per consecutive pair, a trajectory.

Results are returned at the INPUT frame's resolution (depth and object motion are resized from the
network's size; metric values are unchanged by resizing). A frame's result is complete only once the next
frame has arrived, because its object motion is that of the pair (frame, next frame) on the frame's own
pixel grid; the last frame therefore has no motion field.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions
from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.evaluation.model_predictor import camera_motion
from depth_motion_ros.inference import DepthMotionPredictor
from depth_motion_ros.sources.frame import Frame

#: Horizontal field of view assumed for a lone frame with no known intrinsics (nothing to learn them from).
FALLBACK_HFOV_DEG = 60.0


@dataclass
class FrameResult:
    """Everything predicted for one input frame, at the input frame's resolution."""
    frame: Frame
    depth: np.ndarray                # float32 [H, W], model units (monocular scale is not observable)
    pose: np.ndarray                 # 4x4 camera-to-world (optical), the first frame at the identity
    intrinsics: np.ndarray           # 3x3 used for points: given by the source, else learned
    intrinsics_learned: bool
    motion: np.ndarray | None        # float32 [H, W, 3] object motion to the next frame; None for the last
    motion_from_previous: np.ndarray | None  # 4x4 T_21 from the previous frame's camera; None for the first


@dataclass
class _Pending:
    frame: Frame
    network_rgb: torch.Tensor
    network_depth: torch.Tensor
    pose: np.ndarray
    motion_from_previous: np.ndarray | None


def resize_field(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an [h, w] or [h, w, C] float field to (H, W); values are not rescaled."""
    height, width = size
    if field.shape[:2] == (height, width):
        return field.astype(np.float32, copy=False)
    return cv2.resize(field.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def fallback_intrinsics(size: tuple[int, int]) -> np.ndarray:
    """A centred pinhole with FALLBACK_HFOV_DEG, for a single frame of unknown calibration."""
    height, width = size
    f = 0.5 * width / math.tan(math.radians(FALLBACK_HFOV_DEG) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


class SequenceInference:
    """Streams frames through a `DepthMotionPredictor`; memory stays constant whatever the length.

    With a `refinement` other than 'none', each pair's camera motion is refined photometrically with the
    frame's own intrinsics when the source has them, else the learned ones (as the node's defaults do).
    `flip_average` averages each depth map with its mirror image's (`PredictorBase.depth`).
    """

    def __init__(self, predictor: DepthMotionPredictor, refinement: AlignmentOptions | None = None,
                 flip_average: bool = False) -> None:
        self.predictor = predictor
        self.refinement = refinement or AlignmentOptions(mode="none")
        self.flip_average = flip_average
        self._learned_at_input: np.ndarray | None = None

    def _intrinsics(self, frame: Frame) -> tuple[np.ndarray, bool]:
        size = frame.rgb.shape[:2]
        if frame.intrinsics is not None:
            return np.asarray(frame.intrinsics, dtype=np.float64), False
        if self._learned_at_input is None:
            return fallback_intrinsics(size), True
        # The learned matrix belongs to the network input; map it back to this frame's resolution.
        return np.asarray(resize_intrinsics(self._learned_at_input, self.predictor.input_size, size)), True

    def _result(self, pending: _Pending, motion: np.ndarray | None) -> FrameResult:
        size = pending.frame.rgb.shape[:2]
        depth = pending.network_depth[0, 0].float().cpu().numpy()
        K, learned = self._intrinsics(pending.frame)
        return FrameResult(frame=pending.frame, depth=resize_field(depth, size), pose=pending.pose,
                           intrinsics=K, intrinsics_learned=learned, motion=motion,
                           motion_from_previous=pending.motion_from_previous)

    def run(self, frames: Iterable[Frame]) -> Iterator[FrameResult]:
        """Yield one `FrameResult` per input frame, in input order."""
        previous: _Pending | None = None
        for frame in frames:
            rgb = self.predictor.prepare(frame.rgb)
            depth = self.predictor.depth(rgb, self.flip_average)
            pose, t_21 = np.eye(4), None
            if previous is not None:
                output = self.predictor.motion(previous.network_rgb, previous.network_depth, rgb, depth)
                t_21 = camera_motion(self.predictor, previous.network_rgb, previous.network_depth, rgb, output,
                                     frame, self.refinement)
                pose = previous.pose @ np.linalg.inv(t_21)
                learned = self.predictor.learned_intrinsics_at_input(output.intrinsics, frame.rgb.shape[:2])
                self._learned_at_input = learned[0].double().cpu().numpy()
                residual = output.residual_translation[0].permute(1, 2, 0).float().cpu().numpy()
                yield self._result(previous, resize_field(residual, previous.frame.rgb.shape[:2]))
            previous = _Pending(frame, rgb, depth, pose, t_21)
        if previous is not None:
            yield self._result(previous, None)
