"""A real S3 API on loopback for tests: moto's server in a thread, no fakes of our own.

    with S3Server() as s3:
        s3.create_bucket("lake")
        store = open_object_store("s3://lake/runs", options=s3.options)
        subprocess.run([...], env={**os.environ, **s3.env})   # a step process sees it too

The server listens on 127.0.0.1 on a free port and starts in milliseconds. moto keeps its
buckets in process-wide memory, so two servers in one process share them: give each test its
own bucket (`unique_bucket`) rather than relying on a fresh server.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
import uuid
from http import HTTPStatus
from typing import Any

from moto.server import ThreadedMotoServer

from mlkube.testing.lifecycle import StartStop

__all__ = ["S3Server", "unique_bucket"]

REGION = "us-east-1"
_DUMMY_KEY = "testing"
_DUMMY_SECRET = "testing"  # moto accepts any credentials


def unique_bucket(stem: str = "test") -> str:
    """A valid, unused bucket name (`stem-<12 hex>`)."""
    return f"{stem}-{uuid.uuid4().hex[:12]}"


class S3Server(StartStop):
    """moto's S3 on `127.0.0.1:<free port>`; use as a context manager (start/stop)."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._endpoint: str | None = None
        self._log_level: int | None = None

    def start(self) -> None:
        """Listen now; the werkzeug request log is silenced until `stop`."""
        werkzeug = logging.getLogger("werkzeug")
        self._log_level = werkzeug.level
        werkzeug.setLevel(logging.ERROR)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop listening and restore the request log's level."""
        self._server.stop()
        if self._log_level is not None:
            logging.getLogger("werkzeug").setLevel(self._log_level)

    @property
    def endpoint(self) -> str:
        """The server's URL, `http://127.0.0.1:PORT`."""
        if self._endpoint is None:
            raise RuntimeError("S3Server: call start() (or use `with`) first")
        return self._endpoint

    @property
    def options(self) -> dict[str, Any]:
        """fsspec/s3fs storage options that reach this server with dummy credentials."""
        return {
            "key": _DUMMY_KEY,
            "secret": _DUMMY_SECRET,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": REGION},
        }

    @property
    def env(self) -> dict[str, str]:
        """AWS_* variables that point a standard AWS client (e.g. a step process) here."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": _DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": _DUMMY_SECRET,
            "AWS_DEFAULT_REGION": REGION,
        }

    def create_bucket(self, name: str) -> str:
        """Create bucket `name` (fine if this server has it already); returns `s3://name`."""
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except urllib.error.HTTPError as err:
            if err.code != HTTPStatus.CONFLICT:  # already there: ours, from an earlier call
                raise
        return f"s3://{name}"
