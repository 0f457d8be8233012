"""Loss terms beyond the method's own, plugged into the trainer as small pieces.

The official losses (training/losses.py) score a batch of recorded pairs. An extra term brings its own data
and its own weighting (e.g. `rendered_motion`: rendered pairs whose exact object motion supervises the field)
and is added to the total in training steps only; the trainer only knows this interface, so a term is
added or removed without touching the training loop.
"""
from __future__ import annotations

from typing import Protocol

from torch import Tensor

from depth_motion_ros.networks import DepthMotionModel


class ExtraLossTerm(Protocol):
    #: The term's name in the logs and in `LossOutput.terms`.
    name: str

    def __call__(self, model: DepthMotionModel, step: int) -> Tensor:
        """The weighted term for global step ``step`` (a function of the step, so a resumed run repeats it)."""
        ...
