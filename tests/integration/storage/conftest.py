"""Fixtures: a real S3 API (moto's server) on loopback, one per test session.

`s3_server` is session-scoped (it starts in milliseconds, but nothing gains from restarting
it); `s3_bucket` gives every test its own fresh bucket, since moto keeps buckets in
process-wide memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlkube.testing.s3 import S3Server, unique_bucket


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """`s3://NAME` of a new, empty bucket on `s3_server`."""
    return s3_server.create_bucket(unique_bucket())
