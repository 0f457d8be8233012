"""Shared test set-up.

DDS discovery must stay on this machine: the variables are set here, before any test module imports
rclpy, and are inherited by every child process a test starts. A private domain id (derived from the
process id unless the caller chose one) keeps concurrent test runs from seeing each other's topics.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    """The real recordings: $DEPTH_MOTION_DATA, else ../shared/data beside the repository."""
    configured = os.environ.get("DEPTH_MOTION_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real data folder; the test is skipped cleanly when it is absent."""
    path = _shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"real data not found at {path}")
    return path


@dataclass(frozen=True)
class ColconInstall:
    """A colcon install tree of this package: its prefix and the site-packages that holds the code."""

    prefix: Path
    site_packages: Path

    def python_env(self) -> dict[str, str]:
        """Environment in which Python imports the package from the install tree (as `source setup.bash` does)."""
        return dict(os.environ, PYTHONPATH=str(self.site_packages))


@pytest.fixture(scope="session")
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> ColconInstall:
    """Build the repository with colcon (not --symlink-install) once per test session.

    colcon is a Debian program (.ci/run installs it); it runs with the system interpreter, outside the venv,
    as in a ROS user's shell. Skipped where colcon is absent.
    """
    if shutil.which("colcon") is None:
        pytest.skip("colcon is not installed")
    work = tmp_path_factory.mktemp("colcon")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    result = subprocess.run(
        ["colcon", "--log-base", str(work / "log"), "build", "--base-paths", str(REPO_ROOT),
         "--build-base", str(work / "build"), "--install-base", str(work / "install"),
         "--packages-select", "depth_motion_ros", "--event-handlers", "console_direct-"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"colcon build failed:\n{result.stdout}\n{result.stderr}"
    prefix = work / "install" / "depth_motion_ros"
    site = sorted(prefix.glob("lib/python3*/site-packages"))
    assert site, f"no site-packages under {prefix}"
    return ColconInstall(prefix=prefix, site_packages=site[0])
