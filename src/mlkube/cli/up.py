"""`mlkube up`: run the embedded platform in the foreground."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from mlkube.cli.cluster_options import checked_artifact_store
from mlkube.cli.common import err, handle_errors, out
from mlkube.sdk.config import write_config
from mlkube.server.embedded import EmbeddedPlatform, PortInUse


def mlkube_home() -> Path:
    """`$MLKUBE_HOME`, else `~/.mlkube`: where `up` keeps its data and the client config."""
    return Path(os.environ.get("MLKUBE_HOME") or Path.home() / ".mlkube")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> float:
    """Seconds in `90`, `90s`, `30m`, `1h` or `7d`; a clear error naming `option` otherwise."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise click.BadParameter(
            f"{text!r} is not a duration: write a non-negative number with s, m, h or d",
            param_hint=option,
        )
    return seconds


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State, artifacts and logs (default: $MLKUBE_HOME/data, ~/.mlkube/data).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve the API on.")
@click.option(
    "--port", default=8470, show_default=True, type=int, help="API port (0: any free port)."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MLKUBE_CONFIG",
    default=None,
    help="Where to write the client config (default: $MLKUBE_HOME/config).",
)
@click.option(
    "--usage-half-life",
    default="1h",
    show_default=True,
    callback=lambda ctx, param, value: parse_duration(value, param.opts[0]),
    help="Fair sharing weighs each queue's recent usage, halved after this long "
    "(Kueue's usageHalfLifeTime; 0: only what is held now). E.g. 30m, 1h, 7d.",
)
@click.option(
    "--artifact-store",
    default=None,
    metavar="s3://BUCKET[/PREFIX]",
    callback=lambda ctx, param, value: checked_artifact_store(value),
    help="Keep step artifacts in this object store (a data lake) instead of under the data "
    "folder. S3 is configured the usual AWS way: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...",
)
@handle_errors
def up(
    data_dir: Path | None,
    host: str,
    port: int,
    config_path: Path | None,
    usage_half_life: float,
    artifact_store: str | None,
) -> None:
    """Start the embedded platform: API server, controllers and local runtime."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The autoscaler reads the router's statistics twice a second: not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    home = mlkube_home()
    platform = EmbeddedPlatform(
        data_dir or home / "data",
        host=host,
        port=port,
        usage_half_life=usage_half_life,
        artifact_store=artifact_store,
    )
    config = config_path or home / "config"
    try:
        platform.prepare()
    except PortInUse as e:
        err.print(f"error: {e}", highlight=False, markup=False)
        raise SystemExit(1) from None
    write_config(config, server=platform.url, token=platform.admin_token(), ca_data=platform.ca_pem)
    node = platform.runtime.node()
    out.print(f"mlkube is up at {platform.url}", highlight=False)
    out.print(f"  data:        {platform.data.root}", highlight=False)
    out.print(f"  credentials: {config} (admin token; readable only by you)", highlight=False)
    out.print(
        f"  node:        {node.name}: {len(node.cpus)} CPUs, "
        f"{node.memory_bytes / 2**30:.1f} GiB, {len(node.gpus)} GPUs",
        highlight=False,
    )
    out.print("Press Ctrl+C to stop.", highlight=False)
    platform.serve_prepared()
