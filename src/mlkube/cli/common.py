"""What every `mlkube` command shares: error printing, options, the client."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import yaml
from rich.console import Console

from mlkube.api.errors import ApiError
from mlkube.sdk.client import Client
from mlkube.sdk.dsl import DslError

F = TypeVar("F", bound=Callable[..., Any])
# Like kubectl, never wrap table rows when output goes to a file or a pipe.
_WIDTH = None if sys.stdout.isatty() else 250
out = Console(soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_WIDTH)


def handle_errors(fn: F) -> F:
    """Print API and input errors the way kubectl does and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as e:
            prefix = f"Error from server ({e.reason})" if e.code else "Error"
            err.print(f"{prefix}: {e}", highlight=False, markup=False)
            sys.exit(1)
        except (DslError, OSError, yaml.YAMLError) as e:
            err.print(f"error: {e}", highlight=False, markup=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


namespace_option = click.option(
    "-n", "--namespace", default=None, help="Namespace (default: from the config)."
)
_CONTEXT_KEY = "mlkube.kubeconfig_context"


def _remember_context(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # Kept on the click context rather than passed as an argument, so that every command
    # taking `config_path` gets `--context` without a new parameter of its own.
    ctx.meta[_CONTEXT_KEY] = value


def config_option(fn: F) -> F:
    """`--config`/`--kubeconfig FILE` (passed as `config_path`) and `--context NAME`, which
    `client_for` reads. Which file when none is given: see `mlkube.sdk.config`."""
    fn = click.option(
        "--context",
        default=None,
        expose_value=False,
        callback=_remember_context,
        help="Kubeconfig context to use (default: its current-context).",
    )(fn)
    return click.option(
        "--config",
        "--kubeconfig",
        "config_path",
        envvar="MLKUBE_CONFIG",
        default=None,
        help="Client config (a kubeconfig); default $MLKUBE_CONFIG, $MLKUBE_HOME/config, "
        "~/.mlkube/config if it exists, else the first file of $KUBECONFIG.",
    )(fn)


def client_for(config_path: str | None) -> Client:
    """A client for the chosen kubeconfig file and `--context` of the running command."""
    ctx = click.get_current_context(silent=True)
    context = ctx.meta.get(_CONTEXT_KEY) if ctx is not None else None
    return Client.from_config(config_path, context=context)


def ns_for(client: Client, namespace: str | None) -> str:
    """The namespace a command works in: `-n`, else the client config's."""
    return namespace or client.namespace or "default"
