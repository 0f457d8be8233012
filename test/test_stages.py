"""The parameter groups a training stage names (`optim.train`, training/stages.py)."""
from __future__ import annotations

import pytest

from depth_motion_ros.model_config import PRESETS
from depth_motion_ros.networks import DepthMotionModel
from depth_motion_ros.training.stages import PARAMETER_GROUPS, group_parameters, set_trainable


@pytest.mark.parametrize("encoder", ["resnet18", "mobilenet_v2"])
def test_the_groups_partition_every_parameter_of_the_model(encoder):
    model = DepthMotionModel(PRESETS["light"].replace(depth_encoder=encoder))
    seen: dict[int, str] = {}
    for group in PARAMETER_GROUPS:
        for parameter in group_parameters(model, group):
            assert id(parameter) not in seen, f"in both {seen[id(parameter)]} and {group}"
            seen[id(parameter)] = group
    assert set(seen) == {id(parameter) for parameter in model.parameters()}


def test_set_trainable_leaves_only_the_named_groups_trainable():
    model = DepthMotionModel(PRESETS["light"])
    set_trainable(model, ["intrinsics", "object_motion"])
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    expected = {id(p) for group in ("intrinsics", "object_motion") for p in group_parameters(model, group)}
    assert trainable == expected
    with pytest.raises(ValueError, match="unknown parameter group 'pose'"):
        list(group_parameters(model, "pose"))
