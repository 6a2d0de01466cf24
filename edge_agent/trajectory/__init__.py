"""From image points to floor trajectories in metres, and their kinematics."""
