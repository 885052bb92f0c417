"""`mlkube token create USER`: mint a bearer token for a user or service account.

Tokens live in the embedded platform's data directory (`tokens.yaml`, readable only by its
owner), which the running server re-reads when it changes; so minting one takes access to that
directory, like holding a cluster's CA key. What a token may do is decided by role bindings
(`mlkube create rolebinding`), not here.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlkube.api.rbac import SERVICE_ACCOUNT_PREFIX
from mlkube.cli.common import handle_errors, out
from mlkube.cli.up import mlkube_home
from mlkube.sdk.config import load_config, write_config
from mlkube.server.auth import TokenFile, generate_token


@click.group()
def token() -> None:
    """Manage API tokens of the embedded platform."""


@token.command(name="create")
@click.argument("user")
@click.option(
    "--serviceaccount",
    is_flag=True,
    help="USER is NAMESPACE:NAME of a service account (system:serviceaccount:NS:NAME).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The platform's data directory (default: $MLKUBE_HOME/data).",
)
@click.option(
    "--write-config",
    "config_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a client config for this token here (mode 0600).",
)
@click.option(
    "-n",
    "--namespace",
    default="default",
    show_default=True,
    help="Default namespace in the written config.",
)
@handle_errors
def create_token(
    user: str, serviceaccount: bool, data_dir: Path | None, config_out: Path | None, namespace: str
) -> None:
    """Create a token for USER and print it."""
    if serviceaccount:
        ns, sep, name = user.partition(":")
        if not sep or not ns or not name:
            raise click.BadParameter(f"{user!r} is not NAMESPACE:NAME", param_hint="USER")
        user = f"{SERVICE_ACCOUNT_PREFIX}{ns}:{name}"
    folder = data_dir or mlkube_home() / "data"
    if not folder.is_dir():
        raise click.UsageError(
            f"no platform data at {folder}: run `mlkube up` first or pass --data-dir"
        )
    secret = generate_token()
    TokenFile(folder / "tokens.yaml").add(secret, user)
    if config_out is not None:
        current = load_config()
        write_config(
            config_out,
            server=current.server,
            token=secret,
            namespace=namespace,
            ca_data=current.ca_data,
        )
        out.print(f"wrote a client config for {user} to {config_out}", highlight=False)
    else:
        out.print(secret, highlight=False, markup=False)
