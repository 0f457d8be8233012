"""Metric scale from the robot's own odometry (`scale_mode: odometry`), without ROS.

A monocular network knows depth and translation only up to one unknown factor. A robot that also has an
odometry of its own (wheel encoders, a motion-capture or a fused estimate) measures how far the camera moved
between two images in metres; the network says how far in its model units. Their ratio over recent pairs
is metres per model unit. Two parts:

* `RobotOdometryBuffer` keeps the robot's recent poses (the node fills it from nav_msgs/Odometry) and
  answers "how did the camera move between these two image stamps", interpolating the pose at each stamp
  (translation linearly, rotation by slerp) and refusing stamps it does not cover, with a reason.
* `OdometryScaleEstimator` turns pairs of (robot motion, network motion) into a scale: the median of the
  per-pair ratios of travelled distance over the last `window` pairs with enough motion. Near-standstill
  pairs are ignored: there the network's translation is mostly its own noise and the ratio means nothing.
  It also measures its own uncertainty (the spread of the ratios, the disagreement in rotation, both its
  repeated and its random part), which the published covariances come from (odometry.py).

The robot's distance is that of the camera, not of `base_link`: with a camera mounted away from the
rotation axis, a robot turning on the spot moves the camera but not its base.
"""
from __future__ import annotations

import bisect
import math
import threading
from collections import deque

import numpy as np

from depth_motion_ros.odometry import MotionUncertainty
from depth_motion_ros.transforms import interpolate_pose, invert_rigid, matrix_to_rotvec

#: Seconds of robot odometry kept: more than a pair of camera frames ever spans (max_frame_gap defaults to 1 s)
#: plus the time a frame waits to be processed.
BUFFER_SECONDS = 10.0
#: 1.4826 x MAD estimates a normal distribution's standard deviation.
MAD_TO_STD = 1.4826
#: The median of n normal samples has a standard error of about 1.2533 sigma / sqrt(n).
MEDIAN_STANDARD_ERROR = 1.2533
#: For an error rotation with independent normal components of deviation sigma per axis, angle^2 / sigma^2
#: is chi-square with 3 degrees of freedom, whose median is 2.366.
CHI2_3_MEDIAN = 2.366


