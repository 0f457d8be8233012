"""The training configuration: one YAML file per recipe, validated into frozen dataclasses.

A recipe is `training/configs/<name>.yaml` or any YAML path. A file may start from another with
`base: light` (or a path) and override only what differs; mappings merge key by key. Unknown keys are
errors, so a typo never silently trains with a default. The `model` section is a `ModelConfig` mapping
(optionally `preset: light`), resolved by `depth_motion_ros.model_config.get_model_config`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from depth_motion_ros.geometry.direct_alignment import REFINEMENT_MODES
from depth_motion_ros.model_config import PRESETS, ModelConfig, get_model_config
from depth_motion_ros.training.augment import AugmentConfig
from depth_motion_ros.training.data import DataConfig
from depth_motion_ros.training.losses import LossOptions, LossWeights
from depth_motion_ros.training.stages import PARAMETER_GROUPS

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
INTRINSICS_MODES = ("given", "learned", "auto")
#: "predicted" (official): the motion network sees both orders of every pair. "inverted": only the
#: temporal order; the reverse motion is derived (training/motion_inversion.py).
REVERSE_MOTION_MODES = ("predicted", "inverted")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    grad_clip: float = 10.0
    batch_size: int = 4
    #: Step decay (Monodepth2 style): from this global step on the learning rate is lr * lr_decay_factor
    #: (0: constant learning rate, the official recipe).
    lr_decay_step: int = 0
    lr_decay_factor: float = 0.1
    #: The parameter groups this stage trains (training/stages.py); the others keep the weights they were
    #: loaded with (`--init-from`). E.g. [ego_motion, intrinsics, object_motion]: a fresh motion network
    #: learns against a finished depth network instead of dragging it down while its own outputs are noise
    #: (docs/decisions/frozen-depth-motion-stage.md); [intrinsics]: the intrinsics head alone
    #: (docs/decisions/intrinsics-head.md); [object_motion]: the field alone, depth and ego-motion
    #: bit-identical (docs/decisions/object-motion-photometric.md); [depth]: depth against refined poses
    #: (docs/decisions/depth-against-refined-poses.md).
    train: tuple[str, ...] = PARAMETER_GROUPS

    def __post_init__(self) -> None:
        train = tuple(self.train) if isinstance(self.train, (list, tuple)) else (self.train,)
        unknown = [group for group in train if group not in PARAMETER_GROUPS]
        if unknown or not train or len(set(train)) != len(train):
            raise ValueError(f"optim.train must list distinct groups of {list(PARAMETER_GROUPS)}, got {list(train)}")
        object.__setattr__(self, "train", train)

    def lr_at(self, step: int) -> float:
        """Learning rate of global step ``step`` (a pure function of the step, so resuming repeats it)."""
        return self.lr * self.lr_decay_factor if 0 < self.lr_decay_step <= step else self.lr


@dataclass(frozen=True)
class ScheduleConfig:
    layer_norm_noise_rampup_steps: int = 10_000
    motion_field_burnin_steps: int = 20_000


@dataclass(frozen=True)
class RunConfig:
    max_steps: int = 100_000
    seed: int = 0
    log_every: int = 10
    image_every: int = 500
    checkpoint_every: int = 1000
    validate_every: int = 1000
    #: Validation pairs per evaluation (0: all of them).
    val_pairs: int = 200
    num_workers: int = 0
    #: torch intra-op threads (0: torch's default).
    threads: int = 0
    #: bf16 autocast of the networks on CUDA (losses always run in float32).
    bf16_on_cuda: bool = True


@dataclass(frozen=True)
class ValidationConfig:
    """Ground-truth depth range used by the in-training depth metrics (80 m outdoors, 10 m indoors)."""

    min_depth: float = 1e-3
    max_depth: float = 80.0


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds of the failure-mode warnings (see trainer.check_failure_modes)."""

    #: Depth collapsed: mean per-image std/mean of predicted depth below this.
    depth_collapse_cv: float = 0.02
    #: Translation exploded: camera translation larger than this multiple of the mean predicted depth.
    translation_to_depth: float = 1.0
    #: Motion field explains the image: object motion outweighs camera motion on this fraction of pixels.
    motion_field_fraction: float = 0.5


