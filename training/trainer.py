"""The training loop: data, the two-direction loss, optimisation, logging, validation, checkpoints, resume.

One `Trainer` runs one process of a (possibly torchrun-distributed) run. The state that decides what a
step computes is small and saved in every `last.pt`: the global step (schedules are pure functions of
it), the epoch and the position inside it (the data order is a seeded permutation per epoch and the
augmentation is seeded per sample), the optimizer state and the torch RNG (the layer-norm noise). So
`--resume` continues the exact run, and on CPU a resumed run reproduces the uninterrupted one.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn
from tqdm import tqdm

from depth_motion_ros.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from depth_motion_ros.geometry.direct_alignment import AlignmentOptions
from depth_motion_ros.geometry.rotations import matrix_to_axis_angle
from depth_motion_ros.networks import DepthMotionModel, MotionOutput, set_layer_norm_noise
from depth_motion_ros.networks.encoder_weights import load_encoder_weights
from depth_motion_ros.training import distributed
from depth_motion_ros.training.config import TrainConfig
from depth_motion_ros.training.data import (
    FrameCache,
    PairDataset,
    PairIndex,
    SourceSpec,
    build_pair_indices,
    cache_size_for,
    depth_as_input,
    epoch_batches,
    open_or_build_cache,
)
from depth_motion_ros.training.extra_terms import ExtraLossTerm
from depth_motion_ros.training.guards import failure_indicators, failure_warnings
from depth_motion_ros.training.lineage import lineage_record
from depth_motion_ros.training.losses import LOSS_TERMS, LossOutput, compute_losses
from depth_motion_ros.training.motion_inversion import invert_rigid_motion, with_inverted_reverse
from depth_motion_ros.training.refined_poses import with_refined_camera_motion
from depth_motion_ros.training.rendered_motion import RenderedMotionPairs, RenderedMotionTerm
from depth_motion_ros.training.schedule import layer_norm_noise_stddev, motion_field_scale
from depth_motion_ros.training.stages import PARAMETER_GROUPS, set_trainable
from depth_motion_ros.training.summaries import training_images

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LOG = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"
#: Warnings about the same failure mode are repeated at most this often (in steps).
WARNING_INTERVAL = 200


def training_memory_format(device: torch.device) -> torch.memory_format:
    """The layout the trained model's weights are kept in: ``channels_last`` on the CPU, the default elsewhere.

    Why: with channels-last weights oneDNN runs every convolution, forward and above all backward (half
    of a CPU step), in NHWC without reordering; the `rendered` recipe's step (light networks, 128x256,
    batch 4) measured 15 % faster on the 2-core VM, with the same losses and weights to float32 rounding
    (docs/decisions/training-step-speed.md). Only the layout changes: inputs, outputs, checkpoints and
    the loaded state dicts hold the same values. CUDA keeps the default (not measured there).
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def _swap_halves(t: Tensor) -> Tensor:
    """[x1; x2] -> [x2; x1] along the batch: the partner of every sample in the direction-stacked batch."""
    first, second = t.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


class TrainingForward(nn.Module):
    """Depth of both frames and the motion in both directions (or, with ``reverse_motion: inverted``, the
    forward one only) in ONE forward call.

    DistributedDataParallel synchronises gradients only for what runs inside its forward, so every
    network evaluation the loss needs lives here; deriving the reverse motion has no parameters and
    happens outside. Batch layout: ``[frames1; frames2]`` and the partners ``[frames2; frames1]`` (as the
    official code stacks them).
    """

    def __init__(self, model: DepthMotionModel, both_orders: bool = True):
        super().__init__()
        self.model = model
        self.both_orders = both_orders

    def forward(self, rgb1: Tensor, rgb2: Tensor, given_depth: Tensor | None = None
                ) -> tuple[Tensor, Tensor, MotionOutput]:
        """Depth [2B] of ``[frames1; frames2]``, its partner, and the motion: [2B] when the network sees
        both orders, else [B] for 1 -> 2 only (the caller derives the reverse, `with_inverted_reverse`).
        ``given_depth`` [2B, 1, H, W] replaces the depth network (`GivenGroundTruth.depth`)."""
        rgb = torch.cat([rgb1, rgb2], dim=0)
        depth = self.model.depth(rgb) if given_depth is None else given_depth
        partner_depth = _swap_halves(depth)
        if self.both_orders:
            return depth, partner_depth, self.model.motion(rgb, depth, _swap_halves(rgb), partner_depth)
        depth1, depth2 = depth.chunk(2, dim=0)
        return depth, partner_depth, self.model.motion(rgb1, depth1, rgb2, depth2)


