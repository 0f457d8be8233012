"""Rendered worlds (street, room) with exact ground truth, for training, evaluation, tests and the demo."""
