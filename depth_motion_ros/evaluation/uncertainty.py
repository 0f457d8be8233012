"""Confidence intervals for figures averaged over the frames of one recording.

Consecutive video frames are nearly the same image, so the per-image scores of 200 frames of one handheld
sweep are not 200 independent samples, and neither are overlapping odometry snippets: an interval that
treats them as such is far too narrow. Here the scores are cut into consecutive batches long enough to be
nearly independent of each other (`batch_length`, three times the lag at which the scores decorrelate), and
the interval is Student's t over the batch means (the batch-means method of simulation output analysis,
Schmeiser 1982). Few batches give a large t quantile, so a short or slowly varying recording gets the wide
interval it deserves. On simulated AR(1) scores of 200 frames (test/test_uncertainty.py) the 95 % intervals
hold the true mean 89-96 % of the time up to a frame-to-frame correlation of 0.95; the moving-block bootstrap,
tried first, held it only 62-77 % of the time at 0.9-0.95. Thirty-odd strongly correlated frames are beyond
any such method: their intervals are too narrow and say so only by being wide already.

The same interval of a per-image *difference* compares two predictors on the same frames
(`paired_differences`): far more sensitive than comparing their two intervals, because most of the
variation between frames is shared.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: Two-sided 95 % quantiles of Student's t for 1 to 30 degrees of freedom.
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
          2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
          2.045, 2.042)
#: Batches span this many times the decorrelation lag.
_BATCH_FACTOR = 3


def student_t_975(degrees_of_freedom: int) -> float:
    """The 97.5 % quantile of Student's t: tabulated up to 30 degrees of freedom, beyond that the
    Cornish-Fisher expansion around the normal quantile (within 1e-3 of the exact value)."""
    if degrees_of_freedom < 1:
        raise ValueError(f"need at least one degree of freedom, got {degrees_of_freedom}")
    if degrees_of_freedom <= len(_T_975):
        return _T_975[degrees_of_freedom - 1]
    z, df = 1.959964, float(degrees_of_freedom)
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def decorrelation_lag(values: Sequence[float] | np.ndarray) -> int:
    """The first lag at which the sample autocorrelation of `values` falls inside the 95 % band of white
    noise (2 / sqrt(n)); 1 for white noise or fewer than 8 values, at most n / 4."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 8 or np.ptp(x) == 0.0:
        return 1
    centred = x - x.mean()
    variance = float(np.dot(centred, centred))
    band = 2.0 / math.sqrt(n)
    longest = max(1, n // 4)
    for lag in range(1, longest + 1):
        if float(np.dot(centred[:-lag], centred[lag:])) / variance < band:
            return lag
    return longest


def batch_length(values: Sequence[float] | np.ndarray) -> int:
    """Frames per batch: three decorrelation lags, but short enough for at least four batches (when there
    are four values or more)."""
    n = len(values)
    return max(1, min(_BATCH_FACTOR * decorrelation_lag(values), n // 4))


def interval_of_mean(values: Sequence[float] | np.ndarray) -> dict:
    """`{"mean", "interval": [low, high], "batch"}`: the mean of time-ordered scores and its 95 % interval.

    The first `(n // batch) * batch` values are cut into batches; the interval is the batch means' Student t
    interval, centred on the mean of all values. Raises ValueError for fewer than two values or a non-finite one.
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        raise ValueError(f"need at least two values for an interval, got {len(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the values contain NaN or infinity")
    batch = batch_length(x)
    batches = len(x) // batch
    means = x[:batches * batch].reshape(batches, batch).mean(axis=1)
    half_width = student_t_975(batches - 1) * float(np.std(means, ddof=1)) / math.sqrt(batches)
    mean = float(x.mean())
    return {"mean": mean, "interval": [mean - half_width, mean + half_width], "batch": batch}


def paired_differences(scores: Sequence[Mapping[str, float]], reference: Sequence[Mapping[str, float]],
                       metrics: Sequence[str]) -> dict[str, dict]:
    """Mean per-image difference `scores - reference` of each metric, with its interval, over the images the
    two share (matched by their "frame" entry, kept in `scores`' order), and the share of those images on
    which `scores` is lower ("lower_share": a difference that holds on every frame of a recording whose
    difficulty drifts slowly can still have a wide interval, since such a recording holds few batches).

    Raises ValueError when they share fewer than two images (the two were measured on different frames) or
    when either names a frame twice.
    """
    for rows in (scores, reference):
        frames = [row["frame"] for row in rows]
        if len(set(frames)) != len(frames):
            raise ValueError("a set of per-frame scores names the same frame twice")
    by_frame = {row["frame"]: row for row in reference}
    pairs = [(row, by_frame[row["frame"]]) for row in scores if row["frame"] in by_frame]
    if len(pairs) < 2:
        raise ValueError(f"the two sets of per-image scores share {len(pairs)} frame(s); at least two are needed")
    result = {}
    for name in metrics:
        differences = np.array([mine[name] - theirs[name] for mine, theirs in pairs])
        summary = interval_of_mean(differences)
        result[name] = {"difference": summary.pop("mean"), **summary, "images": len(pairs),
                        "lower_share": float(np.mean(differences < 0.0))}
    return result
