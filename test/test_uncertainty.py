"""Intervals of sequence figures (evaluation/uncertainty.py) and the comparison of two reports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depth_motion_ros.evaluation import evaluate_predictions
from depth_motion_ros.evaluation.comparison import compare_reports, format_comparison
from depth_motion_ros.evaluation.eval_cli import main
from depth_motion_ros.evaluation.uncertainty import (
    batch_length,
    decorrelation_lag,
    interval_of_mean,
    paired_differences,
    student_t_975,
)


def autoregressive(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """A stationary AR(1) series with zero mean and unit variance: scores that stay alike for ~1/(1-rho) frames."""
    x = np.empty(n)
    x[0] = rng.normal()
    noise = rng.normal(scale=np.sqrt(1 - rho ** 2), size=n)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + noise[i]
    return x


def test_student_t_quantiles_match_the_tables() -> None:
    for df, quantile in ((1, 12.706), (4, 2.776), (30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980)):
        assert student_t_975(df) == pytest.approx(quantile, abs=1.5e-3)
    with pytest.raises(ValueError):
        student_t_975(0)


def test_decorrelation_lag_is_one_for_white_noise_and_follows_the_correlation_time() -> None:
    rng = np.random.default_rng(1)
    assert decorrelation_lag(rng.normal(size=400)) <= 2
    # AR(1) with rho = 0.9: the autocorrelation 0.9^k falls below 2 / sqrt(400) = 0.1 at k = 22.
    lags = [decorrelation_lag(autoregressive(rng, 400, 0.9)) for _ in range(20)]
    assert 10 <= np.median(lags) <= 30
    assert decorrelation_lag([0.3] * 50) == 1 and decorrelation_lag([1.0, 2.0, 3.0]) == 1
    assert decorrelation_lag(np.arange(40.0)) == 10, "a trend never decorrelates: capped at n / 4"
    assert batch_length(np.arange(40.0)) == 10, "at least four batches"
    assert batch_length(rng.normal(size=400)) <= 6


def test_independent_scores_get_the_textbook_interval() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(loc=3.0, scale=2.0, size=500)
    summary = interval_of_mean(values)
    low, high = summary["interval"]
    standard_error = values.std(ddof=1) / np.sqrt(len(values))
    assert summary["mean"] == pytest.approx(values.mean()) and low < summary["mean"] < high
    assert (high - low) / 2 == pytest.approx(1.96 * standard_error, rel=0.15)


def test_constant_scores_have_a_zero_width_interval_and_one_value_or_a_nan_has_none() -> None:
    assert interval_of_mean([0.25] * 30)["interval"] == pytest.approx([0.25, 0.25])
    with pytest.raises(ValueError):
        interval_of_mean([0.25])
    with pytest.raises(ValueError, match="NaN"):
        interval_of_mean([0.25, float("nan"), 0.3])


@pytest.mark.parametrize("rho", [0.0, 0.8, 0.95])
def test_intervals_hold_the_true_mean_of_correlated_frames(rho: float) -> None:
    """Over 300 simulated recordings of 200 frames (AR(1) scores, true mean 0), the 95 % intervals hold the
    mean at least 85 % of the time; intervals that treat the frames as independent do not at rho >= 0.8."""
    rng = np.random.default_rng(3)
    covered = covered_naive = 0
    trials = 300
    for _ in range(trials):
        series = autoregressive(rng, 200, rho)
        low, high = interval_of_mean(series)["interval"]
        covered += low <= 0.0 <= high
        half_width = 1.96 * series.std(ddof=1) / np.sqrt(len(series))
        covered_naive += abs(series.mean()) <= half_width
    assert covered / trials >= 0.85
    if rho >= 0.8:
        assert covered_naive / trials <= 0.6


def test_paired_differences_match_frames_and_see_a_shift_that_separate_intervals_cannot() -> None:
    rng = np.random.default_rng(5)
    shared = 0.2 + 0.05 * autoregressive(rng, 200, 0.9)  # what makes a frame hard, common to both predictors
    model = [{"frame": 800 + i, "abs_rel": v - 0.01 + 0.002 * rng.normal()} for i, v in enumerate(shared)]
    prior = [{"frame": 800 + i, "abs_rel": v} for i, v in enumerate(shared)]
    model_interval, prior_interval = (interval_of_mean([row["abs_rel"] for row in rows])["interval"]
                                      for rows in (model, prior))
    assert model_interval[1] > prior_interval[0], "on their own, the two intervals overlap"
    result = paired_differences(model, prior[::-1], ("abs_rel",))["abs_rel"]  # order of the reference is free
    assert result["images"] == 200 and result["difference"] == pytest.approx(-0.01, abs=1e-3)
    assert result["interval"][1] < 0.0, "paired, the model is clearly lower"
    assert result["lower_share"] > 0.99
    assert paired_differences(model[:50], prior[25:], ("abs_rel",))["abs_rel"]["images"] == 25
    with pytest.raises(ValueError, match="share 1 frame"):
        paired_differences(model[:10], prior[9:], ("abs_rel",))
    with pytest.raises(ValueError, match="same frame twice"):
        paired_differences(model[:10] + model[:1], prior, ("abs_rel",))


def _report(depth_scale: float, seed: int, source: str = "seq") -> dict:
    rng = np.random.default_rng(seed)
    gt = [rng.uniform(1, 5, size=(6, 8)) for _ in range(12)]
    pred = [d * rng.uniform(1 - depth_scale, 1 + depth_scale, size=d.shape) for d in gt]
    gt_poses = [np.eye(4) for _ in gt]
    for k, pose in enumerate(gt_poses):
        pose[:3, 3] = [0.0, 0.0, 0.5 * k]
    pred_poses = np.stack(gt_poses).copy()
    pred_poses[:, 0, 3] += rng.normal(scale=depth_scale, size=len(gt))
    report = evaluate_predictions(pred, gt, pred_poses, gt_poses).to_dict()
    return {"subject": f"scale {depth_scale}", "source": source, **report}


def test_reports_carry_per_frame_scores_and_intervals() -> None:
    report = _report(0.2, 6)
    assert [row["frame"] for row in report["per_image_depth"]] == list(range(12))
    assert np.mean([row["abs_rel"] for row in report["per_image_depth"]]) == pytest.approx(report["depth"]["abs_rel"])
    low, high = report["depth_intervals"]["abs_rel"]["interval"]
    assert low <= report["depth"]["abs_rel"] <= high
    assert [row["frame"] for row in report["per_snippet_ate"]] == list(range(8))
    low, high = report["snippet_ate_interval"]["interval"]
    assert low <= report["snippet_ate"] <= high


def test_float_noise_between_backends_is_reported_as_no_difference() -> None:
    report = _report(0.2, 6)
    noisy = {**report, "per_image_depth": [{**row, "abs_rel": row["abs_rel"] + 1e-9}
                                           for row in report["per_image_depth"]]}
    text = format_comparison(compare_reports(noisy, report))
    assert "+0.0000 (+0.0000 to +0.0000)" in text and "the same to 4 decimals" in text


def test_compare_reports_checks_source_and_protocol() -> None:
    worse, better = _report(0.3, 7), _report(0.05, 7)
    comparison = compare_reports(better, worse)
    assert comparison["reference"] == "scale 0.3"
    assert comparison["depth"]["abs_rel"]["interval"][1] < 0.0
    assert comparison["snippet_ate"]["interval"][1] < 0.0
    assert "abs_rel" in format_comparison(comparison) and ": lower" in format_comparison(comparison)
    with pytest.raises(ValueError, match="differ in source"):
        compare_reports(better, _report(0.3, 7, source="other"))
    changed = {**worse, "settings": {**worse["settings"], "max_depth": 10.0}}
    with pytest.raises(ValueError, match="max_depth"):
        compare_reports(better, changed)
    older = {key: value for key, value in worse.items() if key not in ("per_image_depth", "per_snippet_ate")}
    with pytest.raises(ValueError, match="older version"):
        compare_reports(better, older)
    with pytest.raises(ValueError, match="not a depth_motion_eval"):
        compare_reports(better, [1, 2])


def test_eval_cli_compares_with_an_earlier_report(shared_data: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    kitchen = ["--sequence", str(shared_data / "7scenes_redkitchen"), "--start", "800", "--end", "860",
               "--max-depth", "10"]
    constant = tmp_path / "constant.json"
    assert main(["--baseline", "constant", *kitchen, "--json", str(constant)]) == 0
    ramp = tmp_path / "ramp.json"
    assert main(["--baseline", "ramp", *kitchen, "--json", str(ramp), "--compare-to", str(constant)]) == 0
    comparison = json.loads(ramp.read_text())["comparison"]
    assert comparison["reference"] == "baseline 'constant'" and comparison["depth"]["abs_rel"]["images"] == 60
    assert comparison["depth"]["abs_rel"]["interval"][1] < 0.0, "the ramp beats a constant on these frames"
    assert "against baseline 'constant'" in capsys.readouterr().out
    # A different protocol or frame step is refused before anything is evaluated.
    outdoor = ["--baseline", "ramp", "--sequence", str(shared_data / "7scenes_redkitchen"), "--end", "60",
               "--compare-to", str(constant)]
    assert main(outdoor) == 2 and "max_depth" in capsys.readouterr().err
    assert main([*outdoor[:-1], str(tmp_path / "missing.json")]) == 2
    assert main(["--baseline", "ramp", *kitchen, "--stride", "2", "--compare-to", str(constant)]) == 2
    assert "stride" in capsys.readouterr().err
    # Frames that do not overlap are found only after the evaluation, whose figures are still written.
    later = tmp_path / "later.json"
    assert main(["--baseline", "ramp", *kitchen[:2], "--start", "900", "--end", "960", "--max-depth", "10",
                 "--json", str(later), "--compare-to", str(constant)]) == 2
    assert "share 0 frame" in capsys.readouterr().err and json.loads(later.read_text())["depth_images"] == 60
