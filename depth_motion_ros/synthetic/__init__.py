"""Procedural dynamic scenes with exact ground truth, for tests, the demo and sanity training."""
