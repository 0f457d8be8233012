"""One evaluation path for models, baselines, the inference CLI and training validation.

`SequenceEvaluator` takes, frame by frame, a predicted depth map and the predicted motion from the
previous frame, together with the frame's ground truth, and keeps only per-image scores and poses, so
a long sequence never holds its depth maps in memory. `evaluate_sequence` drives it with a
`FramePredictor` over a frame source; `evaluate_predictions` feeds it precomputed arrays. Averages come with
95 % intervals that allow for the correlation of consecutive frames (evaluation/uncertainty.py), and the report
keeps the per-image and per-snippet scores, keyed by frame index, so that two reports on the same frames can
be compared pair by pair.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, cast

import numpy as np

from depth_motion_ros.evaluation.intrinsics import IntrinsicsTotals
from depth_motion_ros.evaluation.metrics import depth_metrics, mean_metrics
from depth_motion_ros.evaluation.object_motion import (
    DEFAULT_MOTION_THRESHOLD,
    MoverLabels,
    ObjectMotionScores,
    ObjectMotionTotals,
    format_by_kind,
)
from depth_motion_ros.evaluation.trajectory import snippet_errors, step_length_ratios, trajectory_ate, trajectory_rpe
from depth_motion_ros.evaluation.uncertainty import interval_of_mean
from depth_motion_ros.sources.frame import Frame


@dataclass(frozen=True)
class EvaluationSettings:
    """The protocol's knobs; the defaults are the owners' outdoor convention (use max_depth=10 indoors)."""

    min_depth: float = 1e-3
    max_depth: float = 80.0
    crop: str | None = None
    median_scaling: bool = True
    snippet_length: int = 5
    #: Scaled object motion (metres per frame) above which a pixel counts as flagged moving.
    motion_threshold: float = DEFAULT_MOTION_THRESHOLD
    #: The predictions claim metric scale (e.g. from the camera height): also score distances unaligned.
    metric: bool = False


class FramePredictor(Protocol):
    """What is evaluated: depth per frame and the motion between consecutive frames."""

    def predict_depth(self, frame: Frame) -> np.ndarray | None:
        """Depth [h, w] in model units at any resolution, or None when this predictor has no depth."""

    def predict_motion(self, previous: Frame, current: Frame) -> np.ndarray | None:
        """4x4 `T_21` mapping points of `previous`'s camera to `current`'s, or None (no odometry)."""

    def predict_object_motion(self, previous: Frame, current: Frame) -> np.ndarray | None:
        """Object-motion field [h, w, 3] of the pair on `previous`'s grid in model units, or None."""

    def predict_intrinsics(self, previous: Frame, current: Frame) -> np.ndarray | None:
        """The 3x3 camera matrix the pair's motion network learned, for `current`'s image size, or None."""


