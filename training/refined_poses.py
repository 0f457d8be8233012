"""Camera motion for the losses from direct image alignment instead of the motion network's regression.

Why: on slow handheld video the light motion network's pose is not the one that best explains the two
frames for the current depth (docs/decisions/depth-against-refined-poses.md: on the 7-Scenes training frames the
network's depth with its own refined pose warps worse than a fixed ramp does with its refined pose). A
depth network trained against such a pose learns to compensate the pose's error instead of the scene's
shape. Refining the pose for the current depth at every step (Gauss-Newton on the photometric error, the
node's `pose_refinement`) and treating it as a constant alternates the two problems, as classical direct
SLAM does: the depth gradient then only asks "which shape explains these frames under their best pose".
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from depth_motion_ros.geometry.direct_alignment import AlignmentOptions, refine_motion
from depth_motion_ros.networks import MotionOutput


def with_refined_camera_motion(motion: MotionOutput, rgb1: Tensor, depth1: Tensor, rgb2: Tensor,
                               intrinsics: Tensor, modes: Sequence[str]) -> MotionOutput:
    """`motion` [B] of `rgb1` -> `rgb2` with each pair's rotation and translation refined for `depth1` as
    `modes[i]` says ("none", "rotation", "full"), as constants.

    Shapes as `refine_motion`: images [B, 3, H, W], depth [B, 1, H, W], intrinsics [B, 3, 3]. Pairs whose
    mode is "none" keep the network's motion and its gradient; the intrinsics, the object-motion field and
    their gradients are left as they are.
    """
    if len(modes) != len(rgb1):
        raise ValueError(f"{len(modes)} refinement modes for {len(rgb1)} pairs")
    if all(mode == "none" for mode in modes):
        return motion
    rotation, translation = motion.rotation, motion.translation
    if "none" not in modes:  # every pair refined: no graph back into the motion network at all
        rotation, translation = rotation.detach(), translation.detach()
    for mode in sorted(set(modes) - {"none"}):
        rows = torch.tensor([i for i, m in enumerate(modes) if m == mode], device=rgb1.device)
        with torch.no_grad():  # builds no graph: the refined motion is a constant for the losses
            refined = refine_motion(rgb1[rows], depth1[rows], rgb2[rows], intrinsics[rows], motion.rotation[rows],
                                    motion.translation[rows], AlignmentOptions(mode=mode))
        # Out of place: the replaced rows pass no gradient back, the others keep the network's.
        rotation = rotation.index_put((rows,), refined[0].to(rotation.dtype))
        translation = translation.index_put((rows,), refined[1].to(translation.dtype))
    return motion._replace(rotation=rotation, translation=translation)
