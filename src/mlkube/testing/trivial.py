"""Steps with no imports at all, so benchmarks measure the platform, not the step's imports."""


def noop() -> None:
    """Does nothing."""
