"""`python -m mlkube.executor`: run one step attempt described by environment variables.

The cluster form of `mlkube.executor.step.run` (a pod has no attempt folder; see
`mlkube.runtime.kubernetes.steps` for the Job that sets these):

    MLKUBE_INVOCATION      the invocation as JSON text, or instead
    MLKUBE_INVOCATION_URI  a URI (path, file://, s3://) to read that JSON from
    MLKUBE_ARTIFACT_STORE  the artifact store's root (s3://BUCKET[/PREFIX] or a path); it
                           overrides the invocation's `artifactsRoot`, which may stand in
    MLKUBE_RESULT_URI      where the result goes; overrides the invocation's `resultPath`

Exit status: the step's (0 on success; see `run_invocation`), or 2 with a message on stderr
when the environment or the invocation is unusable (nothing is run or written then). S3 is
reached with the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

USAGE = 2
_ROOT_FIELD = ("MLKUBE_ARTIFACT_STORE", "artifactsRoot")
_RESULT_FIELD = ("MLKUBE_RESULT_URI", "resultPath")


class InvocationError(Exception):
    """The environment or the invocation cannot be run; the message says which and why."""


def main(environ: Mapping[str, str]) -> int:
    """Load the invocation from `environ` and run it; the process's exit status."""
    try:
        invocation = load_invocation(environ)
    except InvocationError as err:
        print(f"mlkube.executor: {err}", file=sys.stderr)
        return USAGE
    from mlkube.executor.step import run_invocation

    return run_invocation(invocation)


def load_invocation(environ: Mapping[str, str]) -> dict[str, Any]:
    """The invocation from `environ` (see the module docstring), checked; InvocationError if
    it is missing, unreadable or malformed."""
    name, text = _invocation_text(environ)
    try:
        invocation = json.loads(text)
    except ValueError as err:
        raise InvocationError(f"{name}: not valid JSON ({err})") from None
    if not isinstance(invocation, dict):
        raise InvocationError(f"{name}: must be a JSON object, got {type(invocation).__name__}")
    for variable, key in (_ROOT_FIELD, _RESULT_FIELD):
        invocation[key] = environ.get(variable) or invocation.get(key)
        if not isinstance(invocation[key], str) or not invocation[key]:
            raise InvocationError(f"{variable}: required (or `{key}` in the invocation)")
    check_invocation(invocation, where=name)
    return invocation


def check_invocation(invocation: Mapping[str, Any], *, where: str) -> None:
    """Raise InvocationError naming the first field of `invocation` with the wrong shape."""
    if not isinstance(invocation.get("inputs", {}), dict):
        raise InvocationError(f"{where}: `inputs` must be an object of name -> source")
    outputs = invocation.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(n, str) for n in outputs):
        raise InvocationError(f"{where}: `outputs` must be a list of names")
    python, command = invocation.get("python"), invocation.get("command")
    if python is not None:
        if not isinstance(python, dict) or not {"module", "function"} <= python.keys():
            raise InvocationError(f"{where}: `python` must have `module` and `function`")
    elif not isinstance(command, list) or not command:
        raise InvocationError(f"{where}: needs `python` or a non-empty `command` list")


def _invocation_text(environ: Mapping[str, str]) -> tuple[str, str]:
    """(the variable it came from, the invocation's JSON text)."""
    text, uri = environ.get("MLKUBE_INVOCATION"), environ.get("MLKUBE_INVOCATION_URI")
    if text and uri:
        raise InvocationError("set only one of MLKUBE_INVOCATION and MLKUBE_INVOCATION_URI")
    if text:
        return "MLKUBE_INVOCATION", text
    if not uri:
        raise InvocationError(
            "MLKUBE_INVOCATION (the invocation as JSON) or MLKUBE_INVOCATION_URI (a URI to "
            "read it from) is required"
        )
    from mlkube.storage.objectstore import read_uri

    data = read_uri(uri)
    if data is None:
        raise InvocationError(f"MLKUBE_INVOCATION_URI: nothing at {uri}")
    return "MLKUBE_INVOCATION_URI", data.decode("utf-8", errors="replace")


if __name__ == "__main__":
    sys.exit(main(os.environ))
