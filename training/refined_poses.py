"""Camera motion for the losses from direct image alignment instead of the motion network's regression.

Why: on slow handheld video the light motion network's pose is not the one that best explains the two
frames for the current depth (docs/model-experiments.md, session 8: on the 7-Scenes training frames the
network's depth with its own refined pose warps worse than a fixed ramp does with its refined pose). A
depth network trained against such a pose learns to compensate the pose's error instead of the scene's
shape. Refining the pose for the current depth at every step (Gauss-Newton on the photometric error, the
node's `pose_refinement`) and treating it as a constant alternates the two problems, as classical direct
SLAM does: the depth gradient then only asks "which shape explains these frames under their best pose".
"""
from __future__ import annotations

import torch
from torch import Tensor

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.networks import MotionOutput


def with_refined_camera_motion(motion: MotionOutput, rgb1: Tensor, depth1: Tensor, rgb2: Tensor,
                               intrinsics: Tensor, options: AlignmentOptions) -> MotionOutput:
    """`motion` [B] of `rgb1` -> `rgb2` with its rotation and translation refined for `depth1`, as constants.

    Shapes as `refine_motion`: images [B, 3, H, W], depth [B, 1, H, W], intrinsics [B, 3, 3]. The intrinsics,
    the object-motion field and their gradients are left as they are.
    """
    if options.mode == "none":
        return motion
    with torch.no_grad():  # builds no graph: the refined motion is a constant for the losses
        rotation, translation = refine_motion(rgb1, depth1, rgb2, intrinsics, motion.rotation, motion.translation,
                                              options)
    return motion._replace(rotation=rotation, translation=translation)
