"""Step-dependent schedules of the official training recipe.

Two things change with the global step in the official code (depth_and_motion_learning):

* the multiplicative noise of the randomized layer normalization ramps up quadratically,
  ``0.5 * min(step / rampup, 1) ** 2``: noise from step 0 keeps the freshly initialised depth network
  from learning anything, full noise later regularises it like batch statistics would;
* the residual (object) motion field is multiplied by ``clip(2 * step / burnin - 1, 0, 1)``: zero for
  the first half of the burn-in so that depth and ego-motion settle first (otherwise the field explains
  every photometric error and depth never learns), then a linear ramp to full strength at ``burnin``.

Both are pure functions of the step, so a resumed run reproduces them exactly.
"""
from __future__ import annotations

LAYER_NORM_MAX_NOISE = 0.5
"""Largest stddev for which the truncated-normal noise factor ``1 + n`` stays non-negative."""


def layer_norm_noise_stddev(step: int, rampup_steps: int, max_stddev: float = LAYER_NORM_MAX_NOISE) -> float:
    """Stddev of the randomized-layer-norm noise at ``step`` (full strength when ``rampup_steps <= 0``)."""
    if rampup_steps <= 0:
        return max_stddev
    progress = min(max(step, 0) / float(rampup_steps), 1.0)
    return max_stddev * progress * progress


def motion_field_scale(step: int, burnin_steps: int) -> float:
    """Multiplier of the residual motion field: 0 for the first half of the burn-in, then a linear ramp.

    ``burnin_steps <= 0`` disables the burn-in (the field is used at full strength from the start).
    """
    if burnin_steps <= 0:
        return 1.0
    return min(max(2.0 * step / float(burnin_steps) - 1.0, 0.0), 1.0)
