"""mlkube.cli."""
