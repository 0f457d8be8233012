# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both set everything up first (scripts/setup.sh, idempotent).
#
# DDS discovery stays on this machine for everything started from here; a private domain id keeps
# parallel runs apart. The node itself never forces these: robots need normal discovery.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 73
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint bench bench-gpu figures clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/depth_motion_demo $(ARGS)

test: setup
	$(PY) -m pytest -q $(ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(ARGS)

# Static checks (configured in ruff.toml and mypy.ini, pinned in requirements.txt).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy depth_motion_ros training scripts bench

# Speed and memory on this machine (minutes; run on an idle machine). Each benchmark writes its JSON to
# bench/results/<machine>/<date>/, then docs/performance.md (one table set per machine) and the README's
# figures table are regenerated from the newest results.
BENCH_OUT = bench/results/$(shell $(PY) scripts/render_performance.py --machine)/$(shell date -u +%F)
MODEL := models/default_light.pt
bench: setup
	mkdir -p $(BENCH_OUT)
	$(PY) bench/bench_models.py --checkpoint $(MODEL) --json $(BENCH_OUT)/models.json
	$(PY) bench/bench_node.py --checkpoint $(MODEL) --backend torch --json $(BENCH_OUT)/node_torch.json
	$(PY) bench/bench_node.py --checkpoint $(MODEL) --backend onnx --json $(BENCH_OUT)/node_onnx.json
	$(PY) bench/bench_node.py --checkpoint $(MODEL) --backend onnx --pose-refinement full --json $(BENCH_OUT)/node_onnx_full.json
	$(PY) bench/bench_training.py --json $(BENCH_OUT)/training.json
	$(PY) bench/bench_training.py --config rendered --size 128x256 --steps 10 --json $(BENCH_OUT)/training_rendered.json
	$(PY) bench/bench_delivery.py --json $(BENCH_OUT)/delivery.json
	$(PY) bench/bench_pose_refinement.py --json $(BENCH_OUT)/pose_refinement.json
	$(PY) bench/bench_rectification.py --json $(BENCH_OUT)/rectification.json
	$(PY) bench/bench_adaptation.py --json $(BENCH_OUT)/adaptation.json
	$(PY) scripts/render_performance.py
	$(PY) scripts/render_figures.py

# On a lent GPU machine (offline, under 10 minutes): the node with both backends and a short training with
# --device cuda; without a usable GPU it says why, runs on the CPU and exits with 3 (bench/bench_gpu.py).
bench-gpu: setup
	$(PY) bench/bench_gpu.py $(ARGS)

# The README's figures table, from the committed evaluation reports (docs/reports/) and benchmark results.
figures: setup
	$(PY) scripts/render_figures.py

clean:
	rm -rf build install log .pytest_cache
