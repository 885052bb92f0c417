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
config_option = click.option(
    "--config",
    "config_path",
    envvar="MLKUBE_CONFIG",
    default=None,
    help="Client config (kubeconfig format); default ~/.mlkube/config.",
)


def client_for(config_path: str | None) -> Client:
    return Client.from_config(config_path)


def ns_for(client: Client, namespace: str | None) -> str:
    """The namespace a command works in: `-n`, else the client config's."""
    return namespace or client.namespace or "default"
