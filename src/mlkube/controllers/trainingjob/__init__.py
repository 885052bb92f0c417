"""The TrainingJob controller: N workers admitted, started, restarted and stopped as a gang."""
