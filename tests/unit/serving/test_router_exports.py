"""Every public name of the router's and HTTP core's modules exists (no stale ``__all__``)."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["http", "upstream", "routetable", "balancer", "stats", "metrics", "proxy", "router"]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_existing_public_names(name: str) -> None:
    module = importlib.import_module(f"mlkube.serving.{name}")
    for public in module.__all__:
        assert not public.startswith("_")
        assert hasattr(module, public), f"{name}.{public}"
