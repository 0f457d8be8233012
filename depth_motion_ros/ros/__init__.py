"""Only what imports ROS: the node, message builders, camera_info, QoS, TF, parameters and diagnostics."""
