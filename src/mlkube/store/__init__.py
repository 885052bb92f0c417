"""mlkube.store."""
