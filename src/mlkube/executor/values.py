"""Small values travel inline as JSON; everything else becomes an artifact.

Imports only `json` and `math`: the artifact store is reached through a callable so a step that
passes only small values never imports it (see `mlkube.executor.step`).
"""

from __future__ import annotations

import json
import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from mlkube.storage.artifacts import ArtifactStore

    Artifacts = Callable[[], ArtifactStore]

INLINE_LIMIT = 64 * 1024
_SCALARS = (str, int, float, bool, type(None))


def _plain_json(value: Any, depth: int = 0) -> bool:
    """True for trees of exactly dict/list/str/int/float/bool/None (no numpy, no tuples)."""
    if depth > 32:
        return False
    if type(value) in _SCALARS:
        return not (isinstance(value, float) and not math.isfinite(value))
    if type(value) is list:
        return all(_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def encode_output(name: str, value: Any, artifacts: Artifacts) -> dict[str, Any]:
    """`{name, value}` for small plain JSON, else `{name, artifact}` (pickled, by reference)."""
    if _plain_json(value) and len(json.dumps(value)) <= INLINE_LIMIT:
        return {"name": name, "value": value}
    return {"name": name, "artifact": artifacts().put_object(value).to_dict()}


def decode_input(source: dict[str, Any], artifacts: Artifacts) -> Any:
    """The Python value of an input: inline value, unpickled object, or a file's path."""
    artifact = source.get("artifact")
    if artifact is None:
        return source.get("value")
    if artifact.get("format") == "file":
        return artifacts().local_path(artifact["uri"])
    return artifacts().load_object(artifact["uri"])
