"""mlkube.runtime.local."""
