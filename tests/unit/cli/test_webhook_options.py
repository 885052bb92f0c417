"""`mlkube operator`'s webhook options, on a command of their own (the decorator the CLI uses)."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from mlkube.cli.webhook_options import webhook_options
from mlkube.server.operator_webhook import WebhookSettings

SEEN: list[WebhookSettings | None] = []


@click.command()
@click.option("--namespace", default="mlkube-system")
@webhook_options
def command(namespace: str, webhook: WebhookSettings | None) -> None:
    SEEN.append(webhook)


def settings(*args: str) -> WebhookSettings | None:
    SEEN.clear()
    result = CliRunner().invoke(command, list(args))
    assert result.exit_code == 0, result.output
    (seen,) = SEEN
    return seen


def test_the_webhook_is_on_by_default_on_9443_in_the_operators_namespace() -> None:
    assert settings("--namespace", "ops") == WebhookSettings(port=9443, namespace="ops")


def test_no_webhook_and_another_port() -> None:
    assert settings("--no-webhook") is None
    assert settings("--webhook-port", "0") == WebhookSettings(port=0)


def test_a_cert_dir_must_hold_a_certificate_and_key(tmp_path: Path) -> None:
    refused = CliRunner().invoke(command, ["--webhook-cert-dir", str(tmp_path)])
    assert refused.exit_code == 2
    assert f"Invalid value for --webhook-cert-dir: {tmp_path} holds no tls.crt or tls.key" in (
        refused.output
    )
    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "tls.key").write_text("key")
    assert settings("--webhook-cert-dir", str(tmp_path)) == WebhookSettings(cert_dir=tmp_path)
