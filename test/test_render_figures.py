"""`scripts/render_figures.py` and `scripts/render_performance.py`: the README's figures table and
docs/performance.md are the scripts' output for the committed reports, and the scripts read them right."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures():
    return _script("render_figures")


@pytest.fixture(scope="module")
def performance():
    return _script("render_performance")


def test_the_readme_figures_table_is_the_scripts_output_for_the_committed_reports(figures):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert figures.rewrite(text, figures.render()) == text


def test_docs_performance_is_the_scripts_output_for_the_committed_results(performance):
    assert (REPO / "docs" / "performance.md").read_text(encoding="utf-8") == performance.render()


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _models_row(ms_depth: float, ms_motion: float) -> dict:
    return {"model": "default_light", "backend": "onnx", "input": "96x160", "ms_depth_median": ms_depth,
            "ms_motion_median": ms_motion, "percent_of_peak_median": 20.0, "peak_gflops": 400.0}


def test_figures_come_from_the_reports_with_intervals_and_the_newest_bench_result(figures, tmp_path):
    reports, results = tmp_path / "reports", tmp_path / "bench" / "results"
    _write(reports / "kitti_odometry_03_641-800.json",
           {"snippet_ate": 0.0328, "snippet_ate_interval": {"interval": [0.0152, 0.0504], "batch": 39}})
    _write(results / "m1" / "2026-01-01" / "models.json", {"rows": [_models_row(10.0, 10.0)]})
    _write(results / "m1" / "2026-02-01" / "models.json", {"rows": [_models_row(5.0, 3.0)]})
    _write(results / "m1" / "2026-03-01" / "node_onnx.json", {"processed_fps_all_outputs": 29.94})
    rows = figures.render(reports, results).splitlines()
    assert rows[0] == figures.BEGIN and rows[-1] == figures.END
    assert rows[3:-1] == [
        "| KITTI 03 641-800 snippet ATE (m), network motion | 0.033 (0.015 to 0.050) | ≤ 0.10 | "
        "[kitti_odometry_03_641-800.json](docs/reports/kitti_odometry_03_641-800.json) |",
        "| bundled model, depth + motion (onnx) | 8.0 ms (125 frames/s) | ≥ 15 frames/s | `m1`, 2026-02-01 |",
        "| node, ONNX Runtime: frames/s of a 30 Hz camera, every output | 29.9 | – | `m1`, 2026-03-01 |"]


def test_rewrite_replaces_only_the_marked_block_and_refuses_a_readme_without_markers(figures):
    text = f"intro\n{figures.BEGIN}\nold\n{figures.END}\nrest\n"
    assert figures.rewrite(text, "NEW") == "intro\nNEW\nrest\n"
    with pytest.raises(ValueError):
        figures.rewrite("no markers", "NEW")


def test_performance_has_one_section_per_machine_with_each_benchmarks_newest_date(performance, tmp_path):
    results = tmp_path / "bench" / "results"
    _write(results / "gpu-box" / "2026-01-05" / "node_onnx.json",
           {"backend": "onnx", "pose_refinement": "none", "processed_fps_all_outputs": 30.0,
            "node_p50_arrival_to_depth_ms": 14.0, "latency_publish_to_depth_p50_ms": 28.5, "rss_growth_mb": 0.0})
    _write(results / "cpu-box" / "2026-01-01" / "pose_refinement.json",
           {"threads": 2, "rows": [{"sequence": "kitti", "mode": "full", "ms_median": 15.08, "ms_p90": 16.5}]})
    _write(results / "cpu-box" / "2026-01-03" / "pose_refinement.json",
           {"threads": 2, "rows": [{"sequence": "kitti", "mode": "full", "ms_median": 14.0, "ms_p90": 14.6}]})
    _write(results / "cpu-box" / "2026-01-03" / "something_new.json", {})
    _write(results / "cpu-box" / "2026-01-03" / "adaptation.json",  # one run, as bench_adaptation.py writes it
           {"step_ms_median": 189.8, "steps_per_s": 5.27, "add_frame_refined_ms_median": 30.6})
    (results / "one_off_20251201.json").write_text("{}")  # flat files are raw one-off results, not read
    text = performance.render(results)
    assert text.index("## `cpu-box`") < text.index("## `gpu-box`")
    assert "Measured 2026-01-03; raw: `bench/results/cpu-box/2026-01-03/pose_refinement.json`." in text
    assert "| kitti | full | 14.0 | 14.6 |" in text and "15.1" not in text
    assert "| onnx | none | off | 30.0 | 14 | 28 | 0.0 |" in text
    assert "| 1 | 189.8 | 5.27 | 30.6 |" in text
    assert "Results without a table here: `something_new.json`." in text


def test_the_machine_name_is_a_folder_name(performance):
    name = performance.machine_name()
    assert name and all(c.isalnum() or c == "-" for c in name) and name == name.lower()


def test_delivery_table_gives_the_share_of_frames_reaching_the_callback_and_the_load(performance, tmp_path):
    results = tmp_path / "bench" / "results"
    _write(results / "cpu-box" / "2026-01-05" / "delivery.json",
           {"frames_per_burst": 120, "rate_hz": 30.0, "backend": "torch", "net_core_rmem_max": 212992,
            "runs": [{"config": "shipped", "size": "1280x720", "publisher": "best_effort",
                      "subscription": "best_effort", "sent": 120, "received": 119, "share": 0.992,
                      "processed_hz": 16.25, "camera_shm_segment_mib": 16.8, "load_1min": [4.39, 4.52]}]})
    text = performance.render(results)
    assert "### Frames that arrive (`bench/bench_delivery.py`)" in text and "rmem_max 212992" in text
    assert "| `shipped` | 1280 x 720 | best_effort -> best_effort | 119 / 120 (99 %) | 16.2 | 16.8 | 4.4–4.5 |" in text
