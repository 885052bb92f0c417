"""Every manifest under examples/ is valid as the API would check it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlkube.api.kinds import by_api_version_kind, validate

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_manifests_validate(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        validate(by_api_version_kind(doc["apiVersion"], doc["kind"]), doc)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2
