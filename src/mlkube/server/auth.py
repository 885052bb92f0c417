"""Bearer-token authentication: a token file, token generation and the ASGI middleware.

Every request but the health probes must carry `Authorization: Bearer <token>`; the
authenticator maps the token to a user name, which handlers find in `request.state.user`.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mlkube.api.errors import Unauthorized
from mlkube.sdk.config import write_private_file
from mlkube.server.context import Authenticator
from mlkube.server.errors import error_response, unexpected_error_response

log = logging.getLogger("mlkube.server")

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


def generate_token() -> str:
    """A new random bearer token: 256 bits from `secrets`, URL-safe text."""
    return secrets.token_urlsafe(32)


def read_tokens(path: Path) -> dict[str, str]:
    """The token → user table of a token file (YAML or JSON `{tokens: [{token, user}]}`).

    Raises `FileNotFoundError` when it is missing and `ValueError` naming the file when it
    is malformed.
    """
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except yaml.YAMLError as err:
        raise ValueError(f"token file {path} is not valid YAML or JSON: {err}") from None
    entries = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"token file {path} must hold a list under 'tokens'")
    table: dict[str, str] = {}
    for i, entry in enumerate(entries):
        token = entry.get("token") if isinstance(entry, dict) else None
        user = entry.get("user") if isinstance(entry, dict) else None
        if not (isinstance(token, str) and token and isinstance(user, str) and user):
            raise ValueError(f"token file {path}: tokens[{i}] needs a non-empty token and user")
        table[token] = user
    return table


def write_token_file(path: Path, tokens: Mapping[str, str]) -> None:
    """Write a token file (token → user), readable by its owner only (mode 0600)."""
    entries = [{"token": token, "user": user} for token, user in tokens.items()]
    write_private_file(path, json.dumps({"tokens": entries}, indent=2) + "\n")


class TokenFile:
    """An authenticator backed by a token file, re-read when the file changes.

    Tokens added or revoked take effect without a restart. A missing file holds no tokens
    (so a first start can `add` one); a file that becomes malformed keeps the last good table
    (and logs why), so a half-written edit does not lock everyone out.
    """

    def __init__(self, path: Path | str) -> None:
        """Load `path` now; a malformed file fails here, at startup, not per request."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._tokens = read_tokens(self.path) if self._stamp is not None else {}

    def authenticate(self, token: str) -> str | None:
        """The user `token` belongs to, or None; compared in constant time."""
        offered = token.encode()
        for known, user in self._current().items():
            if hmac.compare_digest(known.encode(), offered):
                return user
        return None

    __call__ = authenticate

    def token_for(self, user: str) -> str | None:
        """A token of `user`, or None when the user has none."""
        return next((t for t, u in self._current().items() if u == user), None)

    def add(self, token: str, user: str) -> None:
        """Add (or reassign) `token` for `user` and rewrite the file (mode 0600)."""
        with self._lock:
            tokens = {**self._current_locked(), token: user}
            write_token_file(self.path, tokens)
            self._tokens, self._stamp = tokens, self._stat()

    def _current(self) -> dict[str, str]:
        with self._lock:
            return self._current_locked()

    def _current_locked(self) -> dict[str, str]:
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            self._tokens = self._reload() if stamp is not None else {}
        return self._tokens

    def _reload(self) -> dict[str, str]:
        try:
            return read_tokens(self.path)
        except (OSError, ValueError) as err:
            log.error("keeping the previous tokens: %s", err)
            return self._tokens

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size, info.st_ino


class BearerAuth:
    """ASGI middleware: 401 `Unauthorized` Status unless the bearer token is known."""

    def __init__(
        self, app: ASGIApp, *, authenticator: Authenticator, public: Collection[str] = PUBLIC_PATHS
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        try:
            user = self._user(Headers(scope=scope).get("authorization", ""))
        except Exception as err:  # an authenticator bug must still answer with a Status
            await unexpected_error_response(err)(scope, receive, send)
            return
        if user is None:
            response = error_response(Unauthorized("Unauthorized"))
            response.headers["WWW-Authenticate"] = 'Bearer realm="mlkube"'
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def _user(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.authenticator(token.strip())
