"""ImageNet initialisation of the depth encoder from a state dict file (`depth_motion_train --encoder-weights`).

Two formats, one per `ModelConfig.depth_encoder`:

- 'resnet18': torchvision's ImageNet ResNet-18 state dict (conv1, bn1, layer1..layer4, fc), which anyone
  with internet access can download. The encoder here normalises with randomized layer norm, i.e. with each
  image's own statistics, where torchvision's batch norm uses running statistics; so a batch norm's scale
  and offset become the layer norm's, and its running statistics are not used. The exceptions are exact
  folds: the 1x1 shortcut of a block that changes width has no normalisation here, so its batch norm (with
  its running statistics) is folded into the shortcut's weights and, as a constant, into the bias of the
  normalisation it is added to; and the stem's weights absorb the change of input convention (ImageNet
  mean/std there, [-1, 1] here), whose constant part the stem's normalisation removes. The classifier (fc)
  is dropped. The weights exist only for the 1.0 width (64..512 channels).
- 'mobilenet_v2': the encoder's own state dict as `scripts/port_mobilenet_v2.py` writes it from a TFLite file.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from .model import DepthMotionModel
from .resnet_encoder import RESNET18_CHANNELS, ResNet18Encoder

#: torchvision's ImageNet input normalisation, (rgb - mean) / std with rgb in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: torch.nn.BatchNorm2d's default epsilon, which torchvision's ResNet uses.
BATCH_NORM_EPSILON = 1e-5
#: torchvision's `layer{n}` is the encoder's `stage{n + 1}`; these stages' first block changes width.
_WIDENING_LAYERS = (2, 3, 4)


class EncoderWeightsError(ValueError):
    """The file does not hold weights for this configuration's depth encoder."""


def _stem_weight(conv1: Tensor) -> Tensor:
    """conv1 for [-1, 1] input: x_imagenet = x / (2 std) + const per channel, so scale input channel c by
    1 / (2 std_c); the constant adds a per-output-channel offset that the following normalisation removes."""
    scale = 1.0 / (2.0 * torch.tensor(IMAGENET_STD, dtype=conv1.dtype))
    return conv1 * scale[None, :, None, None]


def resnet18_from_torchvision(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """torchvision ResNet-18 keys and tensors -> a complete `ResNet18Encoder` (width 1.0) state dict."""
    used: set[str] = set()

    def take(key: str) -> Tensor:
        if key not in state:
            raise EncoderWeightsError(f"not a torchvision ResNet-18 state dict: {key!r} is missing")
        used.add(key)
        return state[key].detach().float()

    out = {"stem.0.weight": _stem_weight(take("conv1.weight")),
           "stem.1.weight": take("bn1.weight"), "stem.1.bias": take("bn1.bias")}
    for layer in range(1, 5):
        for block in range(2):
            source, target = f"layer{layer}.{block}", f"stage{layer + 1}.{block}"
            for index in (1, 2):
                out[f"{target}.conv{index}.weight"] = take(f"{source}.conv{index}.weight")
                out[f"{target}.norm{index}.weight"] = take(f"{source}.bn{index}.weight")
                out[f"{target}.norm{index}.bias"] = take(f"{source}.bn{index}.bias")
        if layer in _WIDENING_LAYERS:
            source, target = f"layer{layer}.0.downsample", f"stage{layer + 1}.0"
            scale = take(f"{source}.1.weight") * torch.rsqrt(take(f"{source}.1.running_var") + BATCH_NORM_EPSILON)
            offset = take(f"{source}.1.bias") - take(f"{source}.1.running_mean") * scale
            out[f"{target}.shortcut.weight"] = take(f"{source}.0.weight") * scale[:, None, None, None]
            out[f"{target}.norm2.bias"] = out[f"{target}.norm2.bias"] + offset
    ignored = {key for key in state if key.startswith("fc.") or key.endswith(
        (".running_mean", ".running_var", ".num_batches_tracked"))}
    unexpected = sorted(set(state) - used - ignored)
    if unexpected:
        raise EncoderWeightsError(f"not a torchvision ResNet-18 state dict: unexpected keys {unexpected[:5]}")
    return out


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"--encoder-weights: no file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for foreign or unsafe pickles
        raise EncoderWeightsError(f"cannot read {path} as a state dict (weights_only): {error}") from error
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise EncoderWeightsError(f"{path} is not a flat state dict of tensors")
    return state


def load_encoder_weights(model: DepthMotionModel, path: str | os.PathLike) -> None:
    """Overwrite the depth encoder's weights with the file's (format by `model.config.depth_encoder`)."""
    path = Path(path)
    state = _read_state_dict(path)
    encoder = model.depth_net.encoder
    config = model.config
    if config.depth_encoder == "resnet18":
        assert isinstance(encoder, ResNet18Encoder)
        if encoder.channels != RESNET18_CHANNELS:
            raise EncoderWeightsError(
                f"ImageNet ResNet-18 weights have {RESNET18_CHANNELS} channels, i.e. depth_width_multiplier 1.0; "
                f"model '{config.name}' has depth_width_multiplier {config.depth_width_multiplier} "
                f"({encoder.channels}). No narrower ImageNet ResNet-18 exists to start from: use width 1.0, "
                f"or depth_encoder 'mobilenet_v2', whose encoder is always the full network")
        mapped = resnet18_from_torchvision(state)
    else:
        mapped = state
    try:
        encoder.load_state_dict(mapped, strict=True)
    except RuntimeError as error:
        raise EncoderWeightsError(f"{path} does not fit the {config.depth_encoder} encoder: {error}") from error
