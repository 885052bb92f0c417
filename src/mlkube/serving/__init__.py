"""mlkube.serving."""
