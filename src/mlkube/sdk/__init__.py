"""mlkube.sdk."""
