"""The package builds with colcon and installs what ROS tooling expects, where it expects it.

The build itself is the session fixture `colcon_install` (test/conftest.py); the installed node executable is
run for real in test_node_executable.py.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

PACKAGE = "depth_motion_ros"
EXECUTABLES = (
    "depth_motion_node",
    "depth_motion_lifecycle_node",
    "depth_motion_infer",
    "depth_motion_demo",
    "depth_motion_train",
    "depth_motion_eval",
    "depth_motion_export",
    "depth_motion_synth",
)

pytestmark = pytest.mark.slow


def test_marker_manifest_launch_and_config_are_installed(colcon_install) -> None:
    prefix = colcon_install.prefix
    share = prefix / "share" / PACKAGE
    assert (prefix / "share/ament_index/resource_index/packages" / PACKAGE).is_file()
    assert (share / "package.xml").read_text().count(f"<name>{PACKAGE}</name>") == 1
    assert (share / "launch" / "node.launch.py").is_file()
    assert (share / "config" / "depth_motion.yaml").is_file()
    assert (share / "config" / "depth_motion.rviz").is_file()
    assert (share / "config" / "fastdds_large_frames.xml").is_file()


def test_console_scripts_are_where_ros2_run_looks(colcon_install) -> None:
    lib = colcon_install.prefix / "lib" / PACKAGE
    for name in EXECUTABLES:
        assert (lib / name).is_file(), f"{name} missing from {lib}"
        assert os.access(lib / name, os.X_OK)
        # The python3 on PATH (an active venv with PyTorch), not the interpreter that ran colcon.
        assert (lib / name).read_text().splitlines()[0] == "#!/usr/bin/env python3"


def test_training_is_namespaced_not_a_top_level_package(colcon_install) -> None:
    site = colcon_install.site_packages
    assert (site / PACKAGE / "training" / "__init__.py").is_file()
    assert (site / PACKAGE / "training" / "configs" / "light.yaml").is_file()
    assert not (site / "training").exists(), "a generic top-level 'training' package was installed"


def test_installed_package_imports_from_the_install_tree(colcon_install, tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-c",
         "import depth_motion_ros, depth_motion_ros.training, depth_motion_ros.predictors, depth_motion_ros.stream, "
         "depth_motion_ros.node_support.latest_slot;"
         "print(depth_motion_ros.__file__)"],
        env=colcon_install.python_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(colcon_install.site_packages))
