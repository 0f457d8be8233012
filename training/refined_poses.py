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


def refined_motion_target_loss(motion: MotionOutput, rgb1: Tensor, depth1: Tensor, rgb2: Tensor,
                               intrinsics: Tensor) -> Tensor:
    """How far the network's camera motion of each pair is from that motion refined by full direct alignment
    against `depth1` (a constant target, no gradient through it): the mean over pairs of
    |t - t*| / |t*| + |r - r*| / max(|r*|, 1e-3 rad).

    Why (docs/model-experiments.md, session 10): the photometric losses let the network keep a typical
    speed and rescale its depth instead; the refined translation is the one the images support for the
    current depth, so pulling the network towards it teaches the speed the refinement measures at run time.
    """
    with torch.no_grad():
        rotation, translation = refine_motion(rgb1, depth1, rgb2, intrinsics, motion.rotation.detach(),
                                              motion.translation.detach(), AlignmentOptions(mode="full"))
    translation_error = (motion.translation - translation).norm(dim=1) / translation.norm(dim=1).clamp_min(1e-6)
    rotation_error = (motion.rotation - rotation).norm(dim=1) / rotation.norm(dim=1).clamp_min(1e-3)
    loss: Tensor = (translation_error + rotation_error).mean()
    return loss
