"""The depth and motion networks of Li et al. (CoRL 2020), in PyTorch."""
from .depth_net import DepthNet
from .model import DepthMotionModel, MotionOutput
from .motion_net import MotionNet
from .randomized_layer_norm import RandomizedLayerNorm, set_layer_norm_noise

__all__ = ["DepthMotionModel", "DepthNet", "MotionNet", "MotionOutput", "RandomizedLayerNorm",
           "set_layer_norm_noise"]