@dataclass
class TrainingState:
    """What `last.pt` stores beyond the weights (all builtins and tensors: loadable with weights_only)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float = math.inf
    best_metric_name: str = ""
    skipped_nonfinite: int = 0
    train_seconds: float = 0.0
    last_validation: dict[str, float] = field(default_factory=dict)


@dataclass
class RunResult:
    step: int
    last_checkpoint: Path
    best_checkpoint: Path | None
    last_validation: dict[str, float]
    skipped_nonfinite: int
    interrupted: bool


class Trainer:
    """Trains `config.model` on `sources`, writing everything under `run_dir` (rank 0 only)."""

    def __init__(self, config: TrainConfig, sources: list[SourceSpec], run_dir: str | Path, resume: bool = False,
                 device: str = "auto", cache_dir: str | Path | None = None, init_from: str | Path | None = None,
                 rendered_motion: list[str | Path] | None = None, encoder_weights: str | Path | None = None):
        if not sources:
            raise ValueError("no training sources given")
        rendered_motion = [str(folder) for folder in rendered_motion or []]
        if (config.rendered_motion.weight > 0) != bool(rendered_motion):
            raise ValueError("rendered_motion.weight > 0 and --rendered-motion DIR go together: give both or neither")
        if resume and init_from is not None:
            raise ValueError("--resume continues this run's own last.pt; --init-from starts a new run from "
                             "other weights: give one of them")
        if encoder_weights is not None and (resume or init_from is not None):
            raise ValueError("--encoder-weights initialises a new run's depth encoder; --resume and --init-from "
                             "load every weight: give one of them")
        kept = [group for group in PARAMETER_GROUPS if group not in config.optim.train]
        if kept and not resume and init_from is None:
            raise ValueError(f"optim.train keeps {', '.join(kept)} as loaded: give --init-from with a trained model "
                             "(e.g. the bundled model)")
        self.config = config
        #: Camera motion each source's losses use (`SourceSpec.pose_refinement`, else the config's).
        self._refinement = [spec.pose_refinement or config.pose_refinement for spec in sources]
        for mode in set(self._refinement):
            AlignmentOptions(mode=mode)  # refuses an unknown mode now rather than at the first step
        if any(mode != "none" for mode in self._refinement) and "ego_motion" in config.optim.train:
            raise ValueError("a source's pose_refinement replaces the motion network's camera motion in the losses, "
                             "so that network would learn no ego-motion: leave ego_motion out of optim.train")
        self.sources = sources
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / CHECKPOINT_DIR
        self.context = distributed.init_distributed(device)
        if rendered_motion and self.context.distributed:
            raise ValueError("--rendered-motion runs outside DistributedDataParallel's forward: use one process")
        self.rendered_motion_folders = rendered_motion
        self.device = self.context.device
        #: Loss terms beyond the method's own (training/extra_terms.py), added in training steps.
        self.extra_terms: list[ExtraLossTerm] = []
        if rendered_motion:
            pairs = RenderedMotionPairs(rendered_motion, config.model.input_size)
            self.extra_terms.append(RenderedMotionTerm(pairs, config.rendered_motion, config.run.seed, self.device,
                                                       self._autocast))
        self.state = TrainingState()
        #: What `--init-from` started this run from (`lineage_record`), carried into every checkpoint.
        self.initialised_from: dict[str, Any] | None = None
        self._stop_requested = False
        self._last_warning_step: dict[str, int] = {}
        if config.run.threads > 0:
            torch.set_num_threads(config.run.threads)

        cache_root = Path(cache_dir) if cache_dir is not None else self.run_dir / "cache"
        self.caches = self._open_caches(cache_root)
        self._check_intrinsics()
        self.train_pairs, self.val_pairs = build_pair_indices(self.caches, config.data, self.sources)
        if len(self.train_pairs) < config.optim.batch_size * self.context.world_size:
            raise ValueError(f"only {len(self.train_pairs)} training pairs (after dropping "
                             f"{self.train_pairs.dropped_static} near-static ones): fewer than one batch per rank")
        self._check_given_ground_truth()
        self.train_set = PairDataset(self.caches, self.train_pairs, config.model.input_size, config.augment,
                                     seed=config.run.seed, with_ground_truth=config.given.any)

        torch.manual_seed(config.run.seed)  # identical initial weights on every rank
        self.model = DepthMotionModel(config.model).to(self.device)
        # Module.to takes memory_format (torch.nn.modules.module._parse_to); its type stubs do not list it.
        self.model.to(memory_format=training_memory_format(self.device))  # type: ignore[call-overload]
        #: The ImageNet encoder weights this run started from (`--encoder-weights`), carried into every checkpoint.
        self.encoder_weights = str(encoder_weights) if encoder_weights is not None else None
        if encoder_weights is not None:
            load_encoder_weights(self.model, encoder_weights)
        set_trainable(self.model, config.trained_groups)  # before DistributedDataParallel registers them
        self.forward_module: nn.Module = TrainingForward(self.model, self._both_orders)
        if self.context.distributed:
            self.forward_module = nn.parallel.DistributedDataParallel(
                self.forward_module, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        trained = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.Adam(trained, lr=config.optim.lr)
        torch.manual_seed(config.run.seed + 1 + self.context.rank)  # layer-norm noise differs per rank
        if resume:
            self._resume()
        elif init_from is not None:
            self._init_weights(Path(init_from))
        self.writer: SummaryWriter | None = None  # TensorBoard, on the main process once the run starts

    # ----------------------------------------------------------------------------------------- set-up
    def _open_caches(self, cache_root: Path) -> list[FrameCache]:
        size = cache_size_for(self.config.model.input_size, self.config.data.cache_scale)
        # One process per machine decodes; the others wait and then open the finished caches.
        if self.context.local_rank == 0:
            caches = [open_or_build_cache(spec, cache_root, size) for spec in self.sources]
        distributed.barrier(self.context)
        if self.context.local_rank != 0:
            caches = [open_or_build_cache(spec, cache_root, size) for spec in self.sources]
        return caches

    def _check_intrinsics(self) -> None:
        missing = [c.name for c in self.caches if c.intrinsics is None]
        if self.config.intrinsics == "given" and missing:
            raise ValueError(f"intrinsics: given, but these sources have no camera intrinsics: {missing}; "
                             f"use 'auto' or 'learned'")

    def _check_given_ground_truth(self) -> None:
        """`given` needs the truth for every frame of every pair, training and validation alike."""
        given = self.config.given
        for rows in (self.train_pairs.rows, self.val_pairs.rows):
            for number, cache in enumerate(self.caches):
                frames = set(rows[rows[:, 0] == number][:, 1:].ravel().tolist())
                for wanted, have, what in ((given.depth, cache.depth, "depth"), (given.ego_motion, cache.poses,
                                                                                  "poses")):
                    missing = frames - set(have) if wanted else set()
                    if missing:
                        raise ValueError(f"given.{'depth' if what == 'depth' else 'ego_motion'}: source {cache.name} "
                                         f"has no ground-truth {what} for {len(missing)} of its frames")

    def _init_weights(self, path: Path) -> None:
        """Start from another checkpoint's weights (e.g. the bundled model) with a fresh optimizer at step 0:
        fine-tuning on a robot's own recordings, or continuing another run's model under a new recipe."""
        loaded = load_checkpoint(path, map_location="cpu")
        wanted = self.config.model
        # Both networks are fully convolutional, so the input size is not part of the weights: a model can be
        # fine-tuned at the size that suits another camera's aspect ratio. Every other field is architecture.
        if loaded.config.replace(input_height=wanted.input_height, input_width=wanted.input_width) != wanted:
            raise CheckpointError(f"--init-from {path} holds model {loaded.config}, but the config asks for "
                                  f"{wanted}; copy its 'model' section into the recipe (only input_height "
                                  f"and input_width may differ)")
        self.model.load_state_dict(loaded.model.state_dict())
        self.initialised_from = lineage_record(path, loaded.metadata)
        LOG.info("initialised the weights from %s (step %s there)", path, loaded.metadata.get("step", "?"))
        if loaded.config.input_size != wanted.input_size:
            LOG.info("input size %dx%d -> %dx%d (height x width): same weights, new size", *loaded.config.input_size,
                     *wanted.input_size)

    def _resume(self) -> None:
        path = self.checkpoint_dir / LAST
        if not path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        loaded = load_checkpoint(path, map_location="cpu")
        if loaded.config != self.config.model:
            raise CheckpointError(f"{path} holds model '{loaded.config.name}' {loaded.config}, but the config "
                                  f"asks for {self.config.model}")
        if loaded.training_state is None:
            raise CheckpointError(f"{path} has no training state to resume from")
        stored_rendered = loaded.metadata.get("rendered_motion") or []
        if stored_rendered != self.rendered_motion_folders:
            raise CheckpointError(f"{path} was trained with --rendered-motion {stored_rendered or 'none'}, this run "
                                  f"gives {self.rendered_motion_folders or 'none'}: give the same to resume the run")
        # Runs saved before `square_pixels` existed trained with the head's own fy.
        stored_square = loaded.metadata.get("training_config", {}).get("square_pixels", False)
        if stored_square != self.config.square_pixels:
            raise CheckpointError(f"{path} was trained with square_pixels: {str(stored_square).lower()}, the config "
                                  f"asks for {str(self.config.square_pixels).lower()}: set it as the run had it to "
                                  "resume the same run")
        self.model.load_state_dict(loaded.model.state_dict())
        self.initialised_from = loaded.metadata.get("initialised_from")
        self.encoder_weights = loaded.metadata.get("encoder_weights")
        saved = loaded.training_state
        self.optimizer.load_state_dict(saved["optimizer"])
        for name in ("step", "epoch", "batch_in_epoch", "skipped_nonfinite"):
            setattr(self.state, name, int(saved[name]))
        self.state.best_metric = float(saved["best_metric"])
        self.state.best_metric_name = str(saved["best_metric_name"])
        self.state.train_seconds = float(saved["train_seconds"])
        self.state.last_validation = {k: float(v) for k, v in saved.get("last_validation", {}).items()}
        # A run resumed on more ranks than it was saved with reuses the last saved states.
        rng = saved["rng"][min(self.context.rank, len(saved["rng"]) - 1)]
        torch.set_rng_state(rng["cpu"])
        if self.device.type == "cuda" and rng["cuda"] is not None:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        LOG.info("resumed from %s at step %d", path, self.state.step)

    @property
    def _both_orders(self) -> bool:
        """Whether the motion network sees both orders of a pair (official) or only the temporal one."""
        return bool(self.config.reverse_motion == "predicted")

    # ------------------------------------------------------------------------------------------- step
    def _intrinsics(self, batch: dict[str, Tensor], learned: Tensor) -> Tensor:
        """[2B, 3, 3] intrinsics for the direction-stacked batch, per the configured mode.

        Learned intrinsics are the average of the two directions' predictions (official code: the
        intrinsics must not depend on the frame order), with fy for square pixels at the source's size
        unless `square_pixels` is off (data.square_pixel_aspect). 'auto' uses the given ones where a
        source has them and the learned ones elsewhere.
        """
        first, second = learned.float().chunk(2, dim=0)
        learned = 0.5 * (first + second)
        if self.config.square_pixels:  # `learned` is a new tensor: set in place
            learned[:, 1, 1] = learned[:, 0, 0] * batch["square_pixel_aspect"].to(self.device)
        given = batch["intrinsics"].to(self.device)
        if self.config.intrinsics == "given":
            k = given
        elif self.config.intrinsics == "learned":
            k = learned
        else:
            has = batch["has_intrinsics"].to(self.device)[:, None, None]
            k = torch.where(has, given, learned)
        return torch.cat([k, k], dim=0)

    def _autocast(self) -> torch.autocast:
        enabled = self.device.type == "cuda" and self.config.run.bf16_on_cuda
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _losses(self, module: nn.Module, batch: dict[str, Tensor], step: int) -> tuple[LossOutput, Tensor, Tensor,
                                                                                       MotionOutput, Tensor]:
        rgb1 = batch["rgb1"].to(self.device, non_blocking=True)
        rgb2 = batch["rgb2"].to(self.device, non_blocking=True)
        given = self.config.given
        given_depth = self._given_depth(batch) if given.depth else None
        with self._autocast():
            depth, partner_depth, motion = module(rgb1, rgb2, given_depth)
        if given.ego_motion:
            motion = self._with_given_camera_motion(motion, batch["given_motion"].to(self.device))
        learned = motion.intrinsics if self._both_orders else torch.cat([motion.intrinsics, motion.intrinsics])
        intrinsics = self._intrinsics(batch, learned)
        rgb = torch.cat([rgb1, rgb2], dim=0)
        modes = [self._refinement[int(source)] for source in batch["source"]]
        if self._both_orders:
            motion = with_refined_camera_motion(motion, rgb, depth, _swap_halves(rgb), intrinsics, modes + modes)
        else:
            forward_pairs = slice(0, len(rgb1))
            motion = with_refined_camera_motion(motion, rgb1, depth[forward_pairs], rgb2, intrinsics[forward_pairs],
                                                modes)
            motion = with_inverted_reverse(motion, partner_depth[forward_pairs], intrinsics[forward_pairs])
        burnin = self.config.schedule.motion_field_burnin_steps
        residual = motion.residual_translation * motion_field_scale(step, burnin)
        out = compute_losses(rgb, _swap_halves(rgb), depth, partner_depth, motion.rotation, motion.translation,
                             residual, _swap_halves(motion.rotation), _swap_halves(motion.translation),
                             _swap_halves(residual), intrinsics, self.config.loss_weights, options=self.config.loss)
        if self.model.training:
            for term in self.extra_terms:
                weighted = term(self.model, step)
                out = out._replace(total=out.total + weighted, terms={**out.terms, term.name: weighted})
        return out, rgb, depth, motion, residual

    def _given_depth(self, batch: dict[str, Tensor]) -> Tensor:
        """True depth [2B, 1, H, W] of ``[frames1; frames2]``; where there is no surface (sky) the far limit of
        validation, so those pixels warp as (nearly) at infinity."""
        depth = torch.cat([batch["given_depth1"], batch["given_depth2"]], dim=0).to(self.device)
        given: Tensor = depth_as_input(depth, self.config.validation.min_depth, self.config.validation.max_depth)
        return given

    def _with_given_camera_motion(self, motion: MotionOutput, given: Tensor) -> MotionOutput:
        """The true camera motion of each pair (``given`` [B, 4, 4], camera 1 -> 2) in place of the network's:
        [B] forward, or [2B] forward then reverse when the network sees both orders. Constants: the rotation
        and translation heads get no gradient; the field and the intrinsics keep theirs."""
        rotation, translation = matrix_to_axis_angle(given[:, :3, :3]), given[:, :3, 3]
        if self._both_orders:
            reverse_rotation, reverse_translation = invert_rigid_motion(rotation, translation)
            rotation = torch.cat([rotation, reverse_rotation])
            translation = torch.cat([translation, reverse_translation])
        return motion._replace(rotation=rotation.to(motion.rotation.dtype),
                               translation=translation.to(motion.translation.dtype))

    def _train_step(self, batch: dict[str, Tensor]) -> dict[str, Any] | None:
        """One optimisation step; None when it was skipped for a non-finite loss or gradient."""
        step = self.state.step
        noise = layer_norm_noise_stddev(step, self.config.schedule.layer_norm_noise_rampup_steps,
                                        self.config.model.layer_norm_noise_stddev)
        set_layer_norm_noise(self.model, noise)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.optim.lr_at(step)
        self.optimizer.zero_grad(set_to_none=True)
        out, rgb, depth, motion, residual = self._losses(self.forward_module, batch, step)
        if not distributed.all_ranks_true(bool(torch.isfinite(out.total)), self.context):
            return None
        out.total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        if not distributed.all_ranks_true(bool(torch.isfinite(grad_norm)), self.context):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        self.model.motion_net.project_scales()
        return {"out": out, "rgb": rgb, "depth": depth, "motion": motion, "residual": residual,
                "grad_norm": float(grad_norm), "noise": noise}

    # ------------------------------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss terms on held-out pairs and, where the source has ground truth, depth metrics."""
        if len(self.val_pairs) == 0:
            return {}
        limit = self.config.run.val_pairs
        rows = self.val_pairs.rows
        if 0 < limit < len(rows):
            rows = rows[np.linspace(0, len(rows) - 1, limit).round().astype(int)]
        dataset = PairDataset(self.caches, PairIndex(rows), self.config.model.input_size, None, with_depth=True,
                              with_ground_truth=self.config.given.any)
        loader = torch.utils.data.DataLoader(dataset, batch_size=self.config.optim.batch_size, shuffle=False,
                                             num_workers=0, generator=torch.Generator())
        forward = TrainingForward(self.model, self._both_orders)
        self.model.eval()
        set_layer_norm_noise(self.model, 0.0)
        sums: dict[str, float] = {}
        batches = 0
        metric_rows: list[dict[str, float]] = []
        for batch in loader:
            out, _, depth, _, _ = self._losses(forward, batch, self.state.step)
            for name, value in [("total", out.total)] + list(out.terms.items()):
                sums[name] = sums.get(name, 0.0) + float(value)
            batches += 1
            metric_rows.extend(self._depth_metrics(depth[: len(batch["rgb1"])], batch["depth1"]))
        self.model.train()
        result = {f"loss/{k}": v / batches for k, v in sums.items()}
        if metric_rows:
            for name in metric_rows[0]:
                result[f"depth/{name}"] = float(np.mean([row[name] for row in metric_rows]))
            result["depth/images"] = float(len(metric_rows))
        return result

    def _depth_metrics(self, predicted: Tensor, ground_truth: Tensor) -> list[dict[str, float]]:
        """Per-image metrics (median scaling, the protocol of depth_motion_eval) where ground truth exists."""
        from depth_motion_ros.evaluation.metrics import depth_metrics  # only needed with ground truth

        rows = []
        limits = self.config.validation
        for pred, gt in zip(predicted, ground_truth, strict=True):
            gt_np = gt.numpy()
            if not np.isfinite(gt_np).any():
                continue
            metrics = depth_metrics(pred[0].float().cpu().numpy(), gt_np, min_depth=limits.min_depth,
                                    max_depth=limits.max_depth)
            if metrics is not None:
                rows.append({k: float(v) for k, v in metrics.items()})
        return rows

    def _validation_score(self, result: dict[str, float]) -> tuple[str, float] | None:
        """Lower is better: depth abs rel when ground truth exists, otherwise the validation loss."""
        if "depth/abs_rel" in result:
            return "depth/abs_rel", result["depth/abs_rel"]
        if "loss/total" in result:
            return "loss/total", result["loss/total"]
        return None

    # ------------------------------------------------------------------------------------ checkpoints
    def _metadata(self) -> dict[str, Any]:
        return {
            "step": self.state.step,
            "train_seconds": round(self.state.train_seconds, 1),
            "training_config": self.config.to_dict(),
            "sources": [asdict(spec) for spec in self.sources],
            "rendered_motion": self.rendered_motion_folders,
            "train_pairs": len(self.train_pairs),
            "dropped_static_pairs": self.train_pairs.dropped_static,
            "validation": dict(self.state.last_validation),
            "world_size": self.context.world_size,
            "device": str(self.device),
            "initialised_from": self.initialised_from,
            "encoder_weights": self.encoder_weights,
        }

    def _training_state(self) -> dict[str, Any]:
        """Collective under DDP (every rank contributes its RNG states, which drive the layer-norm noise)."""
        rng = {"cpu": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None}
        if self.context.distributed:
            rng_per_rank: list[Any] = [None] * self.context.world_size
            torch.distributed.all_gather_object(rng_per_rank, rng)
        else:
            rng_per_rank = [rng]
        return {
            "optimizer": self.optimizer.state_dict(),
            "step": self.state.step, "epoch": self.state.epoch, "batch_in_epoch": self.state.batch_in_epoch,
            "best_metric": self.state.best_metric, "best_metric_name": self.state.best_metric_name,
            "skipped_nonfinite": self.state.skipped_nonfinite, "train_seconds": self.state.train_seconds,
            "last_validation": dict(self.state.last_validation),
            "rng": rng_per_rank,
        }

    def save_last(self) -> None:
        state = self._training_state()  # collective under DDP: every rank takes part
        if self.context.is_main:
            save_checkpoint(self.checkpoint_dir / LAST, self.model, self._metadata(), state)

    def _validate_and_keep_best(self) -> None:
        result = self.validate() if self.context.is_main else {}
        if self.context.is_main and result:
            assert self.writer is not None  # opened on the main process before the first step
            self.state.last_validation = result
            for name, value in result.items():
                self.writer.add_scalar(f"val/{name}", value, self.state.step)
            score = self._validation_score(result)
            if score is not None and score[1] < self.state.best_metric:
                self.state.best_metric_name, self.state.best_metric = score
                save_checkpoint(self.checkpoint_dir / BEST, self.model, self._metadata())
        distributed.barrier(self.context)

    # ------------------------------------------------------------------------------------------- loop
    def _request_stop(self, signum: int, _frame: Any) -> None:
        LOG.warning("signal %d: finishing the current step, saving %s and stopping", signum, LAST)
        self._stop_requested = True

    def _warn(self, step: int, warnings: list[str]) -> None:
        for text in warnings:
            key = text.split(" (")[0]
            if step - self._last_warning_step.get(key, -WARNING_INTERVAL) >= WARNING_INTERVAL:
                self._last_warning_step[key] = step
                tqdm.write(f"WARNING step {step}: {text}")
                LOG.warning("step %d: %s", step, text)

    def _open_writer(self) -> None:
        if self.context.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "train_config.yaml").write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.state.step)

    def _log(self, step: int, result: dict[str, Any], sums: dict[str, float], count: int, data_s: float,
             step_s: float) -> None:
        writer = self.writer
        assert writer is not None  # opened on the main process before the first step
        for name, value in sums.items():
            writer.add_scalar(f"train/{name}", value / count, step)
        writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], step)
        writer.add_scalar("time/data_s", data_s / count, step)
        writer.add_scalar("time/step_s", step_s / count, step)
        writer.add_scalar("time/data_fraction", data_s / max(data_s + step_s, 1e-12), step)
        writer.add_scalar("schedule/layer_norm_noise", result["noise"], step)
        writer.add_scalar("schedule/motion_field_scale",
                          motion_field_scale(step, self.config.schedule.motion_field_burnin_steps), step)
        writer.add_scalar("guards/skipped_nonfinite_steps", self.state.skipped_nonfinite, step)

    def run(self) -> RunResult:
        """Train until `config.run.max_steps` (global step), a stop signal, or Ctrl-C; always save last.pt."""
        cfg = self.config.run
        self._open_writer()
        restore = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                restore[sig] = signal.signal(sig, self._request_stop)
        progress = tqdm(total=cfg.max_steps, initial=self.state.step, disable=not self.context.is_main,
                        dynamic_ncols=True, desc="train")
        sums: dict[str, float] = {}
        count, data_s, step_s = 0, 0.0, 0.0
        try:
            while self.state.step < cfg.max_steps and not self._stop_requested:
                batches = epoch_batches(len(self.train_set), self.config.optim.batch_size, cfg.seed,
                                        self.state.epoch, self.context.rank, self.context.world_size)
                self.train_set.set_epoch(self.state.epoch)
                loader = torch.utils.data.DataLoader(self.train_set, batch_sampler=batches[self.state.batch_in_epoch:],
                                                     num_workers=cfg.num_workers,
                                                     pin_memory=self.device.type == "cuda",
                                                     # A private generator: creating the loader must not
                                                     # draw from the global RNG, or a resumed run would
                                                     # see different layer-norm noise.
                                                     generator=torch.Generator().manual_seed(cfg.seed))
                iterator = iter(loader)
                epoch_finished = False
                while self.state.step < cfg.max_steps and not self._stop_requested:
                    tick = time.perf_counter()
                    batch = next(iterator, None)
                    if batch is None:
                        epoch_finished = True
                        break
                    loaded = time.perf_counter()
                    result = self._train_step(batch)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    done = time.perf_counter()
                    self.state.batch_in_epoch += 1
                    self.state.step += 1
                    self.state.train_seconds += done - tick
                    progress.update(1)
                    if result is None:
                        self.state.skipped_nonfinite += 1
                        self._warn(self.state.step, ["non-finite loss or gradient: step skipped "
                                                     f"({self.state.skipped_nonfinite} so far)"])
                    else:
                        data_s += loaded - tick
                        step_s += done - loaded
                        count += 1
                        self._after_step(result, sums)
                    if self.context.is_main and count and self.state.step % cfg.log_every == 0:
                        self._log(self.state.step, result or {"noise": 0.0}, sums, count, data_s, step_s)
                        progress.set_postfix(loss=f"{sums['loss/total'] / count:.4f}",
                                             photo=f"{sums['loss/rgb_consistency'] / count:.4f}",
                                             data=f"{data_s / max(data_s + step_s, 1e-12):.0%}")
                        sums, count, data_s, step_s = {}, 0, 0.0, 0.0
                    if self.state.step % cfg.validate_every == 0:
                        self._validate_and_keep_best()
                    if self.state.step % cfg.checkpoint_every == 0:
                        self.save_last()
                    # A signal may reach the ranks at different steps: stop together or not at all.
                    self._stop_requested = not distributed.all_ranks_true(not self._stop_requested, self.context)
                if epoch_finished:
                    self.state.epoch += 1
                    self.state.batch_in_epoch = 0
            interrupted = self.state.step < cfg.max_steps
            if not interrupted and self.state.step % cfg.validate_every != 0:
                self._validate_and_keep_best()
            self.save_last()
        finally:
            progress.close()
            for sig, handler in restore.items():
                signal.signal(sig, handler)
            if self.writer is not None:
                self.writer.close()
        best = self.checkpoint_dir / BEST
        return RunResult(self.state.step, self.checkpoint_dir / LAST, best if best.is_file() else None,
                         dict(self.state.last_validation), self.state.skipped_nonfinite, interrupted)

    def _after_step(self, result: dict[str, Any], sums: dict[str, float]) -> None:
        out: LossOutput = result["out"]
        step = self.state.step
        values = {"loss/total": float(out.total.detach()), "grad_norm": result["grad_norm"]}
        values.update({f"loss/{name}": float(out.terms[name].detach()) for name in LOSS_TERMS})
        motion: MotionOutput = result["motion"]
        indicators = failure_indicators(result["depth"], motion.translation, result["residual"])
        values.update({"guards/depth_cv": indicators.depth_cv,
                       "guards/translation_to_depth": indicators.translation_to_depth,
                       "guards/motion_field_fraction": indicators.motion_field_fraction})
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value
        if self.context.is_main:
            self._warn(step, failure_warnings(indicators, self.config.guards))
            if step % self.config.run.image_every == 0 or step == 1:
                for tag, image in training_images(result["rgb"], result["depth"], result["residual"],
                                                  out.warped_rgb).items():
                    assert self.writer is not None
                    self.writer.add_image(tag, image.detach().cpu(), step)
