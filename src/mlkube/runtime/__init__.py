"""mlkube.runtime."""
