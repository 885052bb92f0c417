"""The client config: a kubeconfig written privately and read back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from mlkube.sdk.config import ConfigError, config_path, load_config, parse_kubeconfig, write_config


def test_written_config_is_private_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".mlkube" / "config"
    write_config(path, server="http://127.0.0.1:8470", token="s3cret", namespace="team")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    config = load_config(path)
    assert (config.server, config.token, config.namespace) == (
        "http://127.0.0.1:8470",
        "s3cret",
        "team",
    )


def test_rewriting_a_world_readable_file_leaves_it_private(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("old")
    path.chmod(0o644)
    write_config(path, server="http://h:1", token="t")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config"], "no temporary file left behind"


def test_it_is_a_real_kubeconfig(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config", server="http://h:1", token="t")
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
    assert doc["current-context"] == "mlkube"
    assert doc["clusters"][0]["cluster"]["server"] == "http://h:1"
    assert doc["users"][0]["user"]["token"] == "t"
    assert doc["contexts"][0]["context"]["namespace"] == "default"


def test_missing_config_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r'no mlkube config at .*: run "mlkube up" first or set MLKUBE_CONFIG'
    ):
        load_config(tmp_path / "absent")


def test_path_resolution_order() -> None:
    env = {"MLKUBE_CONFIG": "/from/env"}
    assert config_path("/given", environ=env) == Path("/given")
    assert config_path(None, environ=env) == Path("/from/env")
    assert config_path(None, environ={}) == Path("~/.mlkube/config").expanduser()


def test_contexts_are_chosen_like_kubectl() -> None:
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": "http://c"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "a", "context": {"cluster": "c", "user": "u"}},
            {"name": "b", "context": {"cluster": "c", "user": "u", "namespace": "ml"}},
        ],
        "current-context": "b",
    }
    assert parse_kubeconfig(doc).namespace == "ml"
    assert parse_kubeconfig(doc, context="a").namespace == "default"
    with pytest.raises(ConfigError, match="no context 'z'"):
        parse_kubeconfig(doc, context="z")


def test_incomplete_configs_name_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'http://c'}}]\n"
    )
    with pytest.raises(ConfigError, match="no user with a token"):
        load_config(path)
    path.write_text("- a list")
    with pytest.raises(ConfigError, match="must be a kubeconfig mapping"):
        load_config(path)
