"""mlkube.server."""
