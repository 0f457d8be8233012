"""Camera trajectories: TUM trajectory files and time interpolation of ground truth (maths: transforms.py).

TUM files (`t tx ty tz qx qy qz qw`, camera-to-world, optical frame) are the project's trajectory format,
read for ground truth and written by the inference CLI. Ground-truth topics in bags run at their own
rate (EuRoC: 200 Hz body poses), so poses are interpolated at each image's time instead of being matched
to the nearest message.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from depth_motion_ros.transforms import interpolate_pose, matrix_to_quaternion, pose_matrix


def read_tum(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A TUM trajectory file -> `(timestamps [N], poses [N, 4, 4])`; `#` comments and blank lines skipped."""
    times, poses = [], []
    for line_number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        values = text.replace(",", " ").split()
        if len(values) != 8:
            raise ValueError(f"{path}:{line_number}: expected 8 values 't tx ty tz qx qy qz qw', got {len(values)}")
        numbers = [float(v) for v in values]
        times.append(numbers[0])
        poses.append(pose_matrix(numbers[1:4], numbers[4:8]))
    return np.asarray(times, dtype=np.float64), np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)


def write_tum(path: str | Path, timestamps: Sequence[float], poses: Sequence[np.ndarray]) -> None:
    """Write camera-to-world poses as a TUM trajectory file with a header comment."""
    lines = ["# t tx ty tz qx qy qz qw (camera-to-world, optical frame)"]
    for stamp, pose in zip(timestamps, poses, strict=True):
        tx, ty, tz = np.asarray(pose)[:3, 3]
        qx, qy, qz, qw = matrix_to_quaternion(np.asarray(pose)[:3, :3])
        lines.append(f"{stamp:.6f} {tx:.9f} {ty:.9f} {tz:.9f} {qx:.9f} {qy:.9f} {qz:.9f} {qw:.9f}")
    Path(path).write_text("\n".join(lines) + "\n")


class PoseTrack:
    """Time-stamped poses that answer "where was the camera at time t" by interpolation.

    Translation is interpolated linearly and rotation by slerp between the two bracketing poses. A time
    outside the track by more than `tolerance` seconds has no pose (None) rather than an extrapolated one.
    """

    def __init__(self, timestamps: Sequence[float] | np.ndarray, poses: Sequence[np.ndarray] | np.ndarray,
                 tolerance: float = 0.02) -> None:
        order = np.argsort(np.asarray(timestamps, dtype=np.float64), kind="stable")
        self.timestamps = np.asarray(timestamps, dtype=np.float64)[order]
        self.poses: np.ndarray = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)[order]
        self.tolerance = tolerance

    def __len__(self) -> int:
        return len(self.timestamps)

    def at(self, t: float) -> np.ndarray | None:
        """The pose at time `t` (seconds), or None when `t` is not covered by the track."""
        times = self.timestamps
        if len(times) == 0 or t < times[0] - self.tolerance or t > times[-1] + self.tolerance:
            return None
        upper = int(np.searchsorted(times, t))
        if upper < len(times) and times[upper] == t:
            return np.array(self.poses[upper])
        if upper == 0:
            return np.array(self.poses[0])
        if upper == len(times):
            return np.array(self.poses[-1])
        t0, t1 = times[upper - 1], times[upper]
        fraction = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
        return interpolate_pose(self.poses[upper - 1], self.poses[upper], fraction)
