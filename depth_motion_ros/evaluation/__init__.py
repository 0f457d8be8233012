"""Depth and odometry metrics with the standard protocols, and the evaluation command."""
