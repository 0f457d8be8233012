"""Supervision of the object-motion field by rendered sequences (training/rendered_motion.py, trainer option)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from depth_motion_ros.checkpoint import CheckpointError, load_checkpoint
from depth_motion_ros.synthetic.synth_cli import main as synth_main
from depth_motion_ros.training.config import RenderedMotionConfig
from depth_motion_ros.training.rendered_motion import RenderedMotionPairs, rendered_motion_loss
from depth_motion_ros.training.trainer import Trainer

from test_training import tiny_config, tiny_run  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("rendered")
    for seed in (1, 2):
        assert synth_main(["--out", str(root / f"s{seed}"), "--width", "64", "--height", "32", "--frames", "4",
                           "--seed", str(seed)]) == 0
    return [root / "s1", root / "s2"]


def test_loss_known_answer_weights_static_and_moving_means_and_skips_pixels_without_depth():
    field = torch.zeros(1, 3, 2, 4)
    field[:, 0] = 0.25                                  # model units; true / predicted depth = 2: 0.5 m in x
    predicted = torch.full((1, 1, 2, 4), 2.0)
    depth = torch.full((1, 2, 4), 4.0)
    depth[0, 1, 3] = float("nan")                       # no surface: left out whatever its motion
    motion = torch.zeros(1, 3, 2, 4)
    motion[0, 0, 0, :2] = 1.0                           # two moving pixels, 1 m in x: error 0.5 each
    motion[0, :, 1, 3] = 100.0
    for static_weight, expected in ((2.0, 2.0 * 0.5 + 0.5), (0.0, 0.5)):
        loss = rendered_motion_loss(field, predicted, depth, motion, static_weight)
        assert loss.item() == pytest.approx(expected)
    exact = rendered_motion_loss(motion[:, :, :, :] * 0.5, predicted, depth, motion, 2.0)
    assert exact.item() == pytest.approx(0.0)


def test_pairs_stay_within_a_sequence_and_a_mirror_flips_the_motion_x(rendered):
    pairs = RenderedMotionPairs(rendered, (32, 64))
    assert pairs.rgb.shape == (8, 32, 64, 3) and pairs.motion.shape == (8, 32, 64, 3)
    assert pairs.starts.tolist() == [0, 1, 2, 4, 5, 6]
    assert np.isnan(pairs.depth).any() and np.abs(pairs.motion).max() > 0.1  # sky, and cars that move
    for seed in range(8):
        batch = pairs.batch(np.random.default_rng(seed), 3)
        replay = np.random.default_rng(seed)
        first = replay.choice(pairs.starts, 3)
        mirrored = replay.random() < 0.5
        stored = torch.from_numpy(pairs.motion[first]).permute(0, 3, 1, 2)
        expected = stored.flip(-1) * torch.tensor([-1.0, 1.0, 1.0]).view(1, 3, 1, 1) if mirrored else stored
        assert torch.equal(batch.motion, expected)
        assert batch.rgb1.shape == (3, 3, 32, 64) and float(batch.rgb1.max()) <= 1.0


def test_a_folder_without_motion_is_refused(tmp_path, rendered):
    plain = tmp_path / "plain"
    synth_main(["--out", str(plain), "--width", "64", "--height", "32", "--frames", "2", "--seed", "3"])
    for path in (plain / "motion").iterdir():
        path.unlink()
    (plain / "motion").rmdir()
    with pytest.raises(ValueError, match="depth/ and motion/"):
        RenderedMotionPairs([plain], (32, 64))


def test_the_trainer_adds_the_term_trains_only_the_field_and_records_the_folders(tiny_run, rendered):
    config, spec, tmp = tiny_run
    Trainer(tiny_config().with_max_steps(1), [spec], tmp / "start", device="cpu", cache_dir=tmp / "cache").run()
    start = tmp / "start" / "checkpoints" / "last.pt"
    config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, train=("object_motion",)),
                                 schedule=dataclasses.replace(config.schedule, motion_field_burnin_steps=0),
                                 rendered_motion=RenderedMotionConfig(weight=1.0, batch_size=2))
    with pytest.raises(ValueError, match="give both or neither"):
        Trainer(config, [spec], tmp / "no_folders", device="cpu", cache_dir=tmp / "cache", init_from=start)
    trainer = Trainer(config.with_max_steps(3), [spec], tmp / "run", device="cpu", cache_dir=tmp / "cache",
                      init_from=start, rendered_motion=rendered)
    seen = []
    [term] = trainer.extra_terms
    assert term.name == "rendered_motion"

    def spy(model, step):
        seen.append(step)
        return term(model, step)
    trainer.extra_terms = [spy]
    spy.name = "rendered_motion"
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    assert seen == [0, 1, 2]
    assert trainer.model.motion_net.auto_mask, "the auto-mask is off only inside the term"
    changed = {name for name, value in trainer.model.state_dict().items() if not torch.equal(value, before[name])}
    assert changed == {n for n in before if n.startswith(("motion_net.refinements.", "motion_net.unrefined_residual."))}
    saved = load_checkpoint(tmp / "run" / "checkpoints" / "last.pt").metadata
    assert saved["rendered_motion"] == [str(folder) for folder in rendered]
    assert saved["training_config"]["rendered_motion"]["weight"] == 1.0
    with pytest.raises(CheckpointError, match="--rendered-motion"):
        Trainer(config.with_max_steps(4), [spec], tmp / "run", resume=True, device="cpu", cache_dir=tmp / "cache",
                rendered_motion=rendered[:1])
    unused = dataclasses.replace(config, rendered_motion=RenderedMotionConfig())
    with pytest.raises(ValueError, match="give both or neither"):
        Trainer(unused, [spec], tmp / "unused", device="cpu", cache_dir=tmp / "cache", init_from=start,
                rendered_motion=rendered)
