"""mlkube.testing."""
