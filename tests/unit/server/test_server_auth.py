"""Token files: reading, constant-time lookup, live reload, and adding tokens."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlkube.server.auth import TokenFile, generate_token, read_tokens, write_token_file


def test_generated_tokens_are_long_and_distinct() -> None:
    tokens = {generate_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 40 for t in tokens)


def test_reads_yaml_and_json(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  - token: abc\n    user: alice\n")
    assert read_tokens(path) == {"abc": "alice"}
    path.write_text('{"tokens": [{"token": "xyz", "user": "bob"}]}')
    assert TokenFile(path).authenticate("xyz") == "bob"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tokens: 3", "list under 'tokens'"),
        ("tokens: [{token: a}]", r"tokens\[0\]"),
        ("{", "not valid"),
    ],
)
def test_malformed_files_fail_at_startup(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        TokenFile(path)


def test_unknown_tokens_and_a_missing_file_authenticate_nobody(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "absent.yaml")
    assert tokens.authenticate("anything") is None
    assert tokens("") is None


def test_add_writes_a_private_file_and_finds_the_user(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tokens.yaml"
    tokens = TokenFile(path)
    tokens.add("t1", "admin")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert tokens.token_for("admin") == "t1" and tokens.token_for("bob") is None
    assert TokenFile(path).authenticate("t1") == "admin"


def test_changes_to_the_file_take_effect_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    write_token_file(path, {"old": "alice"})
    tokens = TokenFile(path)
    write_token_file(path, {"new": "alice"})
    assert tokens.authenticate("new") == "alice" and tokens.authenticate("old") is None
    path.write_text("tokens: oops")  # a broken edit keeps the last good table
    assert tokens.authenticate("new") == "alice"
    path.unlink()  # removing the file revokes everything
    assert tokens.authenticate("new") is None
