"""The depth_motion node: camera in; depth, point cloud, odometry and object motion out.

Threading follows the newest-frame policy: subscription callbacks only store the latest message (one slot,
depth-1 QoS), and one worker thread takes the newest frame whenever it is free, so latency stays bounded
when the camera is faster than the networks. All numerical work is in DepthMotionStream (stream.py) and the
base_link odometry (odometry.py); this module decodes, decides what to publish and publishes.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from depth_motion_ros.checkpoint import CheckpointError, default_checkpoint_path
from depth_motion_ros.image_encoding import ImageDecodeError
from depth_motion_ros.image_rectification import is_rectified_topic
from depth_motion_ros.model_config import SIZE_MULTIPLE
from depth_motion_ros.node_support.latest_slot import LatestSlot
from depth_motion_ros.node_support.processing_stats import ProcessingStats, format_stage_times, summary_line
from depth_motion_ros.node_support.reason_throttle import ReasonThrottle
from depth_motion_ros.odometry import OdometryIntegrator, OdometryState, camera_mount, up_in_camera
from depth_motion_ros.odometry_scale import OdometryMatchError, RobotOdometryBuffer
from depth_motion_ros.predictors import PredictorBase, load_predictor
from depth_motion_ros.ros.camera_info import CameraInfoError, CameraModel, build_camera_info, camera_model_from_info
from depth_motion_ros.ros.camera_mount_tf import CameraMountTf
from depth_motion_ros.ros.diagnostics import assess, build_diagnostics
from depth_motion_ros.ros.image_messages import message_to_rgb, numpy_to_image
from depth_motion_ros.ros.odometry_msgs import build_odometry, build_transform, odometry_pose
from depth_motion_ros.ros.parameters import PARAMETER_NAMES, PARAMETERS, NodeSettings, descriptor
from depth_motion_ros.ros.pointcloud import build_point_cloud, organised_points
from depth_motion_ros.ros.qos import make_qos
from depth_motion_ros.ros.tf_broadcast import make_transform_broadcaster
from depth_motion_ros.stream import Continuity, DepthMotionStream, StreamOptions, StreamStep, classify_step
from depth_motion_ros.visualisation import motion_colour

NODE_NAME = "depth_motion"
WARN_THROTTLE_S = 5.0

NO_MODEL_MESSAGE = (
    "no checkpoint: the parameter 'checkpoint' is empty and the default model is not installed "
    "(share/depth_motion_ros/models/default_light.pt). Train one with "
    "'depth_motion_train --config light --bag BAG_DIR --out RUN_DIR' (or --video FILE / --images DIR) and "
    "pass '-p checkpoint:=RUN_DIR/checkpoints/best.pt' (or set it while the node runs).")


#: Settings that choose and load the model, and the parameters behind them: changing one at run time loads a
#: new model.
MODEL_SETTINGS = ("checkpoint", "device", "backend", "cache_dir", "input_size")
MODEL_PARAMETERS = ("checkpoint", "device", "backend", "cache_dir", "input_height", "input_width")


class StartupError(RuntimeError):
    """A model cannot be loaded (none bundled, a missing, corrupt or incompatible checkpoint, an input size the
    backend cannot run), or the parameters are invalid; the text says what to do. Only invalid parameters
    stop the node: without a model it keeps running, says why, and loads one when 'checkpoint' is set."""


def predictor_from_settings(settings: NodeSettings) -> PredictorBase:
    """The predictor for the 'checkpoint', 'device', 'backend' and input size parameters (`load_predictor`
    with the node's checks and messages), or a StartupError."""
    path = settings.checkpoint or default_checkpoint_path()
    if not path:
        raise StartupError(NO_MODEL_MESSAGE)
    if settings.input_size is not None:
        if settings.backend == "onnx":
            raise StartupError("input_height/input_width override the model's input size only with backend "
                               "'torch' (the ONNX graphs have a fixed size)")
        if any(side % SIZE_MULTIPLE for side in settings.input_size):
            raise StartupError(f"input_height and input_width must be multiples of {SIZE_MULTIPLE}, got "
                               f"{settings.input_size[0]}x{settings.input_size[1]}")
    try:
        predictor = load_predictor(str(path), settings.device, settings.backend, settings.cache_dir or None,
                                   fixed_input_size=settings.input_size is None)
    except (CheckpointError, ValueError, ImportError, OSError) as error:
        raise StartupError(f"cannot use checkpoint '{path}' with backend '{settings.backend}': {error}") from error
    except Exception as error:  # ONNX Runtime / onnx / CUDA raise their own types: still no model, not a crash
        raise StartupError(f"cannot use checkpoint '{path}' with backend '{settings.backend}': "
                           f"{type(error).__name__}: {error}") from error
    if settings.input_size is not None:
        predictor.input_size = settings.input_size
    return predictor


def stream_options(settings: NodeSettings) -> StreamOptions:
    """The engine's options from the node's parameters of the same names."""
    return StreamOptions(scale_mode=settings.scale_mode, metres_per_unit=settings.metres_per_unit,
                         camera_height=settings.camera_height, ground_region=settings.ground_region,
                         scale_smoothing=settings.scale_smoothing, max_frame_gap=settings.max_frame_gap,
                         intrinsics_source=settings.intrinsics_source,
                         pose_refinement=settings.pose_refinement, flip_average=settings.flip_average,
                         odometry_window=settings.odometry_scale_window,
                         odometry_min_speed=settings.odometry_min_speed,
                         translation_noise=settings.step_translation_noise,
                         rotation_noise=settings.step_rotation_noise)


def compressed_topic(image_topic: str) -> str:
    """image_transport's name for the compressed variant of `image_topic` (already resolved)."""
    return f"{image_topic.rstrip('/')}/compressed"


def declare_parameters(node: Node) -> dict[str, Any]:
    """Declare every parameter of the table on `node`; name -> value. A start-up value that rclpy refuses (out
    of its descriptor's range, or of another type) becomes a ValueError naming the parameter, so that the
    node ends in one line rather than a traceback."""
    values = {}
    for spec in PARAMETERS:
        try:
            values[spec.name] = node.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        except ParameterException as error:
            raise ValueError(f"parameter '{spec.name}': {error}") from error
    return values


def stamp_seconds(header: Header) -> float:
    return float(header.stamp.sec + header.stamp.nanosec * 1e-9)


class DepthMotionNode(Node):
    """Subscribes to 'image' (or '<resolved image>/compressed') and 'camera_info'; publishes depth, points,
    odom, motion."""

    #: A managed (lifecycle) node loads its model and creates its interfaces in configure, not here
    #: (lifecycle_node.py); the plain node does both at once and processes from the start.
    MANAGED = False

    def __init__(self, predictor: PredictorBase | None = None, **node_options: Any) -> None:
        super().__init__(NODE_NAME, **node_options)
        try:
            self._settings = NodeSettings.from_values(declare_parameters(self))
        except (ValueError, TypeError) as error:
            super().destroy_node()
            raise StartupError(f"invalid parameters: {error}") from error
        #: Warnings throttled per reason (rclpy throttles per call site: one except clause, one reason).
        self._throttle = ReasonThrottle(WARN_THROTTLE_S)
        self._warned_missing_frame_id = False
        self._stream_lock = threading.Lock()
        #: The model, the engine around it and the odometry of base_link, or None with `_model_problem` saying
        #: why: a bad checkpoint must not take the node down with it; 'checkpoint' (and the other
        #: MODEL_SETTINGS) can be set at run time.
        self._predictor: PredictorBase | None = None
        self._stream: DepthMotionStream | None = None
        self._odometry: OdometryIntegrator | None = None
        self._model_problem: str | None = None
        #: Whether the subscriptions, publishers, timers and worker exist (`_bring_up` .. `_tear_down`), and
        #: whether images are processed (always for the plain node; between activate and deactivate for the
        #: managed one).
        self._up = False
        self._active = threading.Event()
        self._inactive_ignored = 0
        self._tf_broadcaster, tf_missing_reason = make_transform_broadcaster(self)
        if self._tf_broadcaster is None:
            self.get_logger().info(f"TF is off: {tf_missing_reason}; odometry is published on 'odom' only")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._say_if_not_metric(self._settings, None)
        if self.MANAGED:
            return
        self._bring_up(predictor)
        self._active.set()
        if self._predictor is None:
            self.get_logger().error(f"running without a model: {str(self._model_problem).rstrip('.')}. Set the "
                                    "parameter 'checkpoint' to a usable file to start processing.")
        else:
            self.get_logger().info(f"ready: {self._model_text()}, input '{self._image_subscription.topic_name}'")

    def _bring_up(self, predictor: PredictorBase | None = None) -> None:
        """Load the model (or record why not in `_model_problem`), create the interfaces and timers and start
        the worker; images are processed once `_active` is set."""
        #: Whether the last processed image was rectified here: a change breaks the pair (the two images
        #: would be mapped differently).
        self._last_remapped: bool | None = None
        #: base_T_optical of the camera now: from TF or the parameter (camera_mount_tf.py), per frame.
        self._mount = camera_mount(self._settings.camera_mount)
        try:
            self._use_predictor(predictor if predictor is not None else predictor_from_settings(self._settings))
        except StartupError as error:
            self._model_problem = str(error)
        self._previous_header: Header | None = None  # header of the frame the next motion field belongs to
        # rclpy's `once=True` still costs about 2 ms a call (it looks up its caller), too much for every frame.
        self._warned_learned_refinement = False
        self._camera: CameraModel | None = None
        #: What is wrong with the camera model of the last processed frame (read by /diagnostics), or None;
        #: the worker collects the current frame's in `_frame_problem` and publishes it here when done.
        self._camera_problem: str | None = None
        self._frame_problem: str | None = None
        self._slot: LatestSlot[tuple[Image | CompressedImage, float]] = LatestSlot()
        #: The robot's own odometry (scale_mode odometry), kept whatever the mode so a switch works at once.
        self._robot_odometry = RobotOdometryBuffer()
        self._rate_limit_dropped = 0
        self._stats = ProcessingStats(windows=("summary", "diagnostics"))
        self._create_interfaces()
        self._mount_tf = CameraMountTf(self, self._settings)
        self.get_logger().info(self._mount_tf.describe(self._settings))
        self._summary_timer = self._steady_timer(None, self._settings.summary_period, self._log_summary)
        self._diagnostics_timer = self._steady_timer(None, self._settings.diagnostics_period,
                                                     self._publish_diagnostics)
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._worker_loop, name="depth_motion_worker", daemon=True)
        self._worker.start()
        self._up = True

    def _stop_worker(self) -> None:
        self._active.clear()
        self._stopping.set()
        self._slot.close()
        self._worker.join(timeout=10.0)

    def _tear_down(self) -> None:
        """Undo `_bring_up`: stop the worker, destroy the interfaces and timers and free the model (the
        managed node's cleanup). The parameters and their callback stay."""
        if not self._up:
            return
        self._stop_worker()
        self._up = False
        for timer in (self._summary_timer, self._diagnostics_timer):
            if timer is not None:
                self.destroy_timer(timer)
        for subscription in (self._image_subscription, self._camera_info_subscription, self._robot_odom_subscription):
            self.destroy_subscription(subscription)
        for publisher in self._publishers_made:
            self.destroy_publisher(publisher)
        self.destroy_service(self._reset_service)
        self._mount_tf.close()
        with self._stream_lock:
            self._predictor, self._stream, self._odometry = None, None, None
            self._model_problem = "no model: the node is not configured"

    def _model_text(self) -> str:
        predictor = self._predictor
        if predictor is None:
            return "no model"
        size = predictor.input_size
        return f"model '{predictor.config.name}' at {size[1]}x{size[0]}, {predictor.backend} on {predictor.execution}"

    def _use_predictor(self, predictor: PredictorBase) -> None:
        """Run `predictor` from the next frame on, with a new engine: no motion is estimated across the switch,
        and the odometry goes on from the last pose (a robot's odom frame must not jump when its model is
        swapped; the new model's depth scale applies from its first pair on)."""
        with self._stream_lock:
            self._predictor = predictor
            self._stream = DepthMotionStream(predictor, up_in_camera(self._mount))
            if self._odometry is None:
                self._odometry = OdometryIntegrator(self._mount)
            self._model_problem = None
            self._previous_header = None
            self._last_remapped = None

    # ----------------------------------------------------------------------------------------- set-up
    def _create_interfaces(self) -> None:
        settings = self._settings
        input_qos = make_qos(settings.input_reliability, settings.input_depth)
        output_qos = make_qos(settings.output_reliability, settings.output_depth)
        # Images the middleware lost never reach _on_image: its sample-lost status counts them for /diagnostics.
        lost = SubscriptionEventCallbacks(message_lost=lambda info: self._stats.record_lost(info.total_count_change))
        if settings.input_transport == "compressed":
            # image_transport's naming: the compressed topic is the RESOLVED image topic plus '/compressed',
            # so remapping 'image' moves this subscription too.
            self._image_subscription = self.create_subscription(
                CompressedImage, compressed_topic(self.resolve_topic_name("image")), self._on_image, input_qos,
                event_callbacks=lost)
        else:
            self._image_subscription = self.create_subscription(Image, "image", self._on_image, input_qos,
                                                                event_callbacks=lost)
        #: Whether the subscribed topic (after remapping) is image_proc's image_rect: `input_rectification: auto`.
        self._image_topic_is_rectified = is_rectified_topic(self._image_subscription.topic_name)
        self._camera_info_subscription = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, input_qos)
        # The robot's odometry: reliable (as odometry publishers are) and 50 deep, a second of 50 Hz odometry,
        # so a busy executor does not lose the poses the next pairs need.
        self._robot_odom_subscription = self.create_subscription(
            Odometry, "robot_odom", self._on_robot_odometry, make_qos("reliable", 50))
        self._depth_pub = self.create_publisher(Image, "depth/image", output_qos)
        self._depth_info_pub = self.create_publisher(CameraInfo, "depth/camera_info", output_qos)
        self._points_pub = self.create_publisher(PointCloud2, "points", output_qos)
        self._odom_pub = self.create_publisher(Odometry, "odom", output_qos)
        self._motion_field_pub = self.create_publisher(Image, "motion/field", output_qos)
        self._motion_mask_pub = self.create_publisher(Image, "motion/mask", output_qos)
        self._motion_image_pub = self.create_publisher(Image, "motion/image", output_qos)
        self._reset_service = self.create_service(Trigger, "~/reset_odometry", self._on_reset_odometry)
        # Absolute, as every node's: diagnostic_aggregator and rqt_robot_monitor listen there.
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publishers_made = (self._depth_pub, self._depth_info_pub, self._points_pub, self._odom_pub,
                                 self._motion_field_pub, self._motion_mask_pub, self._motion_image_pub,
                                 self._diagnostics_pub)

    def _steady_timer(self, previous: Any, period: float, callback: Callable[[], None]) -> Any:
        """Replace `previous` (or None) by a timer of `period` seconds, or by None when the period is 0.

        Steady clock: the summary and the diagnostics are about wall-clock rates, and must run when
        use_sim_time is on and no /clock is published yet."""
        if previous is not None:
            self.destroy_timer(previous)
        if period <= 0:
            return None
        return self.create_timer(period, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Validate the whole new parameter set before accepting it, then apply it atomically."""
        values = {name: self.get_parameter(name).value for name in PARAMETER_NAMES}
        values.update({parameter.name: parameter.value for parameter in parameters})
        try:
            settings = NodeSettings.from_values(values)
        except (ValueError, TypeError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        previous = self._settings
        if not self._up:  # a managed node before configure: the model is loaded by configure
            self._settings = settings
            return SetParametersResult(successful=True)
        changed = any(getattr(settings, name) != getattr(previous, name) for name in MODEL_SETTINGS)
        # Without a model, setting the same checkpoint again retries it (the file may exist by now).
        retry = self._stream is None and any(parameter.name in MODEL_PARAMETERS for parameter in parameters)
        if changed or retry:
            try:
                predictor = predictor_from_settings(settings)
            except StartupError as error:
                return SetParametersResult(successful=False, reason=str(error))
            self._use_predictor(predictor)
            self.get_logger().info(f"now running {self._model_text()}; odometry goes on from the last pose")
        self._settings = settings
        self._say_if_not_metric(settings, previous)
        if any(getattr(settings, name) != getattr(previous, name)
               for name in ("camera_mount", "base_frame", "camera_frame")):
            self._mount_tf.publish(settings)  # the mount itself is taken per frame (`_process`)
        if settings.summary_period != previous.summary_period:
            self._summary_timer = self._steady_timer(self._summary_timer, settings.summary_period, self._log_summary)
        if settings.diagnostics_period != previous.diagnostics_period:
            self._diagnostics_timer = self._steady_timer(self._diagnostics_timer, settings.diagnostics_period,
                                                         self._publish_diagnostics)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------------------------- callbacks
    def _on_image(self, msg: Image | CompressedImage) -> None:
        """Only store the newest frame: the worker decides when to process (never a queue)."""
        if not self._active.is_set():  # a managed node that is not active ignores its camera
            self._inactive_ignored += 1
            return
        self._stats.record_received()
        self._slot.put((msg, time.monotonic()))

    def _on_robot_odometry(self, msg: Odometry) -> None:
        self._robot_odometry.add(stamp_seconds(msg.header), odometry_pose(msg))

    def _robot_motion(self, previous_stamp: float | None, stamp: float, settings: NodeSettings,
                      base_T_optical: np.ndarray) -> np.ndarray | None:
        """The camera's motion over the pair (previous_stamp, stamp) by the robot's odometry, for the odometry
        scale, through the mount in use (from TF or the parameter: the one the odometry integrates with);
        None in other modes, without a pair, or (with a warning per reason) when the robot's odometry
        does not cover both stamps: the pair then does not count towards the scale."""
        if settings.scale_mode != "odometry" or classify_step(previous_stamp, stamp, settings.max_frame_gap) \
                is not Continuity.CONTINUOUS:
            return None
        assert previous_stamp is not None
        try:
            return self._robot_odometry.camera_motion(previous_stamp, stamp, base_T_optical)
        except OdometryMatchError as error:
            self._warn(f"frame pair not used for the odometry scale: {error}", reason=error.reason)
            return None

    def _say_if_not_metric(self, settings: NodeSettings, previous: NodeSettings | None) -> None:
        """Once at start-up and at each change to scale_mode fixed: the outputs are not metric."""
        if settings.scale_mode == "fixed" and (previous is None or previous.scale_mode != "fixed"):
            self.get_logger().warning(
                f"scale_mode is fixed: depth, points and odometry are model units x metres_per_unit "
                f"({settings.metres_per_unit:g}), not metres, and the odometry covariance says the scale is "
                "unknown. Set scale_mode camera_height or odometry for metric output (docs/node.md, Scale).")

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            self._camera = camera_model_from_info(msg, self._camera)
        except CameraInfoError as error:
            self._warn(f"ignoring camera_info: {error}")

    def _warn(self, text: str, reason: str | None = None, level: str = "warning") -> None:
        """Log `text` at `level` (info, warning or error) unless its reason (default: the text) was logged in
        the last WARN_THROTTLE_S seconds; the next one that gets through says how many were held back."""
        held = self._throttle.admit(reason or text, time.monotonic())
        if held is None:
            return
        if held:
            text = f"{text} ({held} more like this in the last {WARN_THROTTLE_S:g} s)"
        # One call site per severity: rclpy refuses a call site whose severity changes between calls.
        logger = self.get_logger()
        if level == "error":
            logger.error(text)
        elif level == "info":
            logger.info(text)
        else:
            logger.warning(text)

    def _on_reset_odometry(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._stream_lock:
            if self._stream is not None and self._odometry is not None:
                self._stream.reset()
                self._odometry.reset()
        self.get_logger().info("odometry reset on request: base_link is back at the odom origin")
        response.success = True
        response.message = "odometry reset"
        return response

    def _log_summary(self) -> None:
        self.get_logger().info(summary_line(self._stats.take("summary"), self.dropped_frames))

    def _publish_diagnostics(self) -> None:
        figures = self._stats.take("diagnostics")
        settings, camera = self._settings, self._camera
        values = {
            "received (Hz)": f"{figures.received_hz:.2f}", "processed (Hz)": f"{figures.processed_hz:.2f}",
            "received in this period": figures.received, "lost by the middleware in this period": figures.lost,
            "dropped in total": self.dropped_frames, "failed in this period": figures.failed,
            "rejected as bad input in this period": figures.rejected,
            "p50 latency (ms)": f"{figures.p50_latency_ms:.1f}",
            "non-network time (% of network time)": f"{figures.non_network_percent:.0f}",
            "model": self._model_text(),
            "camera_info": "none" if camera is None else f"{camera.size[1]}x{camera.size[0]}, "
                           f"{camera.calibration.distortion_model or 'no'} distortion model",
            "intrinsics_source": settings.intrinsics_source, "input_rectification": settings.input_rectification,
            "pose_refinement": settings.pose_refinement, "flip_average": settings.flip_average,
            "camera mount": self._mount_tf.source or "no frame yet",
            **(self._predictor.describe() if self._predictor is not None else {}),
            "scale": self._scale_text(settings),
        }
        health = assess(figures, self._camera_problem, self._model_problem)
        self._diagnostics_pub.publish(build_diagnostics(
            self.get_clock().now().to_msg(), f"{self.get_name()}: camera processing",
            self._image_subscription.topic_name, health, values))

    def _scale_text(self, settings: NodeSettings) -> str:
        stream = self._stream  # read without the lock, which the worker holds for a whole frame
        return "no model" if stream is None else stream.scale_status(stream_options(settings))[1]

    @property
    def dropped_frames(self) -> int:
        """Frames received but never processed because a newer one arrived first."""
        return self._slot.dropped + self._rate_limit_dropped

    # ---------------------------------------------------------------------------------------- worker
    def _worker_loop(self) -> None:
        next_start = 0.0
        while not self._stopping.is_set():
            item = self._slot.take(timeout=0.5)
            if item is None:
                continue
            rate = self._settings.max_rate_hz
            if rate > 0:
                wait = next_start - time.monotonic()
                if wait > 0:
                    if self._stopping.wait(wait):
                        break
                    newer = self._slot.take(timeout=0.0)
                    if newer is not None:
                        self._rate_limit_dropped += 1
                        item = newer
                next_start = time.monotonic() + 1.0 / rate
            try:
                self._process(*item)
            except ImageDecodeError as error:
                self._stats.record_rejected()
                self._warn(f"dropping image: {error}")
            except Exception as error:  # a bug must not kill the node; say so loudly and go on
                self._stats.record_failed()
                self._warn(f"processing failed: {type(error).__name__}: {error}", level="error")

    def _wants(self, publisher: Any) -> bool:
        return bool(publisher.get_subscription_count() > 0)

    def _want_odometry(self, settings: NodeSettings) -> bool:
        # Odometry is state: it integrates whenever it is enabled, subscribed or not, so a late subscriber
        # gets a correct pose.
        return settings.publish_odom or (settings.publish_tf and self._tf_broadcaster is not None)

    def _want_field(self, settings: NodeSettings) -> bool:
        # The motion images are skipped when nobody listens.
        return settings.publish_motion and any(
            self._wants(p) for p in (self._motion_field_pub, self._motion_mask_pub, self._motion_image_pub))

    def _camera_for(self, image_size: tuple[int, int]) -> CameraModel | None:
        camera = self._camera
        if camera is None:
            return None
        if camera.size != image_size:
            self._camera_problem_found(f"camera_info is for {camera.size[1]}x{camera.size[0]} but the image is "
                                       f"{image_size[1]}x{image_size[0]}; using learned intrinsics")
            return None
        return camera

    def _camera_problem_found(self, text: str) -> None:
        """A problem with this frame's camera model: a throttled warning, and the text for /diagnostics."""
        self._frame_problem = text
        self._warn(text)

    def _input_is_rectified(self, settings: NodeSettings) -> bool:
        if settings.input_rectification == "auto":
            return self._image_topic_is_rectified
        return settings.input_rectification == "rectified"

    def _rectified(self, rgb: np.ndarray, camera: CameraModel | None,
                   settings: NodeSettings) -> tuple[np.ndarray, np.ndarray | None]:
        """The pinhole image the networks see and its camera matrix (None without a usable camera_info): an
        image_rect as received with P's matrix; a raw image rectified when its camera_info has distortion."""
        if camera is None:
            return rgb, None
        if self._input_is_rectified(settings):
            return rgb, camera.calibration.rectified_intrinsics
        if camera.rectifier is not None:
            return camera.rectifier.rectify(rgb), camera.rectifier.intrinsics
        if camera.rectification_error is not None:
            self._camera_problem_found(f"not rectifying the images: {camera.rectification_error}; the networks "
                                       "see them distorted")
        return rgb, camera.k

    def _process(self, msg: Image | CompressedImage, received: float) -> None:
        if not self._active.is_set():  # deactivated while this frame waited: publish nothing
            return
        settings = self._settings
        with self._stream_lock:
            missing, problem = self._stream is None, self._model_problem
        if missing:
            self._stats.record_rejected()
            self._warn(f"image not processed, no model: {str(problem).rstrip('.')}. Set the parameter 'checkpoint' "
                       "to a usable file.", reason="no model", level="error")
            return
        want_odometry, want_field = self._want_odometry(settings), self._want_field(settings)
        want_images = any(self._wants(p) for p in (self._depth_pub, self._depth_info_pub, self._points_pub))
        if not (want_odometry or want_field or want_images):
            self._stats.record_skipped()
            return
        tick = time.perf_counter()
        rgb = message_to_rgb(msg)
        decode_s = time.perf_counter() - tick
        self._frame_problem = None
        tick = time.perf_counter()
        received_rgb = rgb
        rgb, camera_k = self._rectified(rgb, self._camera_for(rgb.shape[:2]), settings)
        rectify_s = time.perf_counter() - tick
        stamp = stamp_seconds(msg.header)
        remapped = rgb is not received_rgb
        header = Header(stamp=msg.header.stamp, frame_id=self._frame_id(msg.header, settings))
        with self._stream_lock:
            stream, integrator = self._stream, self._odometry
            if stream is None or integrator is None:  # the model went away while this frame was decoded
                return
            mount = self._mount_tf.mount_for(header.frame_id, settings)
            if not np.array_equal(mount, self._mount):  # TF or the parameter moved the camera: from this pair on
                self._mount = mount
                stream.set_up(up_in_camera(mount))
                integrator.set_mount(mount)
            if self._last_remapped is not None and remapped != self._last_remapped:
                stream.forget_previous_frame()
                self.get_logger().info("the images' rectification changed: no motion between this frame and the "
                                       "previous one, pose kept")
            self._last_remapped = remapped
            previous_stamp = stream.previous_stamp
            result = stream.step(rgb, stamp, camera_k, stream_options(settings), want_odometry or want_field,
                                 want_field, self._robot_motion(previous_stamp, stamp, settings, mount))
            tick = time.perf_counter()
            if result.continuity is Continuity.BACKWARDS:
                integrator.reset()
            odometry = None if result.camera_motion is None or result.previous_stamp is None else integrator.update(
                result.camera_motion, result.stamp - result.previous_stamp, result.uncertainty)
            result.stage_seconds["scale_and_odometry"] += time.perf_counter() - tick
        self._log_continuity(result.continuity, previous_stamp, stamp, settings)
        if (not self._warned_learned_refinement and settings.pose_refinement != "none"
                and (camera_k is None or settings.intrinsics_source == "learned")):
            self._warned_learned_refinement = True
            self.get_logger().warning(
                f"pose_refinement '{settings.pose_refinement}' is running with the learned intrinsics, which are "
                "approximate (docs/node.md): a calibrated camera_info does better")
        # The motion field belongs to the previous frame (stream.py): it goes out with that frame's header.
        previous_header = self._previous_header
        if result.continuity is not Continuity.DUPLICATE:
            self._previous_header = header
        tick = time.perf_counter()
        latency = self._publish(result, odometry, header, previous_header, settings, received)
        publish_s = time.perf_counter() - tick
        stages = {"decode": decode_s, "rectify": rectify_s, **result.stage_seconds, "publish": publish_s}
        self._stats.record_processed(latency, result.network_seconds, sum(stages.values()) - result.network_seconds)
        self._camera_problem = self._frame_problem
        self.get_logger().debug(f"frame {stamp:.3f}: {format_stage_times(stages)}")

    def _frame_id(self, header: Header, settings: NodeSettings) -> str:
        """The input's frame_id, or the 'camera_frame' parameter for an input without one (said once)."""
        if header.frame_id.strip():
            return str(header.frame_id)
        if not self._warned_missing_frame_id:
            self._warned_missing_frame_id = True
            self.get_logger().warning(f"the input images have no frame_id: publishing in camera_frame "
                                      f"'{settings.camera_frame}' (said once)")
        return settings.camera_frame

    def _log_continuity(self, continuity: Continuity, previous: float | None, stamp: float,
                        settings: NodeSettings) -> None:
        if previous is None:
            return
        if continuity is Continuity.BACKWARDS:
            self._warn(f"image time jumped back by {previous - stamp:.3f} s (bag loop or restart): odometry reset "
                       "to the origin", reason="time jumped back", level="info")
        elif continuity is Continuity.DUPLICATE:
            self._warn(f"two images stamped {stamp:.3f} s: no motion for this pair (motion/field is metres per "
                       "second of the stamps' difference), depth published", reason="repeated stamp")
        elif continuity is Continuity.GAP:
            self.get_logger().info(f"no image for {stamp - previous:.3f} s (max_frame_gap "
                                   f"{settings.max_frame_gap} s): motion restarts from this frame, pose kept")

    def _publish(self, result: StreamStep, odometry: OdometryState | None, header: Header,
                 previous_header: Header | None, settings: NodeSettings, received: float) -> float:
        """Publish every enabled, subscribed output; returns the arrival-to-depth latency in seconds."""
        size = result.depth.shape
        if result.intrinsics is None and (settings.publish_points or settings.publish_depth):
            self._camera_problem_found("no intrinsics yet (intrinsics_source is camera_info and none has "
                                       "arrived): publishing depth without camera_info and no points")
        if settings.publish_depth and self._wants(self._depth_pub):
            self._depth_pub.publish(numpy_to_image(result.depth, header))
        latency = time.monotonic() - received
        if settings.publish_depth and result.intrinsics is not None and self._wants(self._depth_info_pub):
            self._depth_info_pub.publish(build_camera_info(result.intrinsics, size, header))
        if settings.publish_points and result.intrinsics is not None and self._wants(self._points_pub):
            points = organised_points(result.depth, result.intrinsics, result.rgb, settings.point_stride,
                                      settings.max_point_range)
            self._points_pub.publish(build_point_cloud(points, header))
        if odometry is not None:
            odom_header = Header(stamp=header.stamp, frame_id=settings.odom_frame)
            if settings.publish_odom and self._wants(self._odom_pub):
                self._odom_pub.publish(build_odometry(odometry, odom_header, settings.base_frame))
            if settings.publish_tf and self._tf_broadcaster is not None:
                self._tf_broadcaster.sendTransform(build_transform(odometry, odom_header,
                                                                   settings.base_frame))
        if result.motion_field is not None and previous_header is not None and settings.publish_motion:
            if self._wants(self._motion_field_pub):
                self._motion_field_pub.publish(numpy_to_image(result.motion_field, previous_header))
            mask = result.moving_mask(settings.motion_threshold) if self._wants(self._motion_mask_pub) else None
            if mask is not None:
                self._motion_mask_pub.publish(numpy_to_image(mask, previous_header))
            if self._wants(self._motion_image_pub):
                self._motion_image_pub.publish(numpy_to_image(
                    motion_colour(result.motion_field, settings.motion_full_scale), previous_header))
        return latency

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away (a node whose start-up failed has none)."""
        if getattr(self, "_up", False):
            self._stop_worker()
        super().destroy_node()


def main(args: list[str] | None = None, node_class: type[DepthMotionNode] = DepthMotionNode) -> int:
    """Entry point of ``depth_motion_node`` (``ros2 run`` or directly with ``--ros-args``); the managed
    variant's (lifecycle_node.py) with its class."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except StartupError as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(error))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
