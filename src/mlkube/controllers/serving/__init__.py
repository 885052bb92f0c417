"""The InferenceService controller: revisions, replicas, routes and autoscaling."""
