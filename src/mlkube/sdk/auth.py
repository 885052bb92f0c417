"""How the client proves who it is: a bearer token (fixed, from a file, or from an exec
plugin) sent on every request, fetched again once when the server answers 401."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx

from mlkube.sdk.config import ClientConfig
from mlkube.sdk.exec_credentials import ExecConfig, ExecCredential, run_exec

# Run the plugin again a little before the expiry it announced, so no request goes out with a
# token that lapses in flight.
_EXPIRY_MARGIN = timedelta(seconds=10)


class TokenSource(Protocol):
    """Where a bearer token comes from."""

    def token(self) -> str:
        """The token to send now."""
        ...

    def refresh(self) -> bool:
        """Forget any cached token; True when asking again may give a different one."""
        ...


class StaticToken:
    """A token written in the kubeconfig itself: nothing to refresh."""

    def __init__(self, value: str) -> None:
        self._value = value

    def token(self) -> str:
        return self._value

    def refresh(self) -> bool:
        return False


class TokenFile:
    """`tokenFile`: read on first use and again after a 401 (the file may have been rotated,
    as projected service-account tokens are)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._cached: str | None = None

    def token(self) -> str:
        if self._cached is None:
            self._cached = self._path.read_text(encoding="utf-8").strip()
        return self._cached

    def refresh(self) -> bool:
        self._cached = None
        return True


class ExecToken:
    """An exec plugin's token, run again when it has expired or the server refused it."""

    def __init__(
        self,
        config: ExecConfig,
        *,
        run: Callable[[ExecConfig], ExecCredential] = run_exec,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._run = run
        self._now = now
        self._lock = threading.Lock()
        self._cached: ExecCredential | None = None

    def token(self) -> str:
        with self._lock:
            if self._cached is None or not self._cached.fresh(self._now() + _EXPIRY_MARGIN):
                self._cached = self._run(self._config)
            return self._cached.token

    def refresh(self) -> bool:
        with self._lock:
            self._cached = None
        return True


class BearerAuth(httpx.Auth):
    """Sends `Authorization: Bearer <token>`; on a 401 refreshes the source and retries once."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._source.token()}"
        response = yield request
        if response.status_code == 401 and self._source.refresh():
            request.headers["Authorization"] = f"Bearer {self._source.token()}"
            yield request


def bearer_auth(config: ClientConfig) -> BearerAuth | None:
    """The auth for a kubeconfig context: its token, else its token file, else its exec plugin;
    None when it has none of them (a client certificate, or no credentials at all)."""
    if config.token:
        return BearerAuth(StaticToken(config.token))
    if config.token_file:
        return BearerAuth(TokenFile(config.token_file))
    if config.exec:
        return BearerAuth(ExecToken(config.exec))
    return None
