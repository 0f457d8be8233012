"""bench/bench_gpu.py, the GPU run, on this CPU-only machine: it says why it cannot use a GPU, and its dry run
(the CPU fallback at the smallest sizes) runs every step and writes its report."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_gpu.py"


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.version.cuda is not None, reason="the answer of a CPU-only torch build")
def test_a_cpu_only_torch_is_named_as_the_reason_for_the_cpu_fallback():
    found = _bench_gpu().probe_environment()
    assert found["device"] == "cpu" and found["torch_cuda_build"] is None and not found["torch_sees_gpu"]
    assert found["problems"][0].startswith(f"torch {torch.__version__} is a CPU-only build")


@pytest.mark.slow
@pytest.mark.ros
def test_the_dry_run_runs_every_step_on_the_cpu_and_writes_json_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the node's ONNX export goes here
    assert _bench_gpu().main(["--dry-run", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert report["mode"] == "dry run (CPU fallback)" and report["environment"]["device"] == "cpu"
    steps = report["steps"]
    assert list(steps) == ["node_torch", "node_auto", "training_throughput", "render_world", "train"]
    assert all(step["status"] == "ok" for step in steps.values()), {k: v.get("tail") for k, v in steps.items()}
    assert steps["node_torch"]["result"]["node_model"].endswith("torch on cpu, input '/image'")
    assert "onnx on CPUExecutionProvider" in steps["node_auto"]["result"]["node_model"]
    assert steps["train"]["final"].startswith("step 2; val loss/total: ")
    assert [r["recipe"] for r in steps["training_throughput"]["result"]["results"]] == ["light", "paper"]
    summary = (tmp_path / "out" / "gpu.md").read_text()
    assert "| node_auto | ok |" in summary and "| train | ok |" in summary
    if torch.version.cuda is None:
        assert "**Not a GPU run: every step ran on the CPU.** torch" in summary
