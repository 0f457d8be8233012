"""Frame cache, pairs, static-pair filter, time split and augmentation (training/data.py, augment.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_motion_ros.sources.frame import Frame
from depth_motion_ros.training.augment import AugmentConfig, augment_pair, crop_resize_flip, resize_pair
from depth_motion_ros.training.data import (
    CACHE_FORMAT,
    DataConfig,
    FrameCache,
    PairDataset,
    SourceSpec,
    build_pair_indices,
    drop_static_pairs,
    epoch_batches,
    make_pairs,
    split_index,
)

K = np.array([[100.0, 0.0, 79.5], [0.0, 90.0, 59.5], [0.0, 0.0, 1.0]])


def _frames(count: int, height: int = 120, width: int = 160, static_from: int | None = None) -> list[Frame]:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(count):
        source = i if static_from is None else min(i, static_from)
        rgb = np.full((height, width, 3), (source * 37) % 256, dtype=np.uint8)
        rgb[:, :, 1] = rng.integers(0, 256, (height, width), dtype=np.uint8) if static_from is None else rgb[:, :, 1]
        depth = np.full((height, width), 2.0 + i, dtype=np.float32) if i % 2 == 0 else None
        frames.append(Frame(index=i, timestamp=0.1 * i, rgb=rgb, intrinsics=K, depth=depth))
    return frames


def test_cache_round_trip_resizes_frames_and_intrinsics(tmp_path):
    frames = _frames(5)
    cache = FrameCache.build(frames, tmp_path / "c", (60, 80), name="five")
    assert len(cache) == 5 and cache.rgb.shape == (5, 60, 80, 3) and cache.rgb.dtype == np.uint8
    assert np.allclose(cache.timestamps, [0.0, 0.1, 0.2, 0.3, 0.4])
    # Halving: fx' = fx / 2, cx' = (cx + 0.5) / 2 - 0.5
    assert np.allclose(cache.intrinsics, [[50.0, 0, 39.5], [0, 45.0, 29.5], [0, 0, 1]])
    assert sorted(cache.depth) == [0, 2, 4]
    assert cache.depth[2].shape == (60, 80) and np.allclose(cache.depth[2], 4.0)
    assert int(cache.rgb[3, 10, 10, 0]) == (3 * 37) % 256  # uniform channel survives area resizing exactly
    reopened = FrameCache(tmp_path / "c")
    assert np.array_equal(np.asarray(reopened.rgb), np.asarray(cache.rgb))


def test_interrupted_cache_is_not_mistaken_for_complete(tmp_path):
    def broken():
        yield from _frames(2)
        raise OSError("disk read failed")

    with pytest.raises(OSError):
        FrameCache.build(broken(), tmp_path / "c", (60, 80), name="broken")
    with pytest.raises(FileNotFoundError):
        FrameCache(tmp_path / "c")


def test_cache_key_depends_on_source_and_size():
    spec = SourceSpec("sequence", "/data/a")
    assert spec.key((64, 128)) == spec.key((64, 128))
    assert spec.key((64, 128)) != spec.key((72, 144))
    assert spec.key((64, 128)) != SourceSpec("sequence", "/data/b").key((64, 128))
    assert SourceSpec("bag", "/x.bag", "/cam").key((1, 1)) != SourceSpec("bag", "/x.bag", "/cam2").key((1, 1))


def test_split_index_matches_the_project_validation_frames():
    assert split_index(1000, 0.2) == 800  # 7scenes_redkitchen: frames 800-999 held out
    assert split_index(801, 0.2) == 641  # kitti_odometry_03: frames 641-800 held out
    assert split_index(10, 0.0) == 10


def test_pairs_with_stride_stay_inside_their_range():
    assert make_pairs(0, 5, 1).tolist() == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert make_pairs(0, 5, 2).tolist() == [[0, 2], [1, 3], [2, 4]]
    assert make_pairs(3, 5, 3).shape == (0, 2)


def test_static_pairs_are_dropped():
    rgb = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    rgb[1] = 1  # differs from frame 0 by 1/255 < 0.01: static
    rgb[2] = 100  # a real change
    rgb[3] = 100  # identical to frame 2
    kept, dropped = drop_static_pairs(rgb, make_pairs(0, 4, 1), threshold=0.01)
    assert kept.tolist() == [[1, 2]] and dropped == 2
    kept, dropped = drop_static_pairs(rgb, make_pairs(0, 4, 1), threshold=0.0)
    assert len(kept) == 3 and dropped == 0


def test_time_split_keeps_training_pairs_out_of_validation_frames(tmp_path):
    cache = FrameCache.build(_frames(10), tmp_path / "c", (60, 80), name="ten")
    train, val = build_pair_indices([cache], DataConfig(val_fraction=0.2, static_threshold=0.0))
    assert train.rows[:, 1:].max() < 8
    assert val.rows[:, 1:].min() >= 8 and val.rows.tolist() == [[0, 8, 9]]


def test_each_source_may_have_its_own_pair_stride(tmp_path):
    fast = FrameCache.build(_frames(12), tmp_path / "a", (60, 80), name="fast camera")
    slow = FrameCache.build(_frames(12), tmp_path / "b", (60, 80), name="slow camera")
    config = DataConfig(stride=1, val_fraction=0.0, static_threshold=0.0)
    specs = [SourceSpec("images", "a"), SourceSpec("images", "b", stride=4)]
    train, _ = build_pair_indices([fast, slow], config, specs)
    steps = {number: set((train.rows[train.rows[:, 0] == number, 2] - train.rows[train.rows[:, 0] == number, 1])
                         .tolist()) for number in (0, 1)}
    assert steps == {0: {1}, 1: {4}}
    assert (train.rows[:, 0] == 1).sum() == 12 - 4


def test_a_frame_range_limits_training_pairs_and_never_reaches_the_held_out_frames(tmp_path):
    cache = FrameCache.build(_frames(20), tmp_path / "c", (60, 80), name="twenty")
    config = DataConfig(stride=1, val_fraction=0.2, static_threshold=0.0)  # frames 16-19 held out
    train, val = build_pair_indices([cache], config, [SourceSpec("images", "c", stride=2, frames=(3, 9))])
    assert train.rows[:, 1:].tolist() == [[3, 5], [4, 6], [5, 7], [6, 8]]
    wide, same_val = build_pair_indices([cache], config, [SourceSpec("images", "c", frames=(10, 100))])
    assert wide.rows[:, 1:].max() == 15 and same_val.rows.tolist() == val.rows.tolist() == [[0, 16, 17],
                                                                                            [0, 17, 18],
                                                                                            [0, 18, 19]]


def test_dataset_is_deterministic_per_epoch_and_index(tmp_path):
    cache = FrameCache.build(_frames(6), tmp_path / "c", (70, 90), name="six")
    train, _ = build_pair_indices([cache], DataConfig(val_fraction=0.0, static_threshold=0.0))
    dataset = PairDataset([cache], train, (64, 64), AugmentConfig(), seed=3)
    first = dataset[2]
    assert first["rgb1"].shape == (3, 64, 64) and first["rgb1"].dtype == torch.float32
    assert torch.equal(dataset[2]["rgb1"], first["rgb1"])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[2]["rgb1"], first["rgb1"]) or not torch.equal(
        dataset[2]["intrinsics"], first["intrinsics"])
    assert bool(first["has_intrinsics"])


def test_samples_carry_fy_over_fx_of_a_square_pixel_source_through_cache_and_augmentation(tmp_path):
    """Known answer: 120x160 frames cached at 60x100 and resized to 32x64 scale y by 32/120 and x by 64/160,
    so square source pixels have fy/fx = (32/120)/(64/160) = 2/3 there, whatever the source's own matrix."""
    square = np.array([[100.0, 0.0, 79.5], [0.0, 100.0, 59.5], [0.0, 0.0, 1.0]])
    calibrated = [Frame(f.index, f.timestamp, f.rgb, square, None) for f in _frames(6)]
    uncalibrated = [Frame(f.index, f.timestamp, f.rgb, None, None) for f in _frames(6)]
    caches = [FrameCache.build(frames, tmp_path / name, (60, 100), name=name)
              for name, frames in (("square", calibrated), ("none", uncalibrated), ("k", _frames(6)))]
    assert caches[0].source_hw == (120, 160) and FrameCache(tmp_path / "none").source_hw == (120, 160)
    for cache in caches:
        pairs, _ = build_pair_indices([cache], DataConfig(val_fraction=0.0, static_threshold=0.0))
        plain = PairDataset([cache], pairs, (32, 64), None)[0]
        assert float(plain["square_pixel_aspect"]) == pytest.approx(2.0 / 3.0)
    pairs, _ = build_pair_indices([caches[0]], DataConfig(val_fraction=0.0, static_threshold=0.0))
    augmented = PairDataset([caches[0]], pairs, (32, 64), AugmentConfig(), seed=5)
    for index in range(len(pairs)):  # random crops change the aspect; a square source's matrix shows how
        sample = augmented[index]
        k = sample["intrinsics"]
        assert float(sample["square_pixel_aspect"]) == pytest.approx(float(k[1, 1] / k[0, 0]), rel=1e-5)
    unknown_pairs, _ = build_pair_indices([caches[1]], DataConfig(val_fraction=0.0, static_threshold=0.0))
    unknown = PairDataset([caches[1]], unknown_pairs, (32, 64), AugmentConfig(), seed=5)
    assert [float(unknown[i]["square_pixel_aspect"]) for i in range(len(pairs))] == pytest.approx(
        [float(augmented[i]["square_pixel_aspect"]) for i in range(len(pairs))])


