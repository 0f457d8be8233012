"""Predictor backends behind one interface (`PredictorBase`): PyTorch (`torch_predictor`) and ONNX Runtime
(`onnx_predictor`, imported only when asked for), and `load_predictor`, which picks one by name."""
from __future__ import annotations

from depth_motion_ros.predictors.base import PredictorBase, resize_rgb, resolve_device
from depth_motion_ros.predictors.loader import BACKENDS, load_predictor
from depth_motion_ros.predictors.torch_predictor import DepthMotionPredictor

__all__ = ["BACKENDS", "DepthMotionPredictor", "PredictorBase", "load_predictor", "resize_rgb", "resolve_device"]
