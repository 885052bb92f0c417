"""mlkube.executor."""