class OdometryMatchError(ValueError):
    """The robot's odometry does not cover an image stamp; `reason` is short and fixed (for throttling)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason} ({detail})")
        self.reason = reason


class RobotOdometryBuffer:
    """The robot's recent poses `odom_T_base` by stamp; thread-safe (filled by a subscription callback,
    read by the processing thread)."""

    def __init__(self, span_s: float = BUFFER_SECONDS) -> None:
        self.span_s = span_s
        self._stamps: deque[float] = deque()
        self._poses: deque[np.ndarray] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._stamps)

    def clear(self) -> None:
        with self._lock:
            self._stamps.clear()
            self._poses.clear()

    def add(self, stamp: float, odom_T_base: np.ndarray) -> bool:
        """Keep one pose; False when it was refused. A stamp earlier than the newest (a bag loop, a restart)
        starts the buffer again from it; a repeated stamp replaces nothing and is refused."""
        pose = np.array(odom_T_base, dtype=np.float64)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            return False
        with self._lock:
            if self._stamps and stamp <= self._stamps[-1]:
                if stamp == self._stamps[-1]:
                    return False
                self._stamps.clear()
                self._poses.clear()
            self._stamps.append(stamp)
            self._poses.append(pose)
            while self._stamps and self._stamps[0] < stamp - self.span_s:
                self._stamps.popleft()
                self._poses.popleft()
        return True

    def pose_at(self, stamp: float) -> np.ndarray:
        """`odom_T_base` at `stamp`, interpolated between the two poses around it; OdometryMatchError when the
        buffer does not reach that far (never extrapolated: a guess would become the scale)."""
        with self._lock:
            if len(self._stamps) < 2:
                raise OdometryMatchError("no robot odometry yet", f"{len(self._stamps)} message(s) buffered")
            first, last = self._stamps[0], self._stamps[-1]
            if stamp < first:
                raise OdometryMatchError("image older than the buffered robot odometry",
                                         f"image {stamp:.3f} s, oldest odometry {first:.3f} s")
            if stamp > last:
                raise OdometryMatchError("image newer than the latest robot odometry",
                                         f"image {stamp:.3f} s, latest odometry {last:.3f} s")
            upper = bisect.bisect_left(self._stamps, stamp)
            if self._stamps[upper] == stamp:
                return np.array(self._poses[upper])
            t0, t1 = self._stamps[upper - 1], self._stamps[upper]
            return interpolate_pose(self._poses[upper - 1], self._poses[upper], (stamp - t0) / (t1 - t0))

    def camera_motion(self, previous_stamp: float, stamp: float, base_T_optical: np.ndarray) -> np.ndarray:
        """The camera's motion between the two stamps as the robot measured it: `previous_T_current` of the
        optical frame (the engine's convention), metres."""
        base_motion = invert_rigid(self.pose_at(previous_stamp)) @ self.pose_at(stamp)
        mount = np.asarray(base_T_optical, dtype=np.float64)
        motion: np.ndarray = invert_rigid(mount) @ base_motion @ mount
        return motion


class OdometryScaleEstimator:
    """Metres per model unit from pairs of (robot motion in metres, network motion in model units).

    `add` takes each pair; pairs whose camera moved slower than `min_speed` (m/s, by the robot) are not used.
    The estimate is the median of the per-pair ratios |t_robot| / |t_network| over the last `window` used
    pairs, available from `min_pairs` on. The median, because single pairs go badly wrong (a moving object
    filling the view, a blurred frame, a wheel slipping) and must not pull the scale.

    The processing thread adds while the node's diagnostics read: the window is an immutable tuple replaced
    as a whole, and every reader works on the one it read.
    """

    def __init__(self, window: int = 10, min_speed: float = 0.05, min_pairs: int = 3) -> None:
        if window < 1 or min_pairs < 1 or min_speed < 0:
            raise ValueError(f"need window >= 1, min_pairs >= 1, min_speed >= 0; got {window}, {min_pairs}, "
                             f"{min_speed}")
        self.window = window
        self.min_speed = min_speed
        self.min_pairs = min_pairs
        #: Per used pair: the log of the distance ratio, and the rotation vector of the network's rotation
        #: error against the robot's (camera frame).
        self._pairs: tuple[tuple[float, np.ndarray], ...] = ()

    def reset(self) -> None:
        self._pairs = ()

    def configure(self, window: int, min_speed: float) -> None:
        """New settings (a run-time parameter change); the newest pairs are kept."""
        self.window = window
        self.min_speed = min_speed
        self._pairs = self._pairs[-window:]

    def add(self, robot_motion: np.ndarray, network_motion: np.ndarray, dt: float) -> bool:
        """One pair: the camera's `previous_T_current` by the robot (metres) and by the network (model
        units), `dt` seconds apart. Returns whether it was used (False: standstill or no network motion)."""
        robot_distance = float(np.linalg.norm(np.asarray(robot_motion)[:3, 3]))
        network_distance = float(np.linalg.norm(np.asarray(network_motion)[:3, 3]))
        if dt <= 0 or robot_distance < self.min_speed * dt or not network_distance > 0 \
                or not math.isfinite(network_distance):
            return False
        error = np.asarray(network_motion)[:3, :3].T @ np.asarray(robot_motion)[:3, :3]
        pair = (math.log(robot_distance / network_distance), matrix_to_rotvec(error))
        self._pairs = (*self._pairs, pair)[-self.window:]
        return True

    @property
    def pairs(self) -> int:
        """Pairs in the window (used ones only)."""
        return len(self._pairs)

    @property
    def scale(self) -> float | None:
        """Metres per model unit, or None before `min_pairs` pairs with motion."""
        window = self._pairs
        if len(window) < self.min_pairs:
            return None
        return math.exp(float(np.median([log_ratio for log_ratio, _ in window])))

    def uncertainty(self) -> MotionUncertainty | None:
        """The estimate's own uncertainty, or None before there is an estimate: the relative deviation of one
        pair's ratio (robust: 1.4826 x the median absolute deviation of the log-ratios), which is how far one
        step's scaled length strays from the robot's; the median's relative standard error from it; and the
        rotation's disagreement with the robot's, split into the part every pair repeats (the size of the
        per-axis median of the error vectors) and the deviation per axis of the rest (robust: from the median
        of its squared angles)."""
        window = self._pairs
        if len(window) < self.min_pairs:
            return None
        logs = np.array([log_ratio for log_ratio, _ in window])
        errors = np.array([error for _, error in window])
        spread = MAD_TO_STD * float(np.median(np.abs(logs - np.median(logs))))
        repeated = np.median(errors, axis=0)
        rest = float(np.median(np.sum(np.square(errors - repeated), axis=1)))
        return MotionUncertainty(scale=MEDIAN_STANDARD_ERROR * spread / math.sqrt(len(window)),
                                 step=spread, rotation=math.sqrt(rest / CHI2_3_MEDIAN),
                                 rotation_bias=float(np.linalg.norm(repeated)))
