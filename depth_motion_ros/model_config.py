"""Model configurations as data: the paper's network and a light CPU real-time variant share one definition.

A configuration fixes everything that changes the shapes of the weights or the network's numerical
behaviour at inference, so that a checkpoint (which stores `ModelConfig.to_dict()`) can always rebuild
exactly the network it was trained with. Training hyper-parameters (learning rate, loss weights, noise
ramp length) are not part of it: they belong to the trainer's own YAML files.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Every stride-2 stage of the depth encoder halves the image five times; the U-Net decoder's skip
#: connections only line up when both sides are multiples of this.
SIZE_MULTIPLE = 32

DECODER_ACTIVATIONS = ("relu", "elu")
DEPTH_ENCODERS = ("resnet18", "mobilenet_v2")


@dataclass(frozen=True)
class ModelConfig:
    """Shape-defining hyper-parameters of `DepthMotionModel`.

    `depth_width_multiplier` scales every channel count of the ResNet-18 encoder and the U-Net decoder (with
    the MobileNetV2 encoder, which is always the 1.0 network its ImageNet weights exist for, the decoder only);
    `motion_width_multiplier` scales the motion encoder (16..1024 channels at 1.0) and with it the
    refinement blocks. 1.0/1.0 at 128x416 is the paper's network.
    """

    name: str
    input_height: int
    input_width: int
    depth_width_multiplier: float = 1.0
    motion_width_multiplier: float = 1.0
    #: Official `auto_mask`: keep the residual (object) translation only where its magnitude exceeds the
    #: image's mean magnitude, which suppresses the small spurious field on static background.
    motion_auto_mask: bool = True
    #: Largest stddev of the multiplicative noise of randomized layer normalisation (official: 0.5, the
    #: largest value for which the truncated noise factor stays non-negative). The trainer ramps up to it.
    layer_norm_noise_stddev: float = 0.5
    #: Pad the decoder's convolutions by reflection instead of zeros (official default: zeros).
    reflect_padding: bool = False
    #: Activation of the depth decoder: 'relu' (official) or 'elu' (Monodepth2). With narrow decoders
    #: trained from scratch, ReLU units die: in a 0.5-width light run all 8 channels of the last decoder
    #: layer were dead after 860 steps and the depth map was constant (docs/decisions/cpu-training-from-scratch.md). ELU
    #: keeps a gradient for negative inputs, so a unit can recover.
    decoder_activation: str = "relu"
    #: Encoder of the depth U-Net: 'resnet18' (official) or 'mobilenet_v2' (MobileNetV2 1.0, which can start
    #: from the ImageNet weights in TensorFlow Lite files: networks/tflite_port.py). Checkpoints written before
    #: this field existed hold no such key and load as 'resnet18', which is what they are.
    depth_encoder: str = "resnet18"

    def __post_init__(self) -> None:
        for side in ("input_height", "input_width"):
            value = getattr(self, side)
            if value <= 0 or value % SIZE_MULTIPLE:
                raise ValueError(f"{side}={value} must be a positive multiple of {SIZE_MULTIPLE}")
        for factor in ("depth_width_multiplier", "motion_width_multiplier"):
            if getattr(self, factor) <= 0:
                raise ValueError(f"{factor} must be positive")
        if not 0.0 <= self.layer_norm_noise_stddev <= 0.5:
            raise ValueError("layer_norm_noise_stddev must lie in [0, 0.5]")
        if self.decoder_activation not in DECODER_ACTIVATIONS:
            raise ValueError(f"decoder_activation must be one of {DECODER_ACTIVATIONS}")
        if self.depth_encoder not in DEPTH_ENCODERS:
            raise ValueError(f"depth_encoder must be one of {DEPTH_ENCODERS}")

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the network input."""
        return (self.input_height, self.input_width)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of builtins: safe for YAML and for `torch.load(weights_only=True)`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`; unknown keys are an error so that typos do not pass silently."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model configuration keys: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (e.g. another input size)."""
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, ModelConfig] = {
    # Li et al. (CoRL 2020): full ResNet-18 U-Net and the 7-layer 16..1024 motion encoder at 128x416.
    "paper": ModelConfig(name="paper", input_height=128, input_width=416,
                         depth_width_multiplier=1.0, motion_width_multiplier=1.0),
    # CPU real-time default (see docs/models.md for the measurements behind these numbers): half-width
    # depth network, quarter-width motion network, 2:1 input which sits between 4:3 indoor cameras and
    # ~3:1 driving cameras (at most ~1.6x anisotropic resize for either).
    "light": ModelConfig(name="light", input_height=128, input_width=256,
                         depth_width_multiplier=0.5, motion_width_multiplier=0.25),
}


def get_model_config(name_or_yaml_path: str) -> ModelConfig:
    """A preset by name, or a YAML file holding a mapping of `ModelConfig` fields.

    The YAML may hold the fields at top level or under a `model:` key (so a trainer configuration file
    that embeds the model section can be passed directly); a `preset:` key starts from that preset and
    overrides the listed fields.
    """
    if name_or_yaml_path in PRESETS:
        return PRESETS[name_or_yaml_path]
    path = Path(name_or_yaml_path)
    if not path.is_file():
        raise ValueError(f"{name_or_yaml_path!r} is neither a preset ({', '.join(PRESETS)}) nor a YAML file")
    with path.open("r", encoding="utf-8") as stream:
        content = yaml.safe_load(stream) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping of model configuration fields")
    section = content.get("model", content)
    if not isinstance(section, dict):
        raise ValueError(f"{path}: 'model' must be a mapping")
    section = dict(section)
    preset = section.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"{path}: unknown preset {preset!r}")
        base = PRESETS[preset].to_dict()
        base.update(section)
        section = base
    return ModelConfig.from_dict(section)
