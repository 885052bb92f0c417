"""mlkube.api."""
