"""Two evaluation reports on the same frames, compared image by image and snippet by snippet.

"Is this checkpoint better than the ramp prior, or than the last one?" is a question about the per-frame
differences, not about two averages: on one recording most of the variation between frames is shared by
every predictor, so the interval of the mean difference is far narrower than either report's own interval.
"""
from __future__ import annotations

from collections.abc import Mapping

from depth_motion_ros.evaluation.metrics import DEPTH_METRIC_NAMES
from depth_motion_ros.evaluation.uncertainty import paired_differences

#: Below this many paired frames the intervals can be too narrow on strongly correlated frames (on simulated
#: scores correlated 0.95 from frame to frame, 60 frames held the true mean in 76 % of cases).
SHORT_RECORDING = 60
#: Settings that must match for two reports' scores to be comparable.
_PROTOCOL_KEYS = ("min_depth", "max_depth", "crop", "median_scaling", "snippet_length")
#: What must match outside the settings: the same recording, topic and frame step (a snippet keyed by its
#: first frame spans other frames at another stride).
_SOURCE_KEYS = ("source", "topic", "stride")


def check_comparable(report: Mapping, reference: Mapping) -> None:
    """Raise ValueError unless the two reports (or a report and the header of one about to be made) were
    measured on the same source, topic and stride with the same protocol."""
    if not isinstance(reference, Mapping) or "settings" not in reference:
        raise ValueError("the reference is not a depth_motion_eval --json report (no 'settings')")
    for key in _SOURCE_KEYS:
        if report.get(key) != reference.get(key):
            raise ValueError(f"the reports differ in {key}: {report.get(key)!r} against {reference.get(key)!r}")
    for key in _PROTOCOL_KEYS:
        mine, theirs = report["settings"].get(key), reference["settings"].get(key)
        if mine != theirs:
            raise ValueError(f"the reports used different protocols: {key} {mine} against {theirs}")


def compare_reports(report: Mapping, reference: Mapping) -> dict:
    """Mean differences `report - reference` with 95 % intervals, from two `depth_motion_eval` JSON reports.

    Returns `{"reference": its subject, "depth": {metric: {...}}, "snippet_ate": {...}}`, with a part only
    where both reports have those scores. Raises ValueError when `check_comparable` does, or when they share
    no scored frame.
    """
    check_comparable(report, reference)
    if not (reference.get("per_image_depth") or reference.get("per_snippet_ate")):
        raise ValueError("the reference has no per-frame scores: it was written by an older version or scored "
                         "nothing; run depth_motion_eval --json on it again")
    comparison: dict = {"reference": reference.get("subject", "reference")}
    if report.get("per_image_depth") and reference.get("per_image_depth"):
        comparison["depth"] = paired_differences(report["per_image_depth"], reference["per_image_depth"],
                                                 DEPTH_METRIC_NAMES)
    if report.get("per_snippet_ate") and reference.get("per_snippet_ate"):
        comparison["snippet_ate"] = paired_differences(report["per_snippet_ate"], reference["per_snippet_ate"],
                                                       ("ate",))["ate"]
    if len(comparison) == 1:
        raise ValueError("the reports have no kind of score in common (depth or snippet ATE)")
    return comparison


#: The differences are printed with 4 decimals; an interval inside half of that is no difference to report.
PRINTED_RESOLUTION = 1e-4


def format_comparison(comparison: Mapping) -> str:
    """Terminal lines: each difference with its interval, whether the interval excludes zero, and on what
    share of the frames this report's score is the lower one."""
    lines = [f"against {comparison['reference']} (this minus that; 95% interval of the mean difference):"]
    entries = [*comparison.get("depth", {}).values(), *([comparison["snippet_ate"]] if "snippet_ate" in comparison
                                                         else [])]
    if any(entry["images"] < SHORT_RECORDING for entry in entries):
        lines.append(f"  (fewer than {SHORT_RECORDING} frames: if they are strongly correlated the intervals are too "
                     "narrow, docs/data-and-evaluation.md)")

    def line(name: str, entry: Mapping, unit: str) -> str:
        low, high = entry["interval"]
        if max(abs(low), abs(high)) < PRINTED_RESOLUTION / 2:  # e.g. the torch and ONNX backends' float noise
            verdict = "the same to 4 decimals"
        else:
            verdict = "lower" if high < 0 else "higher" if low > 0 else "interval includes 0"
        return (f"  {name:>11} {entry['difference']:+.4f} ({low:+.4f} to {high:+.4f}) over {entry['images']} "
                f"{unit}, batches of {entry['batch']}: {verdict}; lower on {100 * entry['lower_share']:.0f}%")

    for name, entry in comparison.get("depth", {}).items():
        lines.append(line(name, entry, "images"))
    if "snippet_ate" in comparison:
        lines.append(line("snippet ATE", comparison["snippet_ate"], "snippets"))
    return "\n".join(lines)
