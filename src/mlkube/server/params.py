"""Query parameters of the Kubernetes API, parsed strictly (pure functions).

A malformed value is a `BadRequest` naming the parameter, never a silent default: a typo in
`timeoutSeconds` or `fieldSelector` should not turn into a watch that runs forever or a list
of everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlkube.api.errors import BadRequest

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}
# Field selectors Kubernetes supports on every resource; we serve the same set.
FIELD_SELECTOR_FIELDS = ("metadata.name", "metadata.namespace")


def parse_bool(params: Mapping[str, str], name: str) -> bool:
    """`?name=true|1|...` as Go's strconv.ParseBool reads it; absent or empty is False."""
    text = params.get(name, "")
    if text in _TRUE:
        return True
    if text in _FALSE or text == "":
        return False
    raise BadRequest(f'invalid value for {name}: "{text}" (expected true or false)')


def parse_int(params: Mapping[str, str], name: str, *, minimum: int = 0) -> int | None:
    """`?name=N` as an integer ≥ `minimum`; absent or empty is None."""
    text = params.get(name, "")
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f'invalid value for {name}: "{text}" (expected an integer)') from None
    if value < minimum:
        raise BadRequest(f"invalid value for {name}: {value} (must be at least {minimum})")
    return value


def parse_resource_version(params: Mapping[str, str]) -> int | None:
    """A watch's starting point: None for "now, with the current state first" (absent, empty
    or "0", as Kubernetes treats them), else the version to resume after."""
    text = params.get("resourceVersion", "")
    if text in ("", "0"):
        return None
    if not text.isdigit():
        raise BadRequest(
            f'invalid resourceVersion "{text}": expected a number from a list or watch'
        )
    return int(text)


def parse_dry_run(params: Mapping[str, str]) -> bool:
    """`?dryRun=All` (what `kubectl --dry-run=server` sends): check everything, store nothing."""
    text = params.get("dryRun", "")
    if text not in ("", "All"):
        raise BadRequest(f'invalid value for dryRun: "{text}" (the only supported value is All)')
    return text == "All"


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector: `field=value` or `field!=value`."""

    field: str
    value: str
    equal: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether `obj` satisfies this clause."""
        _, _, key = self.field.partition(".")
        actual = str((obj.get("metadata") or {}).get(key) or "")
        return (actual == self.value) == self.equal


def parse_field_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for `?fieldSelector=metadata.name=x,metadata.namespace!=y` (kubectl sends
    `metadata.name=NAME` to watch one object). Blank text matches everything."""
    requirements = [_field_requirement(part) for part in text.split(",") if part.strip()]
    return lambda obj: all(r.matches(obj) for r in requirements)


def _field_requirement(part: str) -> FieldRequirement:
    for operator in ("!=", "==", "="):
        field, found, value = part.partition(operator)
        if found:
            break
    else:
        raise BadRequest(f'invalid field selector "{part}": expected field=value or field!=value')
    field = field.strip()
    if field not in FIELD_SELECTOR_FIELDS:
        raise BadRequest(
            f'field label not supported: "{field}" (supported: {", ".join(FIELD_SELECTOR_FIELDS)})'
        )
    return FieldRequirement(field, value.strip(), operator != "!=")
