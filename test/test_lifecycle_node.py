"""The managed node over real DDS, driven only through its lifecycle services (change_state, get_state), as
Nav2's lifecycle_manager drives nodes: configure loads the model, activate starts processing, deactivate
stops publishing, cleanup frees the model."""
# Fixtures are imported by name from node_harness and then requested as arguments, which pyflakes reads
# as redefinitions:
# ruff: noqa: F811
from __future__ import annotations

import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from depth_motion_ros.ros.lifecycle_node import DepthMotionLifecycleNode

from node_harness import (  # noqa: F401 (fixtures)
    call_service,
    checkpoint,
    harness_factory,
    raw_image,
    scene,
    seconds,
    send_and_wait,
    wait_until,
)

pytestmark = pytest.mark.ros


class Lifecycle:
    """Clients of the node's lifecycle services on the harness's probe node."""

    def __init__(self, harness) -> None:
        name = f"{harness.namespace}/depth_motion"
        self._change = harness.probe.create_client(ChangeState, f"{name}/change_state")
        self._get = harness.probe.create_client(GetState, f"{name}/get_state")

    def change(self, transition: int) -> bool:
        return call_service(self._change, ChangeState.Request(transition=Transition(id=transition))).success

    def state(self) -> int:
        return call_service(self._get, GetState.Request()).current_state.id


def test_configure_activate_deactivate_cleanup_through_the_lifecycle_services(harness_factory):
    h = harness_factory(namespace="/robot", node_class=DepthMotionLifecycleNode)
    lifecycle = Lifecycle(h)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert h.node._predictor is None and h.probe.get_publishers_info_by_topic("/robot/depth/image") == []

    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
    assert h.node._predictor is not None  # configure loaded the model
    depth_out = h.subscribe(Image, "depth/image")
    camera = h.publisher(Image, "image")
    camera.publish(raw_image(scene(1), 10.0))  # inactive: ignored, not queued
    wait_until(lambda: h.node._inactive_ignored >= 1, "the inactive node to ignore a frame")

    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
    out = send_and_wait(camera, raw_image(scene(1), 11.0), depth_out)
    assert seconds(out.header.stamp) == pytest.approx(11.0)

    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
    ignored = h.node._inactive_ignored
    camera.publish(raw_image(scene(1), 12.0))
    wait_until(lambda: h.node._inactive_ignored > ignored, "the deactivated node to ignore a frame")

    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    out = send_and_wait(camera, raw_image(scene(1), 13.0), depth_out)
    assert [seconds(m.header.stamp) for m in depth_out.messages] == pytest.approx([11.0, 13.0])

    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.change(Transition.TRANSITION_CLEANUP)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert h.node._predictor is None and h.node._stream is None  # cleanup freed the model
    wait_until(lambda: h.probe.get_publishers_info_by_topic("/robot/depth/image") == [],
               "the depth publisher to go away")

    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)  # and it comes back
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    send_and_wait(camera, raw_image(scene(1), 14.0), depth_out)
    assert lifecycle.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert lifecycle.state() == State.PRIMARY_STATE_FINALIZED


def test_configure_fails_without_a_usable_model_and_succeeds_once_one_is_set(harness_factory, checkpoint, tmp_path):
    missing = tmp_path / "missing.pt"
    h = harness_factory(node_class=DepthMotionLifecycleNode, checkpoint=str(missing))
    lifecycle = Lifecycle(h)
    assert not lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
    (result,) = h.node.set_parameters([Parameter("checkpoint", value=str(checkpoint))])
    assert result.successful  # unconfigured: validated, loaded by the next configure
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