def test_a_cache_of_another_format_is_refused_with_what_to_do(tmp_path):
    FrameCache.build(_frames(3), tmp_path / "c", (60, 80), name="three")
    meta = tmp_path / "c" / FrameCache.META_FILE
    meta.write_text(meta.read_text().replace(f'"format": {CACHE_FORMAT}', '"format": 2'))
    with pytest.raises(ValueError, match="format 2.*delete the folder"):
        FrameCache(tmp_path / "c")


def test_epoch_batches_shard_ranks_disjointly_and_equally():
    rank0 = epoch_batches(10, 2, seed=1, epoch=0, rank=0, world_size=2)
    rank1 = epoch_batches(10, 2, seed=1, epoch=0, rank=1, world_size=2)
    assert len(rank0) == len(rank1) == 2
    seen0 = {i for b in rank0 for i in b}
    seen1 = {i for b in rank1 for i in b}
    assert not seen0 & seen1
    assert epoch_batches(10, 2, 1, 0) == epoch_batches(10, 2, 1, 0)
    assert epoch_batches(10, 2, 1, 0) != epoch_batches(10, 2, 1, 1)


def _project(k: np.ndarray, point: np.ndarray) -> np.ndarray:
    p = k @ point
    return p[:2] / p[2]


def test_crop_resize_flip_intrinsics_reproject_points_consistently():
    """Draw a point into an image, transform image and intrinsics together, find the point again."""
    height, width = 120, 160
    point = np.array([0.3, -0.2, 2.0])
    u, v = _project(K, point)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[int(round(v)), int(round(u))] = 255
    crop = (17, 9, 128, 96)  # x0, y0, width, height
    out, _, k = crop_resize_flip(image, image, K, (48, 64), crop, flip=False)
    found = np.unravel_index(np.argmax(out[..., 0]), out.shape[:2])
    assert np.allclose(_project(k, point), (found[1], found[0]), atol=0.5)
    flipped, _, k_flipped = crop_resize_flip(image, image, K, (48, 64), crop, flip=True)
    found = np.unravel_index(np.argmax(flipped[..., 0]), flipped.shape[:2])
    mirrored_point = point * np.array([-1.0, 1.0, 1.0])  # the flipped image shows the mirrored world
    assert np.allclose(_project(k_flipped, mirrored_point), (found[1], found[0]), atol=0.5)


