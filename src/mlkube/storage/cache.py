"""Step cache: a step whose code and inputs are unchanged reuses its earlier outputs.

The key is a SHA-256 over everything that decides a step's result: the code (the bytes of the
source file, so an edit anywhere in it invalidates), how it is called (function or command,
arguments, environment), its resolved inputs (values, and artifacts by digest) and the output
names. Entries are small JSON files written atomically; artifacts they point to are
content-addressed and never rewritten, so an entry stays valid.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def source_fingerprint(module: str) -> str:
    """SHA-256 of the source of a module name or `.py` path; the name itself if not found."""
    path: str | None = module if module.endswith(".py") else None
    if path is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        path = spec.origin if spec is not None and spec.has_location else None
    if path is None or not os.path.isfile(path):
        return "missing:" + module
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


def cache_key(material: dict[str, Any]) -> str:
    """A stable key over JSON-able material (sorted keys, no whitespace)."""
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class StepCache:
    """Cache entries as `<root>/<key>.json` holding a step's outputs."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The outputs stored under `key`, or None; an entry whose artifact vanished is a miss."""
        try:
            entry = json.loads((self.root / f"{key}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        outputs: list[dict[str, Any]] = entry["outputs"]
        for out in outputs:
            uri = (out.get("artifact") or {}).get("uri", "")
            if uri.startswith("file://") and not os.path.exists(uri.removeprefix("file://")):
                return None
        return outputs

    def put(self, key: str, outputs: list[dict[str, Any]], *, source: str) -> None:
        """Store outputs under `key`; `source` says which run and step produced them."""
        self.root.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"outputs": outputs, "source": source})
        with tempfile.NamedTemporaryFile("w", dir=self.root, delete=False, suffix=".tmp") as tmp:
            tmp.write(body)
        os.replace(tmp.name, self.root / f"{key}.json")