@dataclass
class EvaluationReport:
    """Everything a run measured; `to_dict` is the JSON written by the CLI."""

    frames: int = 0
    depth_images: int = 0
    depth: dict[str, float] = field(default_factory=dict)
    #: Per metric, the 95 % interval of the mean over images and the batch length (images) it used.
    depth_intervals: dict[str, dict] = field(default_factory=dict)
    #: Per image with ground truth: "frame" (its index in the source) and the seven metrics.
    per_image_depth: list[dict[str, float]] = field(default_factory=list)
    median_scale: float | None = None  # median over images of the per-image median-scaling factor
    pose_frames: int = 0
    snippets: int = 0
    snippet_ate: float | None = None
    snippet_ate_std: float | None = None
    #: The 95 % interval of the snippet ATE and its batch length (snippets), or empty.
    snippet_ate_interval: dict = field(default_factory=dict)
    #: Per snippet: "frame" (the index of its first frame) and "ate".
    per_snippet_ate: list[dict[str, float]] = field(default_factory=list)
    trajectory_ate: float | None = None
    rpe_translation: float | None = None
    rpe_rotation_deg: float | None = None
    #: With `metric`: predicted / true length of each step (median and quartiles) and of the whole path.
    metric_odometry: dict[str, float] = field(default_factory=dict)
    object_motion: ObjectMotionScores = field(default_factory=ObjectMotionScores)
    #: Learned-intrinsics errors (evaluation/intrinsics.py) over the pairs whose frames carry a calibration.
    intrinsics: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _longest_run(valid: Sequence[bool]) -> slice:
    """The longest run of consecutive True entries (poses are compared only where ground truth is unbroken)."""
    best, start = slice(0, 0), None
    for i, ok in enumerate(list(valid) + [False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - start > best.stop - best.start:
                best = slice(start, i)
            start = None
    return best


class SequenceEvaluator:
    """Accumulates per-frame predictions and ground truth; `report()` computes the figures."""

    def __init__(self, settings: EvaluationSettings | None = None) -> None:
        self.settings = settings or EvaluationSettings()
        self.frames = 0
        self.per_image: list[dict[str, float]] = []
        self.pred_poses: list[np.ndarray] = []
        self.gt_poses: list[np.ndarray | None] = []
        #: Each added frame's index in its source (its position in the sequence when none is given).
        self.frame_indices: list[int] = []
        self._odometry = True
        self.object_motion = ObjectMotionTotals()
        self.intrinsics = IntrinsicsTotals()
        #: The previous frame's true object motion, valid-depth mask and median-scaling factor, kept for the
        #: field of the pair it starts (which arrives with the next frame).
        self._motion_truth: tuple[np.ndarray, np.ndarray, float, np.ndarray | None] | None = None

    def add_frame(self, pred_depth: np.ndarray | None, gt_depth: np.ndarray | None,
                  motion_from_previous: np.ndarray | None, gt_pose: np.ndarray | None,
                  object_motion_from_previous: np.ndarray | None = None,
                  gt_object_motion: np.ndarray | None = None, frame_index: int | None = None,
                  gt_mover_kinds: np.ndarray | None = None) -> None:
        """Add one frame. `motion_from_previous` is `T_21` from the previous frame (ignored for the first);
        `object_motion_from_previous` the pair's field on the previous frame's grid, scored against the
        previous frame's `gt_object_motion` (this frame's is kept for the next pair). `frame_index` names the
        frame in the per-image and per-snippet scores; `gt_mover_kinds` each pixel's mover kind, when known
        (object motion is then also scored per kind)."""
        s = self.settings
        frame_index = self.frames if frame_index is None else int(frame_index)
        self.frame_indices.append(frame_index)
        scores = None
        if pred_depth is not None and gt_depth is not None:
            scores = depth_metrics(pred_depth, gt_depth, s.min_depth, s.max_depth, s.crop, s.median_scaling)
            if scores is not None:
                self.per_image.append({"frame": frame_index, **scores})
        if object_motion_from_previous is not None and self._motion_truth is not None:
            truth, valid, scale, kinds = self._motion_truth
            self.object_motion.add(object_motion_from_previous, truth, valid, scale, s.motion_threshold, kinds)
        self._motion_truth = None
        if gt_object_motion is not None and gt_depth is not None and scores is not None:
            with np.errstate(invalid="ignore"):
                valid = np.isfinite(gt_depth) & (gt_depth > s.min_depth) & (gt_depth <= s.max_depth)
            self._motion_truth = (gt_object_motion, valid, scores.get("scale", 1.0), gt_mover_kinds)
        if self.frames == 0:
            self.pred_poses.append(np.eye(4))
        elif motion_from_previous is None:
            self._odometry = False
        elif self._odometry:
            self.pred_poses.append(self.pred_poses[-1] @ np.linalg.inv(motion_from_previous))
        self.gt_poses.append(None if gt_pose is None else np.asarray(gt_pose, dtype=np.float64))
        self.frames += 1

    def add_intrinsics(self, predicted: np.ndarray, truth: np.ndarray, image_size: tuple[int, int]) -> None:
        """Add one pair's learned camera matrix against the frame's calibration, both for `image_size`."""
        self.intrinsics.add(predicted, truth, image_size)

    def report(self) -> EvaluationReport:
        s = self.settings
        report = EvaluationReport(frames=self.frames, depth_images=len(self.per_image),
                                  depth=mean_metrics(self.per_image), settings=asdict(s))
        report.per_image_depth = [{name: row[name] for name in ("frame", *report.depth)} for row in self.per_image]
        if len(self.per_image) >= 2 and all(np.isfinite(row[name]) for row in self.per_image for name in report.depth):
            for name in report.depth:
                summary = interval_of_mean([row[name] for row in self.per_image])
                report.depth_intervals[name] = {"interval": summary["interval"], "batch": summary["batch"]}
        if s.median_scaling and self.per_image:
            report.median_scale = float(np.median([row["scale"] for row in self.per_image]))
        if self.object_motion.pairs:
            report.object_motion = self.object_motion.scores()
        report.intrinsics = self.intrinsics.scores()
        if not self._odometry or self.frames < 2:
            return report
        run = _longest_run([pose is not None for pose in self.gt_poses])
        known = cast(list[np.ndarray], self.gt_poses[run])  # the longest run of frames with a pose
        gt = np.stack(known) if run.stop > run.start else np.zeros((0, 4, 4))
        pred = np.stack(self.pred_poses[run]) if len(gt) else gt
        report.pose_frames = len(gt)
        if len(gt) >= s.snippet_length:
            errors = snippet_errors(pred, gt, s.snippet_length)
            report.snippets = len(errors)
            report.snippet_ate = float(np.mean(errors))
            report.snippet_ate_std = float(np.std(errors))
            if len(errors) >= 2 and np.all(np.isfinite(errors)):
                summary = interval_of_mean(errors)
                report.snippet_ate_interval = {"interval": summary["interval"], "batch": summary["batch"]}
            report.per_snippet_ate = [{"frame": self.frame_indices[run.start + i], "ate": float(error)}
                                      for i, error in enumerate(errors)]
        if len(gt) >= 3:
            report.trajectory_ate = trajectory_ate(pred, gt)
            report.rpe_translation, report.rpe_rotation_deg = trajectory_rpe(pred, gt)
        ratios = step_length_ratios(pred, gt) if s.metric and len(gt) >= 2 else np.zeros(0)
        if len(ratios):
            travelled = [float(np.sum(np.linalg.norm(np.diff(p[:, :3, 3], axis=0), axis=1))) for p in (pred, gt)]
            report.metric_odometry = {
                "steps": float(len(ratios)), "step_ratio_median": float(np.median(ratios)),
                "step_ratio_p25": float(np.percentile(ratios, 25)), "step_ratio_p75": float(np.percentile(ratios, 75)),
                "path_length_ratio": travelled[0] / travelled[1]}
        return report


def evaluate_sequence(frames: Iterable[Frame], predictor: FramePredictor,
                      settings: EvaluationSettings | None = None, progress=None) -> EvaluationReport:
    """Run `predictor` over `frames` (depth on each, motion on consecutive pairs) and score it.

    `progress`, when given, is called with each frame after it is processed (e.g. a tqdm update).
    """
    evaluator = SequenceEvaluator(settings)
    labels = MoverLabels.of_source(frames)
    previous: Frame | None = None
    for frame in frames:
        pred_depth = predictor.predict_depth(frame) if frame.depth is not None else None
        motion = predictor.predict_motion(previous, frame) if previous is not None else None
        object_motion = None
        if previous is not None and previous.object_motion is not None:
            object_motion = predictor.predict_object_motion(previous, frame)
        if previous is not None and frame.intrinsics is not None:
            learned = predictor.predict_intrinsics(previous, frame)
            if learned is not None:
                evaluator.add_intrinsics(learned, frame.intrinsics, frame.rgb.shape[:2])
        kinds = labels.kinds_at(frame.index) if labels is not None and frame.object_motion is not None else None
        evaluator.add_frame(pred_depth, frame.depth, motion, frame.pose, object_motion, frame.object_motion,
                            frame_index=frame.index, gt_mover_kinds=kinds)
        previous = frame
        if progress is not None:
            progress(frame)
    return evaluator.report()


def evaluate_predictions(pred_depths: Sequence[np.ndarray | None], gt_depths: Sequence[np.ndarray | None],
                         pred_poses: np.ndarray | None = None, gt_poses: Sequence[np.ndarray | None] | None = None,
                         settings: EvaluationSettings | None = None,
                         pred_object_motions: Sequence[np.ndarray | None] | None = None,
                         gt_object_motions: Sequence[np.ndarray | None] | None = None,
                         frame_indices: Sequence[int] | None = None) -> EvaluationReport:
    """Score precomputed outputs: depth maps per frame and camera-to-world poses (e.g. a TUM trajectory).

    `pred_poses` are converted to per-pair motions so that the same accumulation as `evaluate_sequence`
    applies. Lists are per frame; None marks a frame without that prediction or ground truth. The object
    motions of frame i (predicted field and truth alike) are those of the pair that starts at frame i.
    `frame_indices` names the frames in the per-frame scores (default: their positions 0, 1, ...).
    """
    count = len(pred_depths)
    if len(gt_depths) != count:
        raise ValueError(f"{count} predicted depth maps but {len(gt_depths)} ground-truth entries")
    if frame_indices is not None and len(frame_indices) != count:
        raise ValueError(f"{count} predicted depth maps but {len(frame_indices)} frame indices")
    if pred_poses is not None and (gt_poses is None or len(pred_poses) != count or len(gt_poses) != count):
        raise ValueError("pred_poses and gt_poses must both be given with one entry per frame")
    if (pred_object_motions is None) != (gt_object_motions is None) or (
            pred_object_motions is not None and gt_object_motions is not None
            and not len(pred_object_motions) == len(gt_object_motions) == count):
        raise ValueError("pred_object_motions and gt_object_motions must both be given with one entry per frame")
    evaluator = SequenceEvaluator(settings)
    for i in range(count):
        motion = None
        if pred_poses is not None and i > 0:
            motion = np.linalg.inv(pred_poses[i]) @ pred_poses[i - 1]  # T_21 such that P_i = P_{i-1} inv(T_21)
        gt_pose = gt_poses[i] if gt_poses is not None else None
        field_from_previous = pred_object_motions[i - 1] if pred_object_motions is not None and i > 0 else None
        truth = gt_object_motions[i] if gt_object_motions is not None else None
        evaluator.add_frame(pred_depths[i], gt_depths[i], motion, gt_pose, field_from_previous, truth,
                            frame_index=None if frame_indices is None else frame_indices[i])
    return evaluator.report()


def _interval_text(summary: dict) -> str:
    if not summary:
        return ""
    low, high = summary["interval"]
    return f" (95% interval of the mean {low:.4f} to {high:.4f}, batches of {summary['batch']} snippets)"


def format_report(report: EvaluationReport, title: str = "") -> str:
    """A terminal table of the report's figures."""
    lines = [title] if title else []
    lines.append(f"frames: {report.frames}")
    if report.depth:
        names = list(report.depth)
        lines.append(f"depth ({report.depth_images} images with ground truth, "
                     f"median scaling {'on' if report.settings.get('median_scaling') else 'off'}):")
        lines.append("  " + " ".join(f"{name:>9}" for name in names))
        lines.append("  " + " ".join(f"{report.depth[name]:9.4f}" for name in names))
        if report.depth_intervals:
            lines.append("  95% interval of the mean (batch means of consecutive images):")
            lines.append("  " + " ".join(f"{report.depth_intervals[name]['interval'][0]:9.4f}" for name in names))
            lines.append("  " + " ".join(f"{report.depth_intervals[name]['interval'][1]:9.4f}" for name in names))
    else:
        lines.append("depth: no frames with ground-truth depth and a depth prediction")
    if report.snippet_ate is not None or report.trajectory_ate is not None:
        lines.append(f"odometry ({report.pose_frames} frames with ground-truth poses):")
        if report.snippet_ate is not None:
            lines.append(f"  snippet ATE ({report.settings.get('snippet_length')} frames, {report.snippets} snippets): "
                         f"{report.snippet_ate:.4f} +- {report.snippet_ate_std:.4f}"
                         + _interval_text(report.snippet_ate_interval))
        if report.trajectory_ate is not None:
            lines.append(f"  trajectory ATE (Sim3): {report.trajectory_ate:.4f}")
            lines.append(f"  RPE (1 frame): {report.rpe_translation:.4f} translation, "
                         f"{report.rpe_rotation_deg:.4f} deg rotation")
        metric = report.metric_odometry
        if metric:
            lines.append(f"  metric scale, unaligned ({int(metric['steps'])} steps): step length predicted / true "
                         f"{metric['step_ratio_median']:.3f} median ({metric['step_ratio_p25']:.3f} to "
                         f"{metric['step_ratio_p75']:.3f} quartiles), path length {metric['path_length_ratio']:.3f}")
    else:
        lines.append("odometry: no motion prediction or not enough frames with ground-truth poses")
    motion = report.object_motion
    if "relative_epe" in motion:
        lines.append(f"object motion ({int(motion['pairs'])} pairs, {int(motion['moving_pixels'])} moving pixels, "
                     f"flagged above {report.settings.get('motion_threshold')} m per frame):")
        lines.append(f"  mover IoU {motion.get('mover_iou', 0.0):.4f}, relative end-point error "
                     f"{motion['relative_epe']:.4f} (zero field: 1), static pixels flagged "
                     f"{motion.get('static_flagged', 0.0):.4f}")
        lines += format_by_kind(motion)
    learned = report.intrinsics
    if learned:
        lines.append(f"learned intrinsics ({int(learned['pairs'])} pairs, relative error against the calibration): "
                     f"focal {learned['focal_rel_error']:.4f} (fx {learned['fx_rel_error']:.4f}, "
                     f"fy {learned['fy_rel_error']:.4f}), principal point x {learned['cx_rel_error']:.4f}, "
                     f"y {learned['cy_rel_error']:.4f}")
    return "\n".join(lines)
