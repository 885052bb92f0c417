"""`mlkube operator`'s admission webhook options, as one decorator.

    @webhook_options            # under the command's other options
    def operator(..., namespace: str, webhook: WebhookSettings | None) -> None:

adds `--webhook-port`, `--webhook-cert-dir` and `--no-webhook`, and hands the command one
`webhook` argument instead: the `WebhookSettings` to pass to `OperatorPlatform`, or None
with `--no-webhook`. The command must have a `namespace` parameter (the operator's own: the
webhook's Service lives there, and the self-signed certificate names it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mlkube.install.webhook import WEBHOOK_PORT
from mlkube.server.operator_webhook import WebhookSettings

__all__ = ["webhook_options", "webhook_settings"]

_OPTIONS = (
    click.option(
        "--webhook-port",
        type=click.IntRange(0, 65535),
        default=WEBHOOK_PORT,
        show_default=True,
        help="Port of the validating admission webhook (HTTPS, POST /validate; 0: any free port).",
    ),
    click.option(
        "--webhook-cert-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Folder holding the webhook's tls.crt and tls.key (cert-manager's Secret layout), "
        "served as they are; the caBundle is then left to cert-manager. Default: a "
        "self-signed certificate made at start, its CA written into the caBundle.",
    ),
    click.option(
        "--no-webhook",
        is_flag=True,
        default=False,
        help="Serve no admission webhook (the cluster then stores our kinds unchecked, unless "
        "its ValidatingWebhookConfiguration is removed: with failurePolicy Fail it refuses "
        "them).",
    ),
)


def webhook_settings(
    *, port: int, cert_dir: Path | None, disabled: bool, namespace: str
) -> WebhookSettings | None:
    """The settings the options ask for; `click.BadParameter` for a cert folder without a
    certificate and key."""
    if disabled:
        return None
    if cert_dir is not None:
        missing = [n for n in ("tls.crt", "tls.key") if not (cert_dir / n).is_file()]
        if missing:
            raise click.BadParameter(
                f"{cert_dir} holds no {' or '.join(missing)}", param_hint="--webhook-cert-dir"
            )
    return WebhookSettings(port=port, cert_dir=cert_dir, namespace=namespace)


def webhook_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options to `command` and pass it `webhook=` (see the module docstring)."""

    @functools.wraps(command)
    def with_webhook(
        *args: Any,
        webhook_port: int,
        webhook_cert_dir: Path | None,
        no_webhook: bool,
        **kwargs: Any,
    ) -> Any:
        settings = webhook_settings(
            port=webhook_port,
            cert_dir=webhook_cert_dir,
            disabled=no_webhook,
            namespace=kwargs["namespace"],
        )
        return command(*args, webhook=settings, **kwargs)

    wrapped: Callable[..., Any] = with_webhook
    for option in reversed(_OPTIONS):
        wrapped = option(wrapped)
    return wrapped
