"""Everything that imports rclpy: the node, message conversion, QoS and TF helpers."""
