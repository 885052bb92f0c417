"""Label values from our names, shortened deterministically when too long (pure).

Our names may be DNS-1123 subdomains of up to 253 characters; a label value holds at most 63
and must not start or end with punctuation. A name that does not fit keeps a prefix and gains
`-` + 8 hex digits of its SHA-256, so the same input always gives the same value and two long
names that share a prefix still differ. The runtime labels the objects it builds with these
values and the SDK selects them with the same function, so both agree on every name.
"""

from __future__ import annotations

import hashlib

__all__ = ["HASH_LEN", "MAX_LABEL", "digest", "label_value", "shorten"]

MAX_LABEL = 63
HASH_LEN = 8
_EDGE_PUNCTUATION = "-_."


def digest(text: str) -> str:
    """The first 8 hex digits of the SHA-256 of `text`: the suffix of a shortened name."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LEN]


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    """`text` if it fits in `limit`, else a prefix, `-` and the digest of the whole `text`."""
    if len(text) <= limit:
        return text
    prefix = text[: limit - HASH_LEN - 1].rstrip(_EDGE_PUNCTUATION)
    return f"{prefix}-{digest(text)}"


def label_value(text: str) -> str:
    """A valid label value (at most 63 characters) for one of our names."""
    return shorten(text).strip(_EDGE_PUNCTUATION)
