"""The node's plain-Python parts (no ROS import): the newest-frame slot, rate statistics and the launch
file's logic, tested where rclpy is absent."""
