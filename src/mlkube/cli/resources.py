"""Resource verbs in kubectl's habits: apply, create, get, describe, delete, logs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from mlkube.api.kinds import Kind, by_api_version_kind, lookup
from mlkube.cli import render
from mlkube.cli.common import (
    client_for,
    config_option,
    err,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)
from mlkube.cli.describe_job import describe_job


def read_manifests(path: str) -> Iterator[dict[str, Any]]:
    """Documents of a YAML/JSON file (`-` for stdin); Lists are unpacked."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise yaml.YAMLError(f"{path}: a manifest must be a mapping, got {type(doc).__name__}")
        if doc.get("kind") == "List":
            yield from doc.get("items") or []
        else:
            yield doc


def kind_of(doc: dict[str, Any]) -> Kind:
    return by_api_version_kind(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))


def ref(kind: Kind, name: str) -> str:
    return f"{kind.singular}.{kind.group}/{name}" if kind.group else f"{kind.singular}/{name}"


@click.command()
@click.option(
    "-f", "--filename", "files", multiple=True, required=True, help="Manifest file(s), or -."
)
@namespace_option
@config_option
@handle_errors
def apply(files: tuple[str, ...], namespace: str | None, config_path: str | None) -> None:
    """Create or update resources from manifests."""
    client = client_for(config_path)
    docs = [doc for path in files for doc in read_manifests(path)]
    for doc in docs:
        kind = kind_of(doc)
        if kind.namespaced:
            meta = doc.setdefault("metadata", {})
            meta["namespace"] = meta.get("namespace") or ns_for(client, namespace)
    for doc in docs:
        kind = kind_of(doc)
        result, verb = client.apply(doc)
        out.print(f"{ref(kind, result['metadata']['name'])} {verb}", highlight=False)


@click.command()
@click.argument("kind")
@click.argument("name")
@click.option(
    "--clusterrole", default=None, help="Role to grant: view, edit, admin, cluster-admin."
)
@click.option("--user", "users", multiple=True, help="User to grant the role to (repeatable).")
@click.option(
    "--serviceaccount",
    "accounts",
    multiple=True,
    help="Service account NAMESPACE:NAME to grant the role to (repeatable).",
)
@namespace_option
@config_option
@handle_errors
def create(
    kind: str,
    name: str,
    clusterrole: str | None,
    users: tuple[str, ...],
    accounts: tuple[str, ...],
    namespace: str | None,
    config_path: str | None,
) -> None:
    """Create a namespace or a role binding by name, as kubectl does.

    \b
      mlkube create namespace team-a
      mlkube create rolebinding alice-edit --clusterrole edit --user alice -n team-a
      mlkube create clusterrolebinding ops --clusterrole cluster-admin --user carol
    """
    k = lookup(kind)
    client = client_for(config_path)
    if k.kind == "Namespace":
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    elif k.kind in ("RoleBinding", "ClusterRoleBinding"):
        body = binding_body(k, name, clusterrole, users, accounts)
        if k.namespaced:
            body["metadata"]["namespace"] = ns_for(client, namespace)
    else:
        raise click.UsageError(
            "create takes namespace, rolebinding or clusterrolebinding; use `apply -f` for others"
        )
    client.create(body)
    out.print(f"{ref(k, name)} created", highlight=False)


