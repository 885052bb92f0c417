"""mlkube: a Kubernetes-native platform for machine-learning work."""

__version__ = "0.1.0"
