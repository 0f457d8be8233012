"""Object-motion metrics: the predicted residual 3D translation field against a known one.

Only rendered sequences have ground truth for it: `depth_motion_synth` writes `motion/NNNNNN.npy`, the
translation of each pixel's scene point from its frame to the next, in the next camera's frame, metres
(zero on static surfaces). The network's field of a pair lies on the pair's first frame, in the same frame
as that ground truth (p2 = R p1 + t + field) but in model units, so it is multiplied by the first frame's
median-scaling factor, as its depth is, before it is compared.

Per pair, over the pixels whose ground-truth depth is valid: a pixel is *moving* when its true motion
exceeds `MOVING_EPSILON`, and *flagged* when the scaled predicted field exceeds `threshold` (metres per
frame; the node's `motion/mask` is the same test). A sequence's figures pool the pixels of all its pairs:

* `mover_iou`: |flagged and moving| / |flagged or moving|;
* `relative_epe`: sum of |predicted - true| over moving pixels / sum of |true| there (1.0 is what a field
  of zeros scores, so a learned field must score below it);
* `static_flagged`: the fraction of static pixels flagged (false motion).

Rendered worlds also record which mover each pixel shows and each mover's kind (`movers/NNNNNN.png` and the
`movers` table of meta.yaml, written by `depth_motion_synth`). Given those labels, the figures are also
split by kind (crossing, oncoming, turning, parallel, pedestrian; person in rooms), because what one camera
can observe differs by kind: a mover along the camera's epipolar lines (parallel traffic) looks like a
depth error. Per kind k, over the static pixels and the pixels of kind k only (another kind's movers are
neither): `mover_iou` = |flagged and moving k| / |flagged or moving k|, and `relative_epe` over the
pixels of kind k, each beside the trivial prior: flagging everything (`mover_iou_flag_all` =
|moving k| / |static or moving k|) and a zero field (relative end-point error 1).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np
import yaml

#: True motion (metres per frame) above which a pixel counts as moving (the renderer's static pixels are 0).
MOVING_EPSILON = 1e-3
#: Default `threshold`: a tenth of a metre per frame, a third of the slowest car in the synthetic streets.
DEFAULT_MOTION_THRESHOLD = 0.1


class ObjectMotionScores(TypedDict, total=False):
    """The pooled figures (one is left out when its denominator is empty) and the same per mover kind."""

    pairs: float
    moving_pixels: float
    mover_iou: float
    relative_epe: float
    static_flagged: float
    by_kind: dict[str, dict[str, float]]


@dataclass
class KindTotals:
    """Pixel counts and sums of one mover kind, pooled over pairs."""

    moving: int = 0
    flagged_and_moving: int = 0
    flagged_or_moving: int = 0
    domain: int = 0
    endpoint_error: float = 0.0
    true_motion: float = 0.0

    def scores(self) -> dict[str, float]:
        scores = {"moving_pixels": float(self.moving)}
        if self.flagged_or_moving:
            scores["mover_iou"] = self.flagged_and_moving / self.flagged_or_moving
        if self.domain:
            scores["mover_iou_flag_all"] = self.moving / self.domain
        if self.true_motion > 0:
            scores["relative_epe"] = self.endpoint_error / self.true_motion
        return scores


@dataclass
class ObjectMotionTotals:
    """Pixel counts and sums pooled over the pairs added so far."""

    pairs: int = 0
    flagged_and_moving: int = 0
    flagged_or_moving: int = 0
    moving: int = 0
    endpoint_error: float = 0.0
    true_motion: float = 0.0
    static_flagged: int = 0
    static: int = 0
    by_kind: dict[str, KindTotals] = dataclasses.field(default_factory=dict)

    def add(self, predicted: np.ndarray, truth: np.ndarray, valid: np.ndarray, scale: float,
            threshold: float = DEFAULT_MOTION_THRESHOLD, kinds: np.ndarray | None = None) -> None:
        """Add one pair: `predicted` [h, w, 3] in model units at any resolution, `truth` [H, W, 3] metres,
        `valid` [H, W] the pixels with ground-truth depth, `scale` the median-scaling factor of the pair's
        first frame (1.0 for a metric model), `kinds` [H, W] each pixel's mover kind ('' where none), when
        the sequence records them."""
        height, width = truth.shape[:2]
        field: np.ndarray = np.asarray(predicted, dtype=np.float64)
        if field.shape[:2] != (height, width):
            field = cv2.resize(field, (width, height), interpolation=cv2.INTER_NEAREST)
        field = field * scale
        truth = np.asarray(truth, dtype=np.float64)
        valid = valid & np.isfinite(field).all(-1) & np.isfinite(truth).all(-1)
        true_size = np.linalg.norm(truth, axis=-1)
        moving = valid & (true_size > MOVING_EPSILON)
        static = valid & ~moving
        flagged = valid & (np.linalg.norm(field, axis=-1) > threshold)
        self.pairs += 1
        self.flagged_and_moving += int((flagged & moving).sum())
        self.flagged_or_moving += int((flagged | moving).sum())
        self.moving += int(moving.sum())
        self.endpoint_error += float(np.linalg.norm(field - truth, axis=-1)[moving].sum())
        self.true_motion += float(true_size[moving].sum())
        self.static_flagged += int((flagged & static).sum())
        self.static += int(static.sum())
        if kinds is None:
            return
        error = np.linalg.norm(field - truth, axis=-1)
        for kind in np.unique(kinds[moving]):
            if not kind:
                continue
            mine = moving & (kinds == kind)
            domain = static | mine
            totals = self.by_kind.setdefault(str(kind), KindTotals())
            totals.moving += int(mine.sum())
            totals.flagged_and_moving += int((flagged & mine).sum())
            totals.flagged_or_moving += int(((flagged & domain) | mine).sum())
            totals.domain += int(domain.sum())
            totals.endpoint_error += float(error[mine].sum())
            totals.true_motion += float(true_size[mine].sum())

    def scores(self) -> ObjectMotionScores:
        """The three figures (a figure whose denominator is empty is left out), and the same per mover kind."""
        scores: ObjectMotionScores = {"pairs": float(self.pairs), "moving_pixels": float(self.moving)}
        if self.flagged_or_moving:
            scores["mover_iou"] = self.flagged_and_moving / self.flagged_or_moving
        if self.true_motion > 0:
            scores["relative_epe"] = self.endpoint_error / self.true_motion
        if self.static:
            scores["static_flagged"] = self.static_flagged / self.static
        if self.by_kind:
            scores["by_kind"] = {kind: totals.scores() for kind, totals in sorted(self.by_kind.items())}
        return scores


class MoverLabels:
    """Each pixel's mover kind in a rendered sequence folder (`movers/NNNNNN.png` and meta.yaml's table)."""

    def __init__(self, folder: Path, kinds: list[str]) -> None:
        self.folder = folder
        self.kinds = np.array([""] + kinds, dtype=object)    # PNG unit 0: no mover

    @classmethod
    def of_source(cls, source: object) -> MoverLabels | None:
        """The labels of a sequence-folder source that has them, else None (real data, bags, videos)."""
        folder = getattr(source, "folder", None)
        if folder is None or not (Path(folder) / "movers").is_dir():
            return None
        meta_path = Path(folder) / "meta.yaml"
        table = (yaml.safe_load(meta_path.read_text()) or {}).get("movers") if meta_path.is_file() else None
        if not table:
            return None
        kinds = {int(row["id"]): str(row["kind"]) for row in table}
        return cls(Path(folder), [kinds[i] for i in range(len(kinds))])

    def kinds_at(self, index: int) -> np.ndarray | None:
        """[H, W] kind names of frame `index` ('' where no mover); None when the frame has no label file."""
        path = self.folder / "movers" / f"{index:06d}.png"
        units = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if units is None:
            return None
        return self.kinds[np.minimum(units.astype(np.int64), len(self.kinds) - 1)]


def format_by_kind(scores: ObjectMotionScores) -> list[str]:
    """Report lines of the per-kind figures, each beside its trivial prior."""
    lines = []
    for kind, figures in scores.get("by_kind", {}).items():
        iou = figures.get("mover_iou", 0.0)
        epe = figures.get("relative_epe", float("nan"))
        lines.append(f"    {kind:<10} {int(figures['moving_pixels']):>8} px: mover IoU {iou:.4f} (flag all: "
                     f"{figures.get('mover_iou_flag_all', 0.0):.4f}), relative end-point error {epe:.4f} "
                     f"(zero field: 1)")
    if lines:
        lines.insert(0, "  by mover kind (static pixels flagged: flagging all gives 1, a zero field 0):")
    return lines
