"""depth_motion_ros: self-supervised monocular depth, odometry and object motion for ROS 2."""
