"""`mlkube run FILE.py` (submit and follow) and `mlkube compile FILE.py` (to a manifest)."""

from __future__ import annotations

import sys
from typing import Any

import click
import yaml

from mlkube.api.meta import GROUP_VERSION
from mlkube.api.pipeline import PipelineSpec
from mlkube.cli import render
from mlkube.cli.common import (
    client_for,
    config_option,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)
from mlkube.cli.follow import follow_run
from mlkube.sdk.loader import find_pipeline, load_file
from mlkube.sdk.rightsizing import PIPELINE_LABEL


def spec_dict(spec: PipelineSpec) -> dict[str, Any]:
    """A compact manifest form: defaults left out, as a person would write it."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def parse_params(pairs: tuple[str, ...]) -> list[dict[str, Any]]:
    """`-p C=0.5 -p name=x` → typed values (YAML scalars: numbers, booleans, lists)."""
    params = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="-p/--param")
        params.append({"name": key, "value": yaml.safe_load(raw) if raw else ""})
    return params


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--pipeline", "pipeline_name", default=None, help="Which @pipeline, if the file has several."
)
@click.option("-p", "--param", "params", multiple=True, help="Pipeline parameter NAME=VALUE.")
@click.option("--name", default=None, help="Run name (default: generated from the pipeline's).")
@click.option(
    "--no-cache", is_flag=True, help="Run every step even if an identical one was cached."
)
@click.option("-d", "--detach", is_flag=True, help="Submit and return without following.")
@namespace_option
@config_option
@handle_errors
def run(
    file: str,
    pipeline_name: str | None,
    params: tuple[str, ...],
    name: str | None,
    no_cache: bool,
    detach: bool,
    namespace: str | None,
    config_path: str | None,
) -> None:
    """Submit a Python pipeline and follow it live; exit 1 if it fails."""
    pipeline = find_pipeline(load_file(file), pipeline_name)
    spec = pipeline.compile()
    client = client_for(config_path)
    ns = ns_for(client, namespace)
    meta: dict[str, Any] = {"namespace": ns, "labels": {PIPELINE_LABEL: pipeline.name}}
    meta.update({"name": name} if name else {"generateName": f"{pipeline.name}-"})
    body = {
        "apiVersion": GROUP_VERSION,
        "kind": "PipelineRun",
        "metadata": meta,
        "spec": {
            "pipelineSpec": spec_dict(spec),
            "params": parse_params(params),
            "cache": not no_cache,
        },
    }
    created = client.create(body)
    run_name = created["metadata"]["name"]
    out.print(f"pipelinerun.mlkube.io/{run_name} created", highlight=False)
    if detach:
        return
    final = follow_run(client, run_name, namespace=ns, console=out)
    render.describe_outputs(final, out)
    out.print(f"\nLook closer:  mlkube describe pipelinerun {run_name} -n {ns}", highlight=False)
    out.print(
        f"              mlkube logs {run_name} --step {spec.steps[-1].name} -n {ns}",
        highlight=False,
    )
    if (final.get("status") or {}).get("phase") != "Succeeded":
        sys.exit(1)


@click.command(name="compile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--pipeline", "pipeline_name", default=None, help="Which @pipeline, if the file has several."
)
@click.option(
    "-o", "--output", "output_file", default="-", help="Write the manifest here (default stdout)."
)
@handle_errors
def compile_(file: str, pipeline_name: str | None, output_file: str) -> None:
    """Compile a Python pipeline into a `Pipeline` manifest for `mlkube apply -f`."""
    pipeline = find_pipeline(load_file(file), pipeline_name)
    manifest = {
        "apiVersion": GROUP_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": pipeline.name},
        "spec": spec_dict(pipeline.compile()),
    }
    text = yaml.safe_dump(manifest, sort_keys=False)
    if output_file == "-":
        sys.stdout.write(text)
    else:
        with open(output_file, "w") as handle:
            handle.write(text)
        out.print(f"wrote {output_file}", highlight=False)
