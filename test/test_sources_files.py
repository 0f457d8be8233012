"""Video, image-folder and sequence-folder sources, frame ranges and pose helpers, on small generated files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_motion_ros.sources import FrameRange, SourceError, open_source
from depth_motion_ros.sources.poses import PoseTrack, read_tum, write_tum
from depth_motion_ros.transforms import matrix_to_quaternion, pose_matrix, quaternion_to_matrix


def _grey_levels(count: int) -> list[int]:
    return [20 + 30 * i for i in range(count)]


def test_video_source_decodes_every_frame_with_range(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (32, 24))
    assert writer.isOpened()
    for level in _grey_levels(6):
        writer.write(np.full((24, 32, 3), (level, level // 2, 255 - level), dtype=np.uint8))  # BGR
    writer.release()
    source = open_source("video", str(path))
    assert source.rate_hz == pytest.approx(20.0) and len(source) == 6 and source.name == "clip"
    frames = list(source)
    assert [f.index for f in frames] == list(range(6))
    for frame, level in zip(frames, _grey_levels(6), strict=True):
        assert frame.rgb.shape == (24, 32, 3)
        assert frame.rgb[..., 0].mean() == pytest.approx(255 - level, abs=3), "red channel first (RGB)"
        assert frame.rgb[..., 2].mean() == pytest.approx(level, abs=3)
        assert frame.timestamp == pytest.approx(frame.index / 20.0)
    selected = open_source("video", str(path), start=1, end=5, stride=2)
    assert len(selected) == 2 and [f.index for f in selected] == [1, 3]


def test_image_folder_is_naturally_sorted_and_ranged(tmp_path: Path) -> None:
    for number, level in zip((1, 2, 10, 11), _grey_levels(4), strict=True):
        cv2.imwrite(str(tmp_path / f"frame{number}.png"), np.full((8, 10, 3), level, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    K = np.array([[10.0, 0, 5], [0, 10, 4], [0, 0, 1]])
    source = open_source("images", str(tmp_path), intrinsics=K, rate_hz=5.0)
    assert [p.name for p in source.files] == ["frame1.png", "frame2.png", "frame10.png", "frame11.png"]
    frames = list(source)
    assert [int(f.rgb.mean()) for f in frames] == _grey_levels(4)
    assert frames[3].timestamp == pytest.approx(0.6) and np.array_equal(frames[0].intrinsics, K)
    assert [f.index for f in open_source("images", str(tmp_path), start=2)] == [2, 3]


def test_missing_inputs_and_bad_kinds_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no image files"):
        open_source("images", str(tmp_path))
    with pytest.raises(SourceError, match="not a sequence folder"):
        open_source("sequence", str(tmp_path))
    with pytest.raises(ValueError, match="unknown source kind"):
        open_source("camera", str(tmp_path))
    with pytest.raises(ValueError, match="bags only"):
        open_source("images", str(tmp_path), topic="/x")


@pytest.fixture
def small_sequence(tmp_path: Path) -> Path:
    """3 frames; depth for frames 0 and 2 only (mm, 0 = no measurement); poses moving 0.5 m in z per frame."""
    for sub in ("rgb", "depth"):
        (tmp_path / sub).mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "rgb" / f"{i:06d}.png"), np.full((6, 8, 3), 50 * i, dtype=np.uint8))
    depth = np.full((6, 8), 1500, dtype=np.uint16)
    depth[0, 0] = 0
    for i in (0, 2):
        cv2.imwrite(str(tmp_path / "depth" / f"{i:06d}.png"), depth)
    times = [0.0, 0.1, 0.2]
    (tmp_path / "times.txt").write_text("".join(f"{t:.6f}\n" for t in times))
    write_tum(tmp_path / "poses.txt", times, [pose_matrix((0, 0, 0.5 * i), (0, 0, 0, 1)) for i in range(3)])
    (tmp_path / "meta.yaml").write_text("name: tiny\nintrinsics: null\ndepth_scale: 1000.0\nrate_hz: 10.0\n")
    return tmp_path


def test_sequence_folder_attaches_depth_poses_and_meta(small_sequence: Path) -> None:
    source = open_source("sequence", str(small_sequence))
    assert source.name == "tiny" and source.intrinsics is None and source.rate_hz == 10.0
    frames = list(source)
    assert frames[1].depth is None, "no depth file for frame 1"
    depth = frames[2].depth
    assert depth.dtype == np.float32 and np.isnan(depth[0, 0]) and np.allclose(depth[1:], 1.5)
    assert [f.pose[2, 3] for f in frames] == pytest.approx([0.0, 0.5, 1.0])
    assert frames[2].timestamp == pytest.approx(0.2)


def test_real_sequence_validation_range(shared_data: Path) -> None:
    source = open_source("sequence", str(shared_data / "7scenes_redkitchen"), start=800, end=1000, stride=50)
    frames = list(source)
    assert len(source) == 4 and [f.index for f in frames] == [800, 850, 900, 950]
    assert all(f.depth is not None and f.pose is not None for f in frames)
    assert np.allclose(frames[0].intrinsics, [[292.5, 0, 160], [0, 292.5, 120], [0, 0, 1]])
    assert 0.5 < np.nanmedian(frames[0].depth) < 5.0


def test_frame_range_semantics() -> None:
    selected = FrameRange(2, 9, 3)
    assert [i for i in range(12) if selected.contains(i)] == [2, 5, 8]
    assert selected.count(12) == 3 and selected.count(6) == 2
    assert selected.is_past(9) and not selected.is_past(8)
    with pytest.raises(ValueError):
        FrameRange(5, 2)
    with pytest.raises(ValueError):
        FrameRange(stride=0)


def test_quaternions_round_trip_and_match_a_known_rotation() -> None:
    half = np.sqrt(0.5)
    assert np.allclose(quaternion_to_matrix(0, 0, half, half), [[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = q if q[3] >= 0 else -q
        assert np.allclose(matrix_to_quaternion(quaternion_to_matrix(*q)), q, atol=1e-9)


def test_tum_files_round_trip(tmp_path: Path) -> None:
    poses = [pose_matrix((1, 2, 3), (0, 0, np.sin(0.2), np.cos(0.2))), np.eye(4)]
    write_tum(tmp_path / "t.txt", [0.5, 1.0], poses)
    times, read = read_tum(tmp_path / "t.txt")
    assert times.tolist() == [0.5, 1.0] and np.allclose(read, poses, atol=1e-8)


def test_pose_track_interpolates_and_refuses_to_extrapolate() -> None:
    turn = pose_matrix((2, 0, 0), (0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)))  # 90 degrees about z
    track = PoseTrack([0.0, 1.0], [np.eye(4), turn], tolerance=0.1)
    middle = track.at(0.5)
    assert np.allclose(middle[:3, 3], [1, 0, 0])
    assert np.allclose(middle[:3, :3], quaternion_to_matrix(0, 0, np.sin(np.pi / 8), np.cos(np.pi / 8)))
    assert np.array_equal(track.at(1.0), turn) and np.array_equal(track.at(1.05), turn)
    assert track.at(1.2) is None and track.at(-0.2) is None
