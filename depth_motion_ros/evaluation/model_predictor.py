"""Adapts a `DepthMotionPredictor` (or its ONNX twin) to the evaluation's `FramePredictor` protocol."""
from __future__ import annotations

import numpy as np
import torch

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.geometry.intrinsics import resize_intrinsics
from depth_motion_ros.geometry.rotations import axis_angle_to_matrix
from depth_motion_ros.sources.frame import Frame


def motion_matrix(rotation: torch.Tensor, translation: torch.Tensor) -> np.ndarray:
    """Axis-angle `[1, 3]` and translation `[1, 3]` of the motion network -> 4x4 `T_21` (float64)."""
    transform = np.eye(4)
    transform[:3, :3] = axis_angle_to_matrix(rotation.detach().float().cpu())[0].numpy()
    transform[:3, 3] = translation.detach().float().cpu()[0].numpy()
    return transform


def camera_motion(predictor, image1: torch.Tensor, depth1: torch.Tensor, image2: torch.Tensor, output,
                  frame: Frame, refinement: AlignmentOptions, frame_intrinsics: bool = True) -> np.ndarray:
    """4x4 `T_21` of a pair from the motion network's `output`, refined photometrically unless the mode is
    'none', with `frame`'s own intrinsics when it has them (and `frame_intrinsics`), else the learned ones."""
    rotation, translation = output.rotation, output.translation
    if refinement.mode != "none":
        if frame_intrinsics and frame.intrinsics is not None:
            intrinsics = torch.as_tensor(predictor.intrinsics_at_input(frame.intrinsics, frame.rgb.shape[:2]),
                                         dtype=torch.float32, device=image1.device)[None]
        else:
            intrinsics = predictor.learned_intrinsics_at_input(output.intrinsics.float(), frame.rgb.shape[:2]).to(
                image1.device)
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
    """

    def __init__(self, predictor, refinement: AlignmentOptions | None = None, intrinsics: str = "auto",
                 flip_average: bool = False) -> None:
        if intrinsics not in ("auto", "learned"):
            raise ValueError(f"intrinsics must be 'auto' or 'learned', got '{intrinsics}'")
        self.predictor = predictor
        self.flip_average = flip_average
        self.refinement = refinement or AlignmentOptions(mode="none")
        self.intrinsics = intrinsics
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        #: The motion network's output for the last pair, shared by the camera motion and the object field.
        self._last_pair: tuple[tuple[int, int], object] | None = None

    def _inputs(self, frame: Frame) -> tuple[torch.Tensor, torch.Tensor]:
        if frame.index not in self._cache:
            image = self.predictor.prepare(frame.rgb)
            depth = self.predictor.depth(image, self.flip_average)
            if len(self._cache) >= 2:
                del self._cache[min(self._cache)]
            self._cache[frame.index] = (image, depth)
        return self._cache[frame.index]

    def predict_depth(self, frame: Frame) -> np.ndarray:
        """Depth at the network's input size; the metrics resize it to the ground truth's resolution."""
        return self._inputs(frame)[1][0, 0].detach().float().cpu().numpy()

    def _motion_output(self, previous: Frame, current: Frame):
        key = (previous.index, current.index)
        if self._last_pair is None or self._last_pair[0] != key:
            image1, depth1 = self._inputs(previous)
            image2, depth2 = self._inputs(current)
            self._last_pair = (key, self.predictor.motion(image1, depth1, image2, depth2))
        return self._last_pair[1]

    def predict_object_motion(self, previous: Frame, current: Frame) -> np.ndarray:
        """The network's object-motion field [h, w, 3] at its input size, model units (not refined)."""
        field = self._motion_output(previous, current).residual_translation
        return field[0].detach().float().cpu().numpy().transpose(1, 2, 0)

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
        return camera_motion(self.predictor, image1, depth1, image2, output, current, self.refinement,
                             frame_intrinsics=self.intrinsics == "auto")
