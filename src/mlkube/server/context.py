"""What every request handler is given: the store, admission checks, log files and the clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlkube.api.clock import Clock, SystemClock
from mlkube.api.errors import Cause
from mlkube.api.kinds import Kind, invalid
from mlkube.api.meta import Model
from mlkube.server.routing import ResourcePath
from mlkube.store.base import ResourceStore

Operation = Literal["CREATE", "UPDATE"]

Admission = Callable[[Kind, Model, Operation], list[Cause]]
"""A validating admission check, run after schema validation on create and update of a main
resource (not of `/status`): any cause refuses the request with 422 `Invalid`."""

LogSource = Callable[[str, str, str, int | None], Path | None]
"""`(namespace, run, step, attempt)` → the log file of that step attempt (attempt None: the
latest), or None when there is none."""

JobLogSource = Callable[[str, str, int, int], Path | None]
"""`(namespace, job, start, worker)` → the file that worker of a TrainingJob logs to in that
start (starts count from 1, as `status.starts` does), whether or not it exists yet, so a
follow can wait for a start to begin; None when the job's logs are not kept here."""

Authenticator = Callable[[str], str | None]
"""A bearer token → the user it belongs to, or None for an unknown token."""

Authorizer = Callable[[str, str, ResourcePath], None]
"""`(user, verb, target)` → returns if allowed, raises `Forbidden` if not."""

Audit = Callable[[dict[str, Any]], None]
"""Records one request (user, verb, resource, namespace, name, code)."""


@dataclass(frozen=True)
class ApiContext:
    """The dependencies of the HTTP API, passed to every handler (no module globals)."""

    store: ResourceStore
    admission: Sequence[Admission] = ()
    log_source: LogSource | None = None
    clock: Clock = field(default_factory=SystemClock)
    authorizer: Authorizer | None = None
    audit: Audit | None = None
    job_log_source: JobLogSource | None = None

    def admit(self, kind: Kind, model: Model, operation: Operation) -> None:
        """Run every admission check; raise `Invalid` with all their causes, if any."""
        causes = [c for check in self.admission for c in check(kind, model, operation)]
        if causes:
            name = str(getattr(model, "metadata").name or "")  # noqa: B009 - every kind has it
            raise invalid(kind, name, causes)
