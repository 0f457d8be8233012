# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both set everything up first (scripts/setup.sh, idempotent).
#
# DDS discovery stays on this machine for everything started from here; a private domain id keeps
# parallel runs apart. The node itself never forces these: robots need normal discovery.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 73
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/depth_motion_demo $(ARGS)

test: setup
	$(PY) -m pytest -q $(ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(ARGS)

# Speed and memory on this machine: the scripts behind the README's figures (minutes; run on an idle machine).
bench: setup
	$(PY) bench/bench_models.py
	$(PY) bench/bench_node.py
	$(PY) bench/bench_training.py
	$(PY) bench/bench_pose_refinement.py
	$(PY) bench/bench_rectification.py
	$(PY) bench/bench_adaptation.py

clean:
	rm -rf build install log .pytest_cache
