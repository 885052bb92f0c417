"""Fixtures: `mlkube up` as a real process (shared with the platform tests)."""

from __future__ import annotations

from tests.integration.platform.conftest import up

__all__ = ["up"]
