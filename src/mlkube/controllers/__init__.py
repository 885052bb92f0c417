"""mlkube.controllers."""
