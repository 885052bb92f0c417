"""mlkube.autoscaling."""
