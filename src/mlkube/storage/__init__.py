"""mlkube.storage."""
