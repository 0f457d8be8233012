"""The managed (lifecycle) variant of the depth_motion node, for systems that bring nodes up in order
(Nav2's lifecycle_manager, launch_ros's LifecycleNode):

* configure: loads the model and creates the subscriptions, publishers and timers (fails, and stays
  unconfigured, when the model cannot be loaded, saying why);
* activate: starts processing camera images;
* deactivate: stops processing, so nothing is published (images are ignored, not queued);
* cleanup: destroys the interfaces and frees the model;
* shutdown: as cleanup, from any state.

Everything else is the plain node's (node.py): one class hierarchy, the lifecycle only decides when its
`_bring_up` and `_tear_down` run and when `_active` is set.
"""
from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from depth_motion_ros.ros.node import DepthMotionNode
from depth_motion_ros.ros.node import main as node_main


class DepthMotionLifecycleNode(DepthMotionNode, LifecycleNode):
    """DepthMotionNode driven by the lifecycle services (`~/change_state`, `~/get_state`)."""

    MANAGED = True

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._bring_up()
        if self._predictor is None:
            problem = str(self._model_problem).rstrip(".")
            self._tear_down()
            self.get_logger().error(f"configure failed, no model: {problem}. Set 'checkpoint' and configure again.")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: {self._model_text()}, input '{self._image_subscription.topic_name}'")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.set()
        self.get_logger().info("active: processing camera images")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        self.get_logger().info("inactive: camera images are ignored, nothing is published")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._tear_down()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._tear_down()
        return TransitionCallbackReturn.SUCCESS


def main(args: list[str] | None = None) -> int:
    """Entry point of ``depth_motion_lifecycle_node``: starts unconfigured, like every managed node."""
    return node_main(args, DepthMotionLifecycleNode)


if __name__ == "__main__":
    sys.exit(main())
