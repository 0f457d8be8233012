"""The reverse motion (camera 2 -> camera 1) computed from the forward one instead of predicted.

The official code runs the motion network on both orders of every pair and ties the two predictions
with the cycle-consistency losses, so the network itself must tell which frame came first. On our
CPU-sized light networks it did not: on KITTI the sign of forward translation stayed random from pair
to pair for 7000 steps, because with the per-pixel-minimum auto-mask a wrong-sign warp costs exactly
what no warp costs and so gets almost no gradient (docs/decisions/reverse-motion-inverted.md). With
``reverse_motion: inverted`` the network only ever sees pairs in temporal order, as Monodepth2's and
SfMLearner's pose networks do and as the node feeds it, and the reverse direction is derived here:

* rigid part, exactly: ``p1 = R^T p2 - R^T t``, i.e. axis-angle ``-w`` and translation ``-R^T t``;
* object-motion field, to first order: a point that moved by ``r`` moves back by ``-R^T r``; the field
  is carried from frame 1's grid onto frame 2's by sampling it where frame 2's pixels land in frame 1
  under the inverse rigid motion (the field's own displacement is ignored for that look-up).
"""
from __future__ import annotations

import torch
from torch import Tensor

from depth_motion_ros.geometry import axis_angle_to_matrix
from depth_motion_ros.networks import MotionOutput
from depth_motion_ros.training.losses import resample, transform_depth_map


def invert_rigid_motion(rotation: Tensor, translation: Tensor) -> tuple[Tensor, Tensor]:
    """Axis-angle ``rotation`` [B, 3] and ``translation`` [B, 3] of camera 1 -> 2, inverted (2 -> 1)."""
    rotation_matrix = axis_angle_to_matrix(rotation)
    inverse_translation = -(rotation_matrix.transpose(1, 2) @ translation.unsqueeze(-1)).squeeze(-1)
    return -rotation, inverse_translation


def invert_residual_field(residual: Tensor, inverse_rotation: Tensor, inverse_translation: Tensor, depth2: Tensor,
                          intrinsics: Tensor) -> Tensor:
    """Object-motion field [B, 3, H, W] on frame 1's grid -> the reverse field on frame 2's grid.

    ``inverse_rotation``, ``inverse_translation`` are the rigid motion 2 -> 1 (`invert_rigid_motion`),
    ``depth2`` [B, 1, H, W] is frame 2's depth, ``intrinsics`` [B, 3, 3] the camera of both frames.
    """
    landing = transform_depth_map(depth2, inverse_rotation, inverse_translation, torch.zeros_like(residual),
                                  intrinsics)
    carried = resample(residual, landing.x, landing.y)  # [B, 3, H, W] on frame 2's grid
    # R(-w) = R(w)^T: the rotation part of the inverse motion.
    return -torch.einsum("bij,bjhw->bihw", axis_angle_to_matrix(inverse_rotation), carried)


def with_inverted_reverse(forward: MotionOutput, depth2: Tensor, intrinsics: Tensor) -> MotionOutput:
    """The direction-stacked [2B] motion ``[1 -> 2; 2 -> 1]`` from the forward [B] prediction.

    ``intrinsics`` [B, 3, 3] are the ones the loss will use (given or learned) for the field's look-up.
    Computed in float32, as the losses are, whatever the networks' autocast.
    """
    forward = MotionOutput(*(tensor.float() for tensor in forward))
    depth2, intrinsics = depth2.float(), intrinsics.float()
    inverse_rotation, inverse_translation = invert_rigid_motion(forward.rotation, forward.translation)
    inverse_residual = invert_residual_field(forward.residual_translation, inverse_rotation, inverse_translation,
                                             depth2, intrinsics)
    return MotionOutput(torch.cat([forward.rotation, inverse_rotation]),
                        torch.cat([forward.translation, inverse_translation]),
                        torch.cat([forward.intrinsics, forward.intrinsics]),
                        torch.cat([forward.residual_translation, inverse_residual]))
