"""Fixtures of the server's integration tests (helpers are in `serverkit`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.server.serverkit import Api, running_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A running API server with the `default` and `team` namespaces."""
    with running_api(tmp_path) as running:
        yield running
