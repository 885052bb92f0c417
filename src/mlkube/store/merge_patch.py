"""JSON merge patch (RFC 7386), the `application/merge-patch+json` of `kubectl patch --type merge`.

A patch object says, key by key, what to set; `null` deletes the key; any non-object value
(lists included) replaces the target value whole.
"""

from __future__ import annotations

import copy
from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with `patch` applied, following RFC 7386 section 2 exactly.

    Pure: neither argument is modified. The result shares no mutable structure with `patch`,
    but sub-objects of `target` that the patch does not touch are shared with it, so copy the
    result before mutating it if `target` must stay intact.
    """
    if not isinstance(patch, dict):
        # A non-object patch replaces the target whole; `null` inside it stays (RFC 7386).
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