def binding_body(
    kind: Kind, name: str, role: str | None, users: tuple[str, ...], accounts: tuple[str, ...]
) -> dict[str, Any]:
    """A RoleBinding or ClusterRoleBinding manifest from kubectl-style flags."""
    if not role:
        raise click.UsageError("--clusterrole is required (view, edit, admin or cluster-admin)")
    subjects: list[dict[str, str]] = [{"kind": "User", "name": u} for u in users]
    for account in accounts:
        ns, sep, sa = account.partition(":")
        if not sep or not ns or not sa:
            raise click.BadParameter(
                f"{account!r} is not NAMESPACE:NAME", param_hint="--serviceaccount"
            )
        subjects.append({"kind": "ServiceAccount", "name": sa, "namespace": ns})
    if not subjects:
        raise click.UsageError("name at least one --user or --serviceaccount")
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name},
        "roleRef": {"apiGroup": kind.group, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-l", "--selector", default=None, help="Label selector, e.g. team=vision,tier!=dev.")
@click.option(
    "-o", "--output", type=click.Choice(["table", "yaml", "json", "name"]), default="table"
)
@config_option
@handle_errors
def get(
    kind: str,
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    output: str,
    config_path: str | None,
) -> None:
    """List resources, or show one."""
    k = lookup(kind)
    client = client_for(config_path)
    ns = None if all_namespaces or not k.namespaced else ns_for(client, namespace)
    if name:
        items = [client.get(k.plural, name, namespace=ns)]
    else:
        items = client.list(k.plural, namespace=ns, label_selector=selector)
    if output in ("yaml", "json"):
        obj = items[0] if name else render.as_list(items)
        out.print(render.dump(obj, output), highlight=False, markup=False, end="")
    elif output == "name":
        for obj in items:
            out.print(ref(k, obj["metadata"]["name"]), highlight=False)
    elif not items:
        err.print(f"No resources found{f' in {ns} namespace' if ns else ''}.", highlight=False)
    else:
        out.print(render.table(k, items, all_namespaces=all_namespaces and k.namespaced))


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@namespace_option
@config_option
@handle_errors
def describe(kind: str, name: str | None, namespace: str | None, config_path: str | None) -> None:
    """Show a resource in detail: status, conditions, steps or workers, outputs.

    \b
      mlkube describe pipelinerun my-run
      mlkube describe tj/mnist-ddp
    """
    if name is None:
        kind, _, name = kind.partition("/")
        if not name:
            raise click.UsageError("name the resource: KIND NAME or KIND/NAME")
    k = lookup(kind)
    client = client_for(config_path)
    obj = client.get(k.plural, name, namespace=ns_for(client, namespace) if k.namespaced else None)
    if k.kind == "PipelineRun":
        render.describe_run(obj, out)
    elif k.kind == "TrainingJob":
        describe_job(obj, out, now=datetime.now(UTC))
    else:
        render.describe_generic(obj, out)


@click.command()
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", "files", multiple=True, help="Delete what these manifests name.")
@namespace_option
@config_option
@handle_errors
def delete(
    kind: str | None,
    names: tuple[str, ...],
    files: tuple[str, ...],
    namespace: str | None,
    config_path: str | None,
) -> None:
    """Delete resources by kind and name, or by manifest. Running steps are stopped."""
    client = client_for(config_path)
    targets: list[tuple[Kind, str, str | None]] = []
    for path in files:
        for doc in read_manifests(path):
            k = kind_of(doc)
            meta = doc.get("metadata") or {}
            if not meta.get("name"):
                raise click.UsageError(f"{path}: a {k.kind} without metadata.name names nothing")
            ns = meta.get("namespace") or ns_for(client, namespace)
            targets.append((k, meta["name"], ns if k.namespaced else None))
    if kind:
        k = lookup(kind)
        if not names:
            raise click.UsageError("name the resources to delete, e.g. `delete pipelinerun my-run`")
        ns = ns_for(client, namespace) if k.namespaced else None
        targets += [(k, n, ns) for n in names]
    if not targets:
        raise click.UsageError("give KIND NAME... or -f FILE")
    for k, name, ns in targets:
        client.delete(k.plural, name, namespace=ns)
        out.print(f"{ref(k, name)} deleted", highlight=False)


@click.command()
@click.argument("target")
@click.option("--step", "step_name", default=None, help="The run's step whose log to show.")
@click.option("--attempt", type=int, default=None, help="Attempt number (default: the latest).")
@click.option(
    "--worker", type=int, default=None, help="The training job's worker (rank; default 0)."
)
@click.option("-f", "--follow", is_flag=True, help="Stream the log until the step finishes.")
@namespace_option
@config_option
@handle_errors
def logs(
    target: str,
    step_name: str | None,
    attempt: int | None,
    worker: int | None,
    follow: bool,
    namespace: str | None,
    config_path: str | None,
) -> None:
    """Print a step's log, or a training job worker's (stdout and stderr).

    \b
      mlkube logs my-run --step train
      mlkube logs tj/mnist-ddp --worker 1 -f
    """
    kind_name, slash, name = target.partition("/")
    kind = lookup(kind_name) if slash else lookup("pipelinerun")
    name = name if slash else target
    client = client_for(config_path)
    ns = ns_for(client, namespace)
    if kind.kind == "TrainingJob":
        if step_name is not None or attempt is not None:
            raise click.UsageError("a training job has workers: use --worker, not --step/--attempt")
        chunks = client.worker_logs(name, worker=worker or 0, namespace=ns, follow=follow)
    elif kind.kind == "PipelineRun":
        if worker is not None:
            raise click.UsageError("--worker is for training jobs (tj/NAME)")
        chunks = client.logs(name, step=step_name, namespace=ns, attempt=attempt, follow=follow)
    else:
        raise click.UsageError("logs are kept for pipelineruns and trainingjobs")
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()
