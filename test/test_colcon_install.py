"""The package builds with colcon and installs what ROS tooling expects, where it expects it.

colcon comes from Debian (.ci/run installs it); the test is skipped where colcon is absent.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "depth_motion_ros"
EXECUTABLES = (
    "depth_motion_node",
    "depth_motion_infer",
    "depth_motion_demo",
    "depth_motion_train",
    "depth_motion_eval",
    "depth_motion_export",
    "depth_motion_synth",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("colcon") is None, reason="colcon is not installed"),
]


@pytest.fixture(scope="module")
def install_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the repository as a colcon workspace into a temporary install base (not --symlink-install)."""
    work = tmp_path_factory.mktemp("colcon")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    # colcon is a Debian program: run it with the system interpreter, as a ROS user's shell would.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    result = subprocess.run(
        [
            "colcon", "--log-base", str(work / "log"), "build",
            "--base-paths", str(REPO_ROOT),
            "--build-base", str(work / "build"),
            "--install-base", str(work / "install"),
            "--packages-select", PACKAGE,
            "--event-handlers", "console_direct-",
        ],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"colcon build failed:\n{result.stdout}\n{result.stderr}"
    return work / "install" / PACKAGE


def _site_packages(prefix: Path) -> Path:
    candidates = sorted(prefix.glob("lib/python3*/site-packages"))
    assert candidates, f"no site-packages under {prefix}"
    return candidates[0]


def test_marker_manifest_launch_and_config_are_installed(install_tree: Path) -> None:
    share = install_tree / "share" / PACKAGE
    assert (install_tree / "share/ament_index/resource_index/packages" / PACKAGE).is_file()
    assert (share / "package.xml").read_text().count(f"<name>{PACKAGE}</name>") == 1
    assert (share / "launch" / "node.launch.py").is_file()
    assert (share / "config" / "depth_motion.yaml").is_file()
    assert (share / "config" / "depth_motion.rviz").is_file()


def test_console_scripts_are_where_ros2_run_looks(install_tree: Path) -> None:
    lib = install_tree / "lib" / PACKAGE
    for name in EXECUTABLES:
        assert (lib / name).is_file(), f"{name} missing from {lib}"
        assert os.access(lib / name, os.X_OK)


def test_training_is_namespaced_not_a_top_level_package(install_tree: Path) -> None:
    site = _site_packages(install_tree)
    assert (site / PACKAGE / "training" / "__init__.py").is_file()
    assert (site / PACKAGE / "training" / "configs" / "light.yaml").is_file()
    assert not (site / "training").exists(), "a generic top-level 'training' package was installed"


def test_installed_package_imports_from_the_install_tree(install_tree: Path) -> None:
    site = _site_packages(install_tree)
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run(
        [sys.executable, "-c",
         "import depth_motion_ros, depth_motion_ros.training, depth_motion_ros.inference as i;"
         "print(depth_motion_ros.__file__)"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(site))