@dataclass(frozen=True)
class RenderedMotionConfig:
    """Supervision of the object-motion field by rendered sequences with exact motion (`--rendered-motion DIR`,
    training/rendered_motion.py). weight 0: off, the official recipe."""

    weight: float = 0.0
    #: Weight of the static pixels' mean error against the moving pixels' (false motion against missed motion).
    static_weight: float = 2.0
    #: Rendered pairs per step, on top of the recorded batch.
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.weight < 0 or self.static_weight < 0 or self.batch_size < 1:
            raise ValueError("rendered_motion: weight and static_weight must be >= 0 and batch_size >= 1")


@dataclass(frozen=True)
class GivenGroundTruth:
    """Rungs of a diagnosis ladder, for sequences with exact ground truth (rendered worlds): the losses and the
    motion network get the true depth and/or camera motion in place of the networks' own, so that what is
    left to learn is isolated. Depth and ego-motion given: only the object-motion field learns; ego-motion
    given: depth (and the field) learn against metric camera motion; depth given: ego-motion (and the field)
    learn. The ground truth is an input, never a loss target: training stays photometric. All false: the
    method itself."""

    depth: bool = False
    ego_motion: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.depth, bool) or not isinstance(self.ego_motion, bool):
            raise ValueError("given: depth and ego_motion must be true or false")

    @property
    def any(self) -> bool:
        return self.depth or self.ego_motion


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig
    intrinsics: str = "auto"
    #: Learned intrinsics keep the network's fx, cx and cy and take fy for square pixels at the source's frame
    #: size, as the node, `depth_motion_infer` and `depth_motion_eval` do (`square_pixel_intrinsics`), so that
    #: a model fine-tuned on an uncalibrated camera is trained with the camera matrix it runs with. false: the
    #: network's own fy (official; not observable once every frame is resized to one input size).
    square_pixels: bool = True
    reverse_motion: str = "predicted"
    #: Camera motion the losses use: the motion network's ("none", official) or that motion refined by direct
    #: image alignment against the current depth, without gradient ("rotation", "full"; the node's
    #: `pose_refinement`, geometry/direct_alignment.py). Needs ego_motion left out of `optim.train`.
    pose_refinement: str = "none"
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    loss: LossOptions = field(default_factory=LossOptions)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    run: RunConfig = field(default_factory=RunConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    guards: GuardConfig = field(default_factory=GuardConfig)
    rendered_motion: RenderedMotionConfig = field(default_factory=RenderedMotionConfig)
    given: GivenGroundTruth = field(default_factory=GivenGroundTruth)

    def __post_init__(self) -> None:
        if not isinstance(self.square_pixels, bool):
            raise ValueError(f"square_pixels must be true or false, got {self.square_pixels!r}")
        if self.intrinsics not in INTRINSICS_MODES:
            raise ValueError(f"intrinsics must be one of {INTRINSICS_MODES}, got {self.intrinsics!r}")
        if self.reverse_motion not in REVERSE_MOTION_MODES:
            raise ValueError(f"reverse_motion must be one of {REVERSE_MOTION_MODES}, got {self.reverse_motion!r}")
        if self.pose_refinement not in REFINEMENT_MODES:
            raise ValueError(f"pose_refinement must be one of {REFINEMENT_MODES}, got {self.pose_refinement!r}")
        if self.pose_refinement != "none" and "ego_motion" in self.optim.train:
            raise ValueError("pose_refinement replaces the motion network's camera motion in the losses, so that "
                             "network would learn no ego-motion: leave ego_motion out of optim.train")
        if self.given.ego_motion and self.pose_refinement != "none":
            raise ValueError("given.ego_motion replaces the camera motion with the true one: pose_refinement "
                             "would have nothing to act on")
        if not self.trained_groups:
            raise ValueError(f"nothing to train: optim.train {list(self.optim.train)} lists only what `given` "
                             "replaces by the ground truth")
        if self.trained_groups == ("intrinsics",) and self.intrinsics != "learned":
            raise ValueError("optim.train [intrinsics] needs intrinsics: learned (with given intrinsics the head's "
                             "output is not used and gets no gradient)")

    @property
    def trained_groups(self) -> tuple[str, ...]:
        """`optim.train` less what `given` replaces by the ground truth (it would get no gradient)."""
        replaced = {"depth"} if self.given.depth else set()
        replaced |= {"ego_motion"} if self.given.ego_motion else set()
        return tuple(group for group in self.optim.train if group not in replaced)

    def to_dict(self) -> dict[str, Any]:
        content = dataclasses.asdict(self)
        content["optim"]["train"] = list(self.optim.train)  # YAML and JSON readers expect a list
        return content

    def with_max_steps(self, max_steps: int) -> TrainConfig:
        return dataclasses.replace(self, run=dataclasses.replace(self.run, max_steps=max_steps))


#: Stage flags of recipes written before `optim.train`, and the groups each trained.
LEGACY_STAGE_FLAGS = {"freeze_depth": ("ego_motion", "intrinsics", "object_motion"), "freeze_motion": ("depth",),
                      "intrinsics_only": ("intrinsics",), "object_motion_only": ("object_motion",)}

_SECTIONS = {"data": DataConfig, "augment": AugmentConfig, "loss_weights": LossWeights, "loss": LossOptions,
             "optim": OptimConfig, "schedule": ScheduleConfig, "run": RunConfig, "validation": ValidationConfig,
             "guards": GuardConfig, "rendered_motion": RenderedMotionConfig, "given": GivenGroundTruth}


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def read_config_mapping(name_or_path: str, seen: tuple[str, ...] = ()) -> dict:
    """The merged YAML mapping of a recipe (`base:` resolved), before validation: edit it, then pass it
    to `config_from_dict`."""
    path = CONFIG_DIR / f"{name_or_path}.yaml" if "/" not in name_or_path and not name_or_path.endswith(
        (".yaml", ".yml")) else Path(name_or_path)
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ValueError(f"training config {name_or_path!r} not found (built-in: {available}; or a YAML path)")
    if str(path.resolve()) in seen:
        raise ValueError(f"training config {path} inherits from itself")
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping")
    base = content.pop("base", None)
    if base is None:
        return content
    return _merge(read_config_mapping(str(base), seen + (str(path.resolve()),)), content)


def _section(cls: type, values: Any, name: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"config section '{name}' must be a mapping")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown keys in '{name}': {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def _model_config(section: Any) -> ModelConfig:
    """'light' / a YAML path (as `get_model_config`), or a mapping of fields with an optional `preset`."""
    if isinstance(section, str):
        return get_model_config(section)
    if isinstance(section, ModelConfig):
        return section
    if not isinstance(section, dict):
        raise ValueError("'model' must be a preset name, a YAML path or a mapping")
    fields_ = dict(section)
    preset = fields_.pop("preset", None)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r} (known: {', '.join(PRESETS)})")
    merged = PRESETS[preset].to_dict() if preset is not None else {}
    merged.update(fields_)
    return ModelConfig.from_dict(merged)


def config_from_dict(content: dict) -> TrainConfig:
    """Validate a merged mapping (the YAML content, or `TrainConfig.to_dict()`) into a `TrainConfig`."""
    content = dict(content)
    unknown = set(content) - set(_SECTIONS) - {"model", "intrinsics", "square_pixels", "reverse_motion",
                                                "pose_refinement"}
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}")
    model_section = content.pop("model", None)
    if model_section is None:
        raise ValueError("the config needs a 'model' section (e.g. 'model: {preset: light}')")
    model = _model_config(model_section)
    legacy = sorted(set(content.get("optim") or {}) & set(LEGACY_STAGE_FLAGS))
    if legacy:
        flag = legacy[0]
        raise ValueError(f"optim.{flag} was replaced by optim.train: write `train: {list(LEGACY_STAGE_FLAGS[flag])}`")
    sections = {name: _section(cls, content.get(name, {}), name) for name, cls in _SECTIONS.items()}
    return TrainConfig(model=model, intrinsics=content.get("intrinsics", "auto"),
                       square_pixels=content.get("square_pixels", True),
                       reverse_motion=content.get("reverse_motion", "predicted"),
                       pose_refinement=content.get("pose_refinement", "none"), **sections)


def load_train_config(name_or_path: str) -> TrainConfig:
    """A built-in recipe ('light', 'paper') or a YAML file, with `base:` inheritance resolved."""
    return config_from_dict(read_config_mapping(name_or_path))
