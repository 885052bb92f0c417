"""The `mlkube` command, in kubectl's habits: verbs, `-n`, `-o`, exit codes.

Every verb but `up` is a client of the public HTTP API. Exit code 0 is success, 1 an error
(printed to stderr as `Error from server (Reason): message`, as kubectl does).
"""

from __future__ import annotations

import click

from mlkube.cli import (
    export,
    install,
    operator,
    pipelines,
    recommend,
    resources,
    serve,
    sim,
    tokens,
    up,
    usage,
    why,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlkube")
def cli() -> None:
    """mlkube: pipelines, training and serving for ML teams, on one machine or on Kubernetes."""


for command in (
    up.up,
    resources.apply,
    resources.create,
    resources.get,
    resources.describe,
    resources.delete,
    resources.logs,
    pipelines.run,
    pipelines.compile_,
    serve.serve,
    tokens.token,
    usage.usage,
    recommend.recommend,
    why.why,
    install.install,
    export.export,
    operator.operator,
    sim.sim,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli()
