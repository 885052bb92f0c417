"""mlkube.scheduling."""
