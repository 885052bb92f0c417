"""Kubernetes label selectors and label syntax, as pure functions.

`parse_selector("team=vision,tier in (gold,silver),!deprecated")` returns a `Selector` whose
`matches(labels)` follows Kubernetes exactly: `!=` and `notin` also match objects that lack the
key. `validate_labels` checks keys and values the way the kube-apiserver does, so a manifest
that passes here is accepted by a real cluster too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mlkube.api.errors import BadRequest, Cause
from mlkube.api.meta import DNS1123_SUBDOMAIN

Operator = Literal["=", "!=", "in", "notin", "exists", "!"]

_NAME_MAX = 63
_PREFIX_MAX = 253
_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)

# A key or value token: anything up to an operator, a parenthesis, a comma or a space. Keys and
# values are then checked by the label syntax rules, which give the precise message.
_TOKEN = r"[^\s=!(),<>]+"
_SET_RE = re.compile(rf"({_TOKEN})\s+(in|notin)\s*\((.*)\)")
_EQUALITY_RE = re.compile(rf"({_TOKEN})\s*(==|=|!=)\s*(\S*)")
_EXISTS_RE = re.compile(rf"(!?)\s*({_TOKEN})")
_SET_WITHOUT_PARENS_RE = re.compile(rf"{_TOKEN}\s+(in|notin)\b.*")
_FORMS = "expected key, !key, key=value, key==value, key!=value, key in (v1,v2) or key notin (v1)"


@dataclass(frozen=True)
class Requirement:
    """One clause of a selector: `key <operator> values`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this clause (Kubernetes semantics for absent keys)."""
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match when the key is absent, as in Kubernetes.
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        """True when this selector has no requirements and so selects every object."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy every requirement."""
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


@functools.lru_cache(maxsize=256)
def parse_selector(text: str) -> Selector:
    """Parse a Kubernetes label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`).

    Blank text gives the empty selector. Raises `BadRequest` naming the requirement that does
    not parse, or whose key or value breaks label syntax. Results are cached (they are
    immutable), so callers may parse on every request.
    """
    if not text.strip():
        return Selector()
    return Selector(tuple(_parse_requirement(part, text) for part in _split_top_level(text)))


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` is two requirements."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        if depth not in (0, 1):
            raise BadRequest(f'unable to parse label selector "{text}": unbalanced parentheses')
    if depth != 0:
        raise BadRequest(f'unable to parse label selector "{text}": unbalanced parentheses')
    parts.append(text[start:])
    return parts


def _parse_requirement(part: str, text: str) -> Requirement:
    req = part.strip()
    if not req:
        raise BadRequest(f'unable to parse label selector "{text}": empty requirement')
    if match := _SET_RE.fullmatch(req):
        key, op, inner = match.groups()
        values = tuple(sorted({v.strip() for v in inner.split(",")})) if inner.strip() else ()
        if not values:
            raise _requirement_error(req, f'values for "{op}" can\'t be empty')
        return _checked(req, Requirement(key, "in" if op == "in" else "notin", values))
    if match := _EQUALITY_RE.fullmatch(req):
        key, op, value = match.groups()
        return _checked(req, Requirement(key, "!=" if op == "!=" else "=", (value,)))
    if match := _EXISTS_RE.fullmatch(req):
        bang, key = match.groups()
        return _checked(req, Requirement(key, "!" if bang else "exists"))
    if match := _SET_WITHOUT_PARENS_RE.fullmatch(req):
        op = match.group(1)
        raise _requirement_error(req, f'values for "{op}" must be in parentheses: "{op} (x,y)"')
    raise _requirement_error(req, _FORMS)


def _checked(req: str, requirement: Requirement) -> Requirement:
    """Refuse keys and values that no label could have (a typo, not an empty match)."""
    for problem in validate_label_key(requirement.key):
        raise _requirement_error(req, f'invalid label key "{requirement.key}": {problem}')
    for value in requirement.values:
        for problem in validate_label_value(value):
            raise _requirement_error(req, f'invalid label value "{value}": {problem}')
    return requirement


def _requirement_error(req: str, reason: str) -> BadRequest:
    return BadRequest(f'unable to parse requirement "{req}": {reason}')


def validate_label_key(key: str) -> list[str]:
    """Problems with `key` as a label key (a qualified name: `[dns-prefix/]name`); [] if valid."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return ["prefix part must be non-empty"]
    if prefix.count("/"):
        return ["a qualified name must have at most one '/'"]
    problems: list[str] = []
    if prefix and len(prefix) > _PREFIX_MAX:
        problems.append(f"prefix part must be no more than {_PREFIX_MAX} characters")
    elif prefix and not DNS1123_SUBDOMAIN.fullmatch(prefix):
        problems.append(
            "prefix part must be a lowercase DNS subdomain: lower case alphanumeric "
            "characters, '-' or '.', starting and ending with an alphanumeric character"
        )
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > _NAME_MAX:
        problems.append(f"name part must be no more than {_NAME_MAX} characters")
    elif not _NAME_RE.fullmatch(name):
        problems.append(f"name part {_NAME_RULE}")
    return problems


def validate_label_value(value: str) -> list[str]:
    """Problems with `value` as a label value (empty, or a name of at most 63 characters)."""
    if len(value) > _NAME_MAX:
        return [f"must be no more than {_NAME_MAX} characters"]
    if value and not _NAME_RE.fullmatch(value):
        return [f"a valid label value must be an empty string or {_NAME_RULE}"]
    return []


def validate_labels(labels: Mapping[str, object], *, field: str = "metadata.labels") -> list[Cause]:
    """Check every key and value of `labels`; one `Cause` per problem, [] if all are valid.

    Each cause names the entry as `metadata.labels[key]` (Kubernetes field-path style).
    """
    causes: list[Cause] = []
    for key, value in labels.items():
        path = f"{field}[{key}]"
        if not isinstance(key, str) or not isinstance(value, str):
            causes.append(Cause(path, "label keys and values must be strings"))
            continue
        causes += [Cause(path, f'invalid key "{key}": {p}') for p in validate_label_key(key)]
        causes += [
            Cause(path, f'invalid value "{value}": {p}') for p in validate_label_value(value)
        ]
    return causes
