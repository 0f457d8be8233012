"""Self-supervised training (installed as depth_motion_ros.training; the node never imports it)."""
