"""Kubernetes names and label values from ours, shortened deterministically when too long.

Our run names are DNS-1123 subdomains (up to 253 characters, dots allowed); the objects we
build need shorter, stricter forms: label values (63, no leading or trailing punctuation),
DNS-1123 labels for Job and Deployment names (63, pod hostnames derive from them) and DNS-1035
labels for Service names (63, starting with a letter). A name that does not fit keeps a prefix
and gains `-` + 8 hex digits of its SHA-256, so the same input always gives the same name and
two long names that share a prefix still differ.
"""

from __future__ import annotations

import re

# Label values are shared with the SDK, which selects pods by them: they live in `api`.
from mlkube.api.short_names import HASH_LEN as _HASH_LEN
from mlkube.api.short_names import MAX_LABEL, digest, label_value, shorten

__all__ = ["MAX_LABEL", "digest", "dns1035_label", "dns_label", "label_value", "shorten"]

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def dns_label(*parts: str, limit: int = MAX_LABEL) -> str:
    """A DNS-1123 label from name parts joined by `-`, at most `limit` characters.

    Characters a label may not hold (dots, upper case) become `-`; then, as when the name is
    too long, the digest of the original is appended, so `a.b` and `a-b` never share a name.
    """
    joined = "-".join(parts)
    cleaned = _NOT_DNS.sub("-", joined.lower()).strip("-")
    if cleaned == joined and len(cleaned) <= limit:
        return cleaned
    keep = cleaned[: limit - _HASH_LEN - 1].rstrip("-")
    return f"{keep}-{digest(joined)}" if keep else digest(joined)


def dns1035_label(*parts: str, limit: int = MAX_LABEL) -> str:
    """A DNS-1035 label (a Service name): a DNS-1123 label that starts with a letter."""
    name = dns_label(*parts, limit=limit)
    if name[:1].isalpha():
        return name
    return dns_label("x", *parts, limit=limit)
