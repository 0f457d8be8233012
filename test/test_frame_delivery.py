"""The shipped Fast DDS profile for large raw images (config/fastdds_large_frames.xml; docs/node.md, "Frames that
arrive"): it is valid, a process given the launch file's environment really loads it, and with it in the camera's
process a burst of best-effort 1280x720 frames reaches the node's image callback; without it, the images the
middleware loses are reported on /diagnostics.

The camera is bench/bench_delivery.py's camera process (one path for publishing a burst and counting what the
node's callback received, from the node's own "received in this period" on /diagnostics); the node runs here,
over real DDS, with Fast DDS as installed: the profile matters in the process that sends (Fast DDS writes a
sample into the sender's shared memory segment).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from depth_motion_ros.node_support.launch_arguments import LARGE_FRAMES_PROFILE, middleware_environment

from node_harness import checkpoint, harness_factory  # noqa: F401 (fixtures)

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE = REPO_ROOT / LARGE_FRAMES_PROFILE
BENCH = REPO_ROOT / "bench" / "bench_delivery.py"
NS = {"dds": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
FULL_HD_RGB8 = 1920 * 1080 * 3


def test_profile_is_the_default_participant_profile_with_shared_memory_for_large_frames():
    root = ElementTree.parse(PROFILE).getroot()
    descriptors = {d.findtext("dds:transport_id", namespaces=NS): d
                   for d in root.iterfind("dds:profiles/dds:transport_descriptors/dds:transport_descriptor", NS)}
    (participant,) = [p for p in root.iterfind("dds:profiles/dds:participant", NS)
                      if p.get("is_default_profile") == "true"]
    assert participant.findtext("dds:rtps/dds:useBuiltinTransports", namespaces=NS) == "false"
    used = {descriptors[t.text].findtext("dds:type", namespaces=NS): descriptors[t.text]
            for t in participant.iterfind("dds:rtps/dds:userTransports/dds:transport_id", NS)}
    # Shared memory on this host, UDP for discovery and for other hosts: nothing that worked before is lost.
    assert sorted(used) == ["SHM", "UDPv4"]
    assert int(used["SHM"].findtext("dds:segment_size", namespaces=NS)) >= 2 * FULL_HD_RGB8


def burst_from_a_camera_process(frames: int, environment: dict[str, str]) -> dict:
    """`frames` best-effort 1280x720 frames at 30 Hz from bench_delivery.py's camera, in a process with
    `environment` added; what the node's callback received (its /diagnostics) and the camera's segment."""
    plan = {"runs": [[1280, 720, "best_effort"]], "frames": frames, "rate": 30.0}
    camera = subprocess.run([sys.executable, str(BENCH), "--camera-plan", json.dumps(plan)],
                            env=dict(os.environ, **environment), capture_output=True, text=True, timeout=120)
    assert camera.returncode == 0, camera.stderr[-3000:]
    return dict(json.loads(camera.stdout.strip().splitlines()[-1]))


def test_a_burst_of_large_frames_reaches_the_node_with_the_shipped_profile(harness_factory):  # noqa: F811
    # The executor depth_motion_node spins: a multi-threaded one takes fewer of a camera's frames.
    harness_factory(single_threaded=True, diagnostics_period=0.25)
    result = burst_from_a_camera_process(60, middleware_environment(PROFILE))
    assert result["camera_shm_segment_mib"] >= 16  # the camera process loaded the profile (default: 0.5)
    assert result["sent"] == 60 and result["received"] >= 57, result


def test_images_the_middleware_loses_are_reported_on_diagnostics(harness_factory):  # noqa: F811
    """Without the profile Fast DDS loses such frames (its 512 KiB segment holds a fifth of one); the node
    says so on /diagnostics, from the subscription's sample-lost status, instead of only a STALE period."""
    h = harness_factory(single_threaded=True, diagnostics_period=0.25)
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    result = burst_from_a_camera_process(30, {})
    assert result["camera_shm_segment_mib"] < 1 and result["received"] < result["sent"], result
    statuses = [status for msg in list(diagnostics.messages) for status in msg.status]
    lost = sum(int({v.key: v.value for v in s.values}["lost by the middleware in this period"]) for s in statuses)
    assert lost > 0
    assert any(s.level in (DiagnosticStatus.WARN, DiagnosticStatus.STALE) and "the middleware lost" in s.message
               for s in statuses)
