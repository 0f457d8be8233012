"""Two evaluation reports on the same frames, compared image by image and snippet by snippet.

"Is this checkpoint better than the ramp prior, or than the last one?" is a question about the per-frame
differences, not about two averages: on one recording most of the variation between frames is shared by
every predictor, so the interval of the mean difference is far narrower than either report's own interval.
"""
from __future__ import annotations

from collections.abc import Mapping

from depth_motion_ros.evaluation.metrics import DEPTH_METRIC_NAMES
from depth_motion_ros.evaluation.uncertainty import paired_differences

#: Settings that must match for two reports' scores to be comparable.
_PROTOCOL_KEYS = ("min_depth", "max_depth", "crop", "median_scaling", "snippet_length")


def compare_reports(report: Mapping, reference: Mapping) -> dict:
    """Mean differences `report - reference` with 95 % intervals, from two `depth_motion_eval` JSON reports.

    Returns `{"reference": its subject, "depth": {metric: {...}}, "snippet_ate": {...}}`, with a part only
    where both reports have those scores. Raises ValueError when the reports used different sources or
    protocols, or share no scored frame.
    """
    if report.get("source") != reference.get("source"):
        raise ValueError(f"the reports are on different sources: '{report.get('source')}' and "
                         f"'{reference.get('source')}'")
    for key in _PROTOCOL_KEYS:
        mine, theirs = report["settings"].get(key), reference["settings"].get(key)
        if mine != theirs:
            raise ValueError(f"the reports used different protocols: {key} {mine} against {theirs}")
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


def format_comparison(comparison: Mapping) -> str:
    """Terminal lines: each difference with its interval, whether the interval excludes zero, and on what
    share of the frames this report's score is the lower one."""
    lines = [f"against {comparison['reference']} (this minus that; 95% interval of the mean difference):"]

    def line(name: str, entry: Mapping, unit: str) -> str:
        low, high = entry["interval"]
        verdict = "lower" if high < 0 else "higher" if low > 0 else "interval includes 0"
        return (f"  {name:>11} {entry['difference']:+.4f} ({low:+.4f} to {high:+.4f}) over {entry['images']} "
                f"{unit}, batches of {entry['batch']}: {verdict}; lower on {100 * entry['lower_share']:.0f}%")

    for name, entry in comparison.get("depth", {}).items():
        lines.append(line(name, entry, "images"))
    if "snippet_ate" in comparison:
        lines.append(line("snippet ATE", comparison["snippet_ate"], "snippets"))
    return "\n".join(lines)
