"""Kubernetes names and label values from ours, shortened deterministically when too long.

Our run names are DNS-1123 subdomains (up to 253 characters, dots allowed); the objects we
build need shorter, stricter forms: label values (63, no leading or trailing punctuation),
DNS-1123 labels for Job and Deployment names (63, pod hostnames derive from them) and DNS-1035
labels for Service names (63, starting with a letter). A name that does not fit keeps a prefix
and gains `-` + 8 hex digits of its SHA-256, so the same input always gives the same name and
two long names that share a prefix still differ.
"""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 63
_HASH_LEN = 8
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_EDGE_PUNCTUATION = "-_."


def digest(text: str) -> str:
    """The first 8 hex digits of the SHA-256 of `text`: the suffix of a shortened name."""
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LEN]


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    """`text` if it fits in `limit`, else a prefix, `-` and the digest of the whole `text`."""
    if len(text) <= limit:
        return text
    prefix = text[: limit - _HASH_LEN - 1].rstrip(_EDGE_PUNCTUATION)
    return f"{prefix}-{digest(text)}"


def label_value(text: str) -> str:
    """A valid label value (at most 63 characters) for one of our names."""
    return shorten(text).strip(_EDGE_PUNCTUATION)


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
