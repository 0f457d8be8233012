"""`scale_mode: odometry` over real DDS (test/node_harness.py): a fake robot publishes nav_msgs/Odometry,
and the node's odometry and depth come out in the robot's metres.

Known answers without a trained model: every used pair is the same two images (a gap of more than
max_frame_gap between the pairs keeps the network from pairing anything else), so the network's
translation is the same each time, and the robot drives 0.1 m during each pair. Before the third pair
(the estimator's minimum) `metres_per_unit` (1) applies, which shows the network's own translation; from
the third on, the published step is 0.1 m and the depth is the model's times 0.1 m over that translation.
"""
# Fixtures are imported by name from node_harness and then requested as arguments, which pyflakes reads
# as redefinitions:
# ruff: noqa: F811
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from depth_motion_ros.odometry_scale import OdometryMatchError

from node_harness import (  # noqa: F401 (fixtures)
    checkpoint,
    depth_array,
    expected_depth,
    harness_factory,
    logged,
    pose_matrix,
    raw_image,
    reference_predictor,
    scene,
    send_and_wait,
    stamp,
    wait_until,
)

pytestmark = pytest.mark.ros

SPEED = 1.0  # m/s along base_link x


def robot_odometry(t: float) -> Odometry:
    """The fake robot's wheel odometry at time `t`: driving straight ahead at SPEED."""
    msg = Odometry()
    msg.header.stamp = stamp(t)
    msg.header.frame_id = "odom"
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x = SPEED * t
    msg.pose.pose.orientation.w = 1.0
    return msg


def test_depth_and_odometry_come_out_in_the_robots_metres(harness_factory, reference_predictor):
    h = harness_factory(scale_mode="odometry", diagnostics_period=0.2)
    rosout = h.subscribe_rosout()
    depth_out = h.subscribe(Image, "depth/image")
    odom_out = h.subscribe(Odometry, "odom")
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    camera = h.publisher(Image, "image")
    robot = h.publisher(Odometry, "robot_odom", reliability="reliable", depth=50)
    first, second = scene(30), scene(31)

    def drive(t: float) -> None:
        """Odometry around the pair starting at t (before, between and after its two stamps)."""
        for offset in (-0.05, 0.05, 0.15):
            robot.publish(robot_odometry(t + offset))
        wait_until(lambda: covered(t + 0.15), "the robot's odometry to reach the node")

    def covered(t: float) -> bool:
        try:
            h.node._robot_odometry.pose_at(t)  # the buffer the subscription fills
        except OdometryMatchError:
            return False
        return True

    # A pair the robot's odometry does not cover yet: refused for the scale, with the reason.
    robot.publish(robot_odometry(4.0))
    wait_until(lambda: len(h.node._robot_odometry) == 1, "the first odometry message")
    send_and_wait(camera, raw_image(first, 5.0), depth_out)
    send_and_wait(camera, raw_image(second, 5.1), depth_out)
    wait_until(logged(rosout, "frame pair not used for the odometry scale: no robot odometry yet", Log.WARN),
               "the warning for the pair without odometry")

    steps = []
    depths = []
    for pair in range(4):
        t = 10.0 + 2.0 * pair  # 1.9 s between pairs > max_frame_gap: no pair across
        drive(t)
        send_and_wait(camera, raw_image(first, t), depth_out)
        before = len(odom_out)
        depths.append(depth_array(send_and_wait(camera, raw_image(second, t + 0.1), depth_out)))
        odometry = odom_out.wait_for(before + 1)
        steps.append(odometry[-2:])
    network_length = np.linalg.norm(np.diff([pose_matrix(m)[:3, 3] for m in steps[0]], axis=0))
    assert network_length > 0  # before the estimate: model units x metres_per_unit 1
    for pair in (2, 3):       # from the third pair with motion on: the robot's 0.1 m
        length = np.linalg.norm(pose_matrix(steps[pair][1])[:3, 3] - pose_matrix(steps[pair][0])[:3, 3])
        assert length == pytest.approx(0.1 * SPEED, rel=1e-4)
    np.testing.assert_allclose(depths[3], expected_depth(reference_predictor, second) * (0.1 / network_length),
                               rtol=1e-4)
    # The covariance says how sure the scale is and grows with the distance driven.
    first_variance = np.reshape(steps[0][1].pose.covariance, (6, 6))[0, 0]
    last_variance = np.reshape(steps[3][1].pose.covariance, (6, 6))[0, 0]
    assert first_variance > 0 and last_variance > first_variance
    wait_until(lambda: any("metric from the robot's odometry" in v.value for m in list(diagnostics.messages)
                           for v in m.status[0].values if v.key == "scale"),
               "/diagnostics to say the output is metric")


def test_fixed_scale_says_it_is_not_metric(harness_factory):
    h = harness_factory(diagnostics_period=0.2)
    rosout = h.subscribe_rosout()  # the start-up line is gone by now: set the mode again at run time
    diagnostics = h.subscribe(DiagnosticArray, "/diagnostics")
    h.node.set_parameters([Parameter("scale_mode", value="camera_height")])
    h.node.set_parameters([Parameter("scale_mode", value="fixed")])
    wait_until(logged(rosout, "scale_mode is fixed", Log.WARN), "the not-metric warning")
    wait_until(lambda: any(v.value.startswith("not metric") for m in list(diagnostics.messages)
                           for v in m.status[0].values if v.key == "scale"), "/diagnostics to say not metric")
