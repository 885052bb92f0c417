"""Access control on the embedded platform: tokens, role bindings, 403s and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mlkube.api.errors import Forbidden, Invalid, Unauthorized
from mlkube.sdk.client import Client
from mlkube.server.auth import TokenFile, generate_token
from mlkube.server.embedded import EmbeddedPlatform
from tests.integration.platform.conftest import py, run_body


def binding(name: str, role: str, user: str, namespace: str | None = None) -> dict[str, object]:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta: dict[str, str] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "name": user}],
    }


class Team:
    def __init__(self, platform: EmbeddedPlatform, admin: Client) -> None:
        self.platform = platform
        self.admin = admin
        self.clients: list[Client] = []

    def user(self, name: str) -> Client:
        token = generate_token()
        TokenFile(self.platform.token_file).add(token, name)
        client = Client(self.platform.url, token, ca_data=self.platform.ca_pem)
        self.clients.append(client)
        return client


@pytest.fixture
def team(platform: EmbeddedPlatform, client: Client) -> Iterator[Team]:
    for ns in ("team-a", "team-b"):
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    client.create(binding("alice-edit", "edit", "alice", "team-a"))
    client.create(binding("bob-view", "view", "bob", "team-b"))
    t = Team(platform, client)
    yield t
    for c in t.clients:
        c.close()


def audit_lines(platform: EmbeddedPlatform) -> list[dict[str, object]]:
    text = (platform.data.root / "audit.log").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_team_token_cannot_touch_another_team(team: Team, platform: EmbeddedPlatform) -> None:
    alice = team.user("alice")
    body = run_body("mine", [py("a", "noop")], namespace="team-a")
    body["metadata"]["annotations"] = {"mlkube.io/created-by": "bob"}  # cannot be spoofed
    created = alice.create(body)
    assert created["metadata"]["namespace"] == "team-a"
    assert created["metadata"]["annotations"]["mlkube.io/created-by"] == "alice"
    assert [r["metadata"]["name"] for r in alice.list("pipelineruns", namespace="team-a")] == [
        "mine"
    ]
    team.admin.create(run_body("theirs", [py("a", "noop")], namespace="team-b"))
    with pytest.raises(Forbidden) as info:
        alice.get("pipelineruns", "theirs", namespace="team-b")
    assert str(info.value) == (
        'pipelineruns.mlkube.io "theirs" is forbidden: User "alice" cannot get resource '
        '"pipelineruns" in API group "mlkube.io" in the namespace "team-b"'
    )
    with pytest.raises(Forbidden):
        alice.list("pipelineruns", namespace="team-b")
    with pytest.raises(Forbidden):
        alice.delete("pipelineruns", "theirs", namespace="team-b")
    with pytest.raises(Forbidden):
        alice.create(run_body("sneaky", [py("a", "noop")], namespace="team-b"))
    with pytest.raises(Forbidden):
        alice.list("pipelineruns")  # across all namespaces
    assert (
        team.admin.get("pipelineruns", "theirs", namespace="team-b")["metadata"]["name"] == "theirs"
    )
    refused = [r for r in audit_lines(platform) if r["user"] == "alice" and r["code"] == 403]
    assert {(r["verb"], r["namespace"]) for r in refused} >= {
        ("get", "team-b"),
        ("list", "team-b"),
        ("delete", "team-b"),
        ("create", "team-b"),
    }
    assert all(r["decision"] == "forbid" for r in refused)


def test_roles_view_edit_admin(team: Team) -> None:
    bob = team.user("bob")
    team.admin.create(run_body("r", [py("a", "noop")], namespace="team-b"))
    assert bob.get("pipelineruns", "r", namespace="team-b")["metadata"]["name"] == "r"
    assert bob.get("namespaces", "team-b")["metadata"]["name"] == "team-b"
    with pytest.raises(Forbidden):
        bob.delete("pipelineruns", "r", namespace="team-b")  # view cannot change
    with pytest.raises(Forbidden):
        bob.list("namespaces")  # only cluster admins list namespaces
    alice = team.user("alice")
    with pytest.raises(Forbidden):
        alice.create(binding("alice-admin", "admin", "alice", "team-a"))  # edit cannot grant
    team.admin.create(binding("carol-admin", "admin", "carol", "team-a"))
    carol = team.user("carol")
    carol.create(binding("dave-view", "view", "dave", "team-a"))
    dave = team.user("dave")
    assert dave.list("pipelineruns", namespace="team-a") == []
    with pytest.raises(Forbidden):
        carol.create(binding("carol-b", "admin", "carol", "team-b"))
    assert len(bob.list("nodes")) == 1  # everyone may see the machines


def test_service_accounts_and_unknown_tokens(team: Team, platform: EmbeddedPlatform) -> None:
    team.admin.create(
        {
            **binding("ci-edit", "edit", "unused", "team-a"),
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"}],
        }
    )
    ci = team.user("system:serviceaccount:team-a:ci")
    ci.create(run_body("from-ci", [py("a", "noop")], namespace="team-a"))
    stranger = Client(platform.url, "not-a-token", ca_data=platform.ca_pem)
    team.clients.append(stranger)
    with pytest.raises(Unauthorized):
        stranger.list("pipelineruns", namespace="team-a")


def test_bindings_are_validated(client: Client) -> None:
    with pytest.raises(Invalid) as info:
        client.create(binding("bad", "superuser", "eve", "default"))
    assert info.value.causes[0].field == "roleRef.name"
    assert "unknown role 'superuser'" in info.value.causes[0].message
