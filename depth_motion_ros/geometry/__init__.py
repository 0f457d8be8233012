"""Differentiable, batched pinhole-camera geometry used by training and inference (torch only)."""
from .intrinsics import (
                         crop_intrinsics,
                         flip_intrinsics_horizontally,
                         invert_intrinsics,
                         make_intrinsics,
                         resize_intrinsics,
)
from .projection import (
                         MIN_PROJECTION_DEPTH,
                         Projection,
                         Warp,
                         back_project,
                         pixel_grid,
                         project,
                         reproject,
                         transform_points,
                         warp_frame,
)
from .rotations import (
                         axis_angle_to_matrix,
                         axis_angle_to_quaternion,
                         matrix_to_axis_angle,
                         matrix_to_quaternion,
                         quaternion_to_axis_angle,
                         quaternion_to_matrix,
                         skew,
)
from .sampling import bilinear_sample

__all__ = [
    "MIN_PROJECTION_DEPTH", "Projection", "Warp", "axis_angle_to_matrix", "axis_angle_to_quaternion",
    "back_project", "bilinear_sample", "crop_intrinsics", "flip_intrinsics_horizontally", "invert_intrinsics",
    "make_intrinsics", "matrix_to_axis_angle", "matrix_to_quaternion", "pixel_grid", "project",
    "quaternion_to_axis_angle", "quaternion_to_matrix", "reproject", "resize_intrinsics", "skew",
    "transform_points", "warp_frame",
]
