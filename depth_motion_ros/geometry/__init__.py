"""Differentiable, batched pinhole-camera geometry used by training and inference."""
