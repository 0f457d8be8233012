"""Shared test set-up.

DDS discovery must stay on this machine: the variables are set here, before any test module imports
rclpy, and are inherited by every child process a test starts. A private domain id (derived from the
process id unless the caller chose one) keeps concurrent test runs from seeing each other's topics.
"""
from __future__ import annotations

import os
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
