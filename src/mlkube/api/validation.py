"""Turn pydantic errors and graph problems into `Invalid` errors that name each field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from mlkube.api.errors import Cause
from mlkube.api.meta import DNS1123_LABEL, DNS1123_SUBDOMAIN
from mlkube.api.pipeline import PipelineSpec

_REASONS = {
    "missing": "FieldValueRequired",
    "extra_forbidden": "FieldValueNotSupported",
    "literal_error": "FieldValueNotSupported",
}


def field_path(loc: Sequence[int | str]) -> str:
    """`('spec', 'steps', 0, 'name')` → `spec.steps[0].name`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def causes_from_validation_error(error: ValidationError, *, prefix: str = "") -> list[Cause]:
    """One `Cause` per pydantic error, with a Kubernetes-style field path and message."""
    causes = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not (isinstance(p, str) and "[" in p)]
        path = field_path([prefix, *loc] if prefix else loc) if loc or prefix else "<root>"
        kind = item["type"]
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "Required value"
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            if "input" in item and kind not in ("model_type", "dict_type"):
                message += f" (got {_short(item['input'])})"
        causes.append(
            Cause(field=path, message=message, reason=_REASONS.get(kind, "FieldValueInvalid"))
        )
    return causes


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def name_causes(name: str | None, *, field: str, label: bool = False) -> list[Cause]:
    """Kubernetes name rules: DNS-1123 subdomain (253) or, with `label`, DNS-1123 label (63)."""
    if not name:
        return [Cause(field=field, message="Required value", reason="FieldValueRequired")]
    limit, pattern = (63, DNS1123_LABEL) if label else (253, DNS1123_SUBDOMAIN)
    if len(name) > limit or not pattern.fullmatch(name):
        kind = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return [
            Cause(
                field=field,
                message=(
                    f"invalid name {name!r}: a lowercase {kind} must consist of lower case "
                    f"alphanumeric characters, '-' or '.', start and end with an alphanumeric "
                    f"character, and be at most {limit} characters"
                ),
            )
        ]
    return []


def pipeline_causes(spec: PipelineSpec, *, field: str) -> list[Cause]:
    """Everything wrong with a pipeline's graph: names, references, parameters, cycles."""
    causes: list[Cause] = []
    by_name: dict[str, int] = {}
    for i, step in enumerate(spec.steps):
        causes += name_causes(step.name, field=f"{field}.steps[{i}].name", label=True)
        if step.name in by_name:
            causes.append(Cause(f"{field}.steps[{i}].name", f"duplicate step name {step.name!r}"))
        by_name.setdefault(step.name, i)
    params = {p.name for p in spec.params}
    for i in range(len(spec.steps)):
        causes += _step_reference_causes(spec, i, by_name, params, field=f"{field}.steps[{i}]")
    for j, out in enumerate(spec.outputs):
        causes += _output_ref_causes(
            spec, out.from_step, out.output, by_name, field=f"{field}.outputs[{j}]"
        )
    if not causes:
        cycle = find_cycle({s.name: s.upstream() for s in spec.steps})
        if cycle:
            causes.append(
                Cause(f"{field}.steps", "cycle in step dependencies: " + " -> ".join(cycle))
            )
    return causes


def _step_reference_causes(
    spec: PipelineSpec, index: int, by_name: dict[str, int], params: set[str], *, field: str
) -> list[Cause]:
    step = spec.steps[index]
    causes: list[Cause] = []
    seen: set[str] = set()
    for k, source in enumerate(step.inputs):
        where = f"{field}.inputs[{k}]"
        if source.name in seen:
            causes.append(Cause(f"{where}.name", f"duplicate input {source.name!r}"))
        seen.add(source.name)
        if source.param is not None and source.param not in params:
            causes.append(Cause(f"{where}.param", f"pipeline has no parameter {source.param!r}"))
        if source.from_step is not None:
            causes += _output_ref_causes(
                spec, source.from_step, source.output, by_name, field=where
            )
    for k, dep in enumerate(step.depends_on):
        if dep not in by_name:
            causes.append(Cause(f"{field}.dependsOn[{k}]", f"no step named {dep!r}"))
    if len(set(step.outputs)) != len(step.outputs):
        causes.append(Cause(f"{field}.outputs", "output names must be unique"))
    return causes


def _output_ref_causes(
    spec: PipelineSpec, step: str, output: str, by_name: dict[str, int], *, field: str
) -> list[Cause]:
    if step not in by_name:
        return [Cause(f"{field}.fromStep", f"no step named {step!r}")]
    declared = spec.steps[by_name[step]].outputs
    if output not in declared:
        return [
            Cause(
                f"{field}.output",
                f"step {step!r} has no output {output!r} "
                f"(it declares {', '.join(declared) or 'none'})",
            )
        ]
    return []


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """A dependency cycle as a path `[a, b, a]`, or `[]`; iterative, so deep graphs are fine."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in graph:
        if state.get(root):
            continue
        path: list[str] = [root]
        iters = [iter(graph.get(root, []))]
        state[root] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt) and nxt in graph:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(graph[nxt]))
    return []


def topological_order(graph: dict[str, list[str]]) -> list[str]:
    """Steps ordered so every step follows its upstreams; ties keep the given order (stable).

    Kahn's algorithm in waves, linear in steps plus edges. Raises `ValueError` on a cycle.
    """
    waiting = {name: len(set(ups)) for name, ups in graph.items()}
    downstream: dict[str, list[str]] = {name: [] for name in graph}
    for name, ups in graph.items():
        for up in set(ups):
            downstream[up].append(name)
    position = {name: i for i, name in enumerate(graph)}
    wave = [name for name, count in waiting.items() if count == 0]
    order: list[str] = []
    while wave:
        order += wave
        nxt = []
        for done in wave:
            for name in downstream[done]:
                waiting[name] -= 1
                if waiting[name] == 0:
                    nxt.append(name)
        wave = sorted(nxt, key=position.__getitem__)
    if len(order) != len(graph):
        raise ValueError("graph has a cycle")
    return order
