"""Fixtures: the S3 server of tests/integration/storage (a real S3 API on loopback)."""

from tests.integration.storage.conftest import s3_bucket, s3_server

__all__ = ["s3_bucket", "s3_server"]
