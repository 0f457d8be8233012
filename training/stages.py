"""What a training stage trains: the model's parameters in four named groups (`optim.train`).

A stage trains some groups and keeps the others exactly as loaded (`--init-from`, `--resume`): the bundled
model was built stage by stage this way (a motion network trained against a finished depth network, an
intrinsics head alone, ...). Naming the groups in the recipe says which parameters train; one function
here sets them, so no stage flips `requires_grad` by hand.

- ``depth``: the depth network.
- ``ego_motion``: the motion network's encoder, its camera-motion output and the rotation and translation
  scales.
- ``intrinsics``: the focal-length and principal-point heads (learned intrinsics).
- ``object_motion``: the object-motion field (the residual translation and its refinement blocks).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch import nn

from depth_motion_ros.networks import DepthMotionModel

PARAMETER_GROUPS = ("depth", "ego_motion", "intrinsics", "object_motion")


def group_parameters(model: DepthMotionModel, group: str) -> Iterator[nn.Parameter]:
    """The parameters of one group (`PARAMETER_GROUPS`)."""
    motion = model.motion_net
    if group == "depth":
        yield from model.depth_net.parameters()
    elif group == "ego_motion":
        yield from motion.encoder.parameters()
        yield from motion.background_motion.parameters()
        yield motion.rotation_scale
        yield motion.translation_scale
    elif group == "intrinsics":
        yield from motion.focal_head.parameters()
        yield from motion.offset_head.parameters()
    elif group == "object_motion":
        yield from motion.unrefined_residual.parameters()
        yield from motion.refinements.parameters()
    else:
        raise ValueError(f"unknown parameter group {group!r}; known: {', '.join(PARAMETER_GROUPS)}")


def set_trainable(model: DepthMotionModel, groups: Iterable[str]) -> None:
    """Only the parameters of ``groups`` require gradients (before any optimiser or DDP wrapper sees them)."""
    model.requires_grad_(False)
    for group in groups:
        for parameter in group_parameters(model, group):
            parameter.requires_grad_(True)