def test_intrinsics_follow_exact_crop_and_resize_formulas():
    _, _, k = crop_resize_flip(np.zeros((120, 160, 3), np.uint8), np.zeros((120, 160, 3), np.uint8), K,
                               (60, 64), (32, 0, 128, 120), flip=False)
    # crop: cx = 79.5 - 32 = 47.5; resize 128 -> 64: fx = 50, cx = (47.5 + 0.5) / 2 - 0.5 = 23.5
    assert np.allclose(k, [[50.0, 0, 23.5], [0, 45.0, 29.5], [0, 0, 1]])
    _, _, k_flip = crop_resize_flip(np.zeros((120, 160, 3), np.uint8), np.zeros((120, 160, 3), np.uint8), K,
                                    (60, 64), (32, 0, 128, 120), flip=True)
    assert k_flip[0, 2] == pytest.approx(63 - 23.5)


def test_augment_pair_applies_identical_changes_to_both_frames():
    rng_image = np.random.default_rng(5)
    frame = rng_image.integers(0, 256, (80, 100, 3), dtype=np.uint8)
    a1, a2, k, _ = augment_pair(frame, frame.copy(), K, (64, 64), np.random.default_rng(11),
                             AugmentConfig(colour_jitter=0.3))
    assert torch.equal(a1, a2)  # same crop, flip and jitter on both frames
    assert a1.min() >= 0 and a1.max() <= 1 and k.shape == (3, 3)
    plain1, _, _, _ = resize_pair(frame, frame, K, (64, 64))
    assert not torch.allclose(a1, plain1)

