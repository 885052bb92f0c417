"""Shared fixtures for the serving unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (`pytest.mark.anyio`) run on asyncio, the loop the serving code uses."""
    return "asyncio"
