"""The Python DSL: `@step` functions wired into a `@pipeline`, compiled to a `PipelineSpec`.

Inside a pipeline function, calling a step does not run it: it records a node and returns a
handle whose outputs can be passed to later steps. Outside a pipeline the step is the plain
function, so it can be unit-tested directly. Values that cross steps are handled by the
platform: small JSON values inline, everything else as artifacts by reference.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.metadata
import inspect
import keyword
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

from pydantic import ValidationError

from mlkube.api.pipeline import (
    DEFAULT_OUTPUT,
    SOURCE_LIMIT,
    InputSource,
    Isolation,
    PipelineOutput,
    PipelineSpec,
    PythonFunction,
    RetryPolicy,
    StepSpec,
)
from mlkube.api.pipeline import (
    ParamSpec as PipelineParam,
)
from mlkube.api.resources import Resources
from mlkube.api.volumes import Volume, volume_causes
from mlkube.sdk.volumes import Mounts, VolumeError, mounts_of

P = ParamSpec("P")
R = TypeVar("R")
# A GPU fallback list: model -> count, in order of preference.
GpuAlternatives = Mapping[str, float] | Sequence[tuple[str, float]]

_BUILDING: contextvars.ContextVar[_Graph | None] = contextvars.ContextVar(
    "mlkube_graph", default=None
)


class DslError(ValueError):
    """A pipeline that cannot be compiled; the message names the step and the problem."""


@dataclass(frozen=True)
class OutputRef:
    """One named output of a step call, to be passed into another step."""

    call: StepCall
    output: str


@dataclass(frozen=True)
class ParamRef:
    """A pipeline parameter, resolved when the run starts."""

    name: str


@dataclass(eq=False)
class StepCall:
    """A node of the graph: a step with its bound inputs. Indexing gives named outputs."""

    step: Step[Any, Any]
    inputs: dict[str, Any]
    name: str
    after_calls: list[StepCall] = field(default_factory=list)

    def __getitem__(self, output: str) -> OutputRef:
        if output not in self.step.outputs:
            raise DslError(
                f"step {self.name!r} has no output {output!r} "
                f"(outputs: {', '.join(self.step.outputs)})"
            )
        return OutputRef(self, output)

    def named(self, name: str) -> StepCall:
        """Give this call its own step name (e.g. `train-c1`)."""
        self.name = name
        return self

    def after(self, *calls: StepCall) -> StepCall:
        """Run after these calls even though no data flows between them."""
        self.after_calls.extend(calls)
        return self


class Step(Generic[P, R]):
    """A function made into a pipeline step; see `step()`."""

    def __init__(self, fn: Callable[P, R], *, outputs: Sequence[str], spec: dict[str, Any]) -> None:
        functools.update_wrapper(self, fn)
        self.__mlkube_fn__ = fn
        self.fn = fn
        self.outputs = tuple(outputs)
        self.spec_fields = spec
        self.signature = inspect.signature(fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        graph = _BUILDING.get()
        if graph is None:
            return self.fn(*args, **kwargs)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as err:
            raise DslError(f"step {self.fn.__name__!r}: {err}") from None
        call = StepCall(self, self._flatten(bound.arguments), graph.unique_name(self.fn.__name__))
        graph.calls.append(call)
        return call  # type: ignore[return-value]  # a handle stands in for the value

    def _flatten(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Named inputs; a `**kwargs` parameter contributes one input per keyword."""
        inputs: dict[str, Any] = {}
        for name, value in arguments.items():
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                inputs.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                raise DslError(f"step {self.fn.__name__!r}: pass inputs by name, not as *{name}")
            else:
                inputs[name] = value
        return inputs

    def module_ref(self) -> str:
        """Where a worker finds this function: the module name for installed packages (they
        import anywhere), else the absolute path of its source file (scripts, notebooks' files,
        modules found only through the current directory)."""
        module = self.fn.__module__
        if module.split(".")[0] in _installed_top_levels():
            return module
        source = inspect.getsourcefile(self.fn)
        if source is None:
            raise DslError(f"cannot find the source file of step {self.fn.__name__!r}")
        return os.path.abspath(source)


@functools.cache
def _installed_top_levels() -> frozenset[str]:
    return frozenset(importlib.metadata.packages_distributions())


def step(
    fn: Callable[P, R] | None = None,
    *,
    cpu: str | float | None = None,
    memory: str | None = None,
    gpu: float | None = None,
    gpu_vendor: str = "nvidia",
    gpu_model: str | None = None,
    gpu_memory: str | None = None,
    gpu_alternatives: GpuAlternatives | None = None,
    outputs: Sequence[str] = (DEFAULT_OUTPUT,),
    retries: int = 0,
    backoff_seconds: float = 1.0,
    timeout_seconds: float | None = None,
    cache: bool = True,
    isolation: Isolation = "fork",
    volume_mounts: Mounts = (),
) -> Any:
    """Make a function a pipeline step, with what it asks for and how it is run.

    GPUs: `gpu` whole GPUs or a fraction of one below 1 (`0.25`), of `gpu_vendor` and
    `gpu_model`; `gpu_memory` (`"20Gi"`) a share of one GPU sized by memory (alone, it asks for
    one `gpu_vendor` GPU's share); `gpu_alternatives` a fallback list tried in order, as
    `{"H100": 1, "A100": 2}` or `[("H100", 1), ("A100", 2)]` (of `gpu_vendor`), instead of
    `gpu` and `gpu_model`.

    `outputs` names what the function returns: one name takes the return value as is; several
    take a tuple in that order or a dict with those keys.

    `volume_mounts` names the pipeline's volumes the step sees: `{"work": "/mnt/work"}`, or a
    list of `mlkube.sdk.mount(...)`; inside the step, `volume_path("work")` is its folder.
    """

    def wrap(func: Callable[P, R]) -> Step[P, R]:
        for name in outputs:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise DslError(f"step {func.__name__!r}: output name {name!r} is not an identifier")
        resources: dict[str, Any] = {"cpu": None if cpu is None else str(cpu), "memory": memory}
        if gpu or gpu_memory:
            resources[f"{gpu_vendor}.com/gpu"] = gpu or 1
            resources["gpuModel"] = gpu_model
            resources["gpuMemory"] = gpu_memory
        if gpu_alternatives is not None:
            resources["gpuAlternatives"] = _alternatives(gpu_alternatives, gpu_vendor)
        try:
            checked = Resources.model_validate(
                {k: v for k, v in resources.items() if v is not None}
            )
        except ValidationError as err:
            raise DslError(f"step {func.__name__!r}: {_first_problem(err)}") from None
        try:
            mounts = mounts_of(volume_mounts)
        except VolumeError as err:
            raise DslError(f"step {func.__name__!r}: {err}") from None
        spec = {
            "volume_mounts": mounts,
            "resources": checked,
            "retries": RetryPolicy(limit=retries, backoff_seconds=backoff_seconds),
            "timeout_seconds": timeout_seconds,
            "cache": cache,
            "isolation": isolation,
        }
        return Step(func, outputs=outputs, spec=spec)

    return wrap(fn) if fn is not None else wrap


def _alternatives(given: GpuAlternatives, vendor: str) -> list[dict[str, Any]]:
    pairs = given.items() if isinstance(given, Mapping) else given
    return [{"model": model, "count": count, "vendor": vendor} for model, count in pairs]


def _first_problem(err: ValidationError) -> str:
    item = err.errors(include_url=False)[0]
    where = ".".join(str(p) for p in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@dataclass
class _Graph:
    calls: list[StepCall] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def unique_name(self, function_name: str) -> str:
        base = function_name.replace("_", "-").lower()
        self.counts[base] = self.counts.get(base, 0) + 1
        n = self.counts[base]
        return base if n == 1 else f"{base}-{n}"


class Pipeline:
    """A pipeline function; `compile()` turns it into a `PipelineSpec`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        description: str,
        volumes: Sequence[Volume] = (),
    ) -> None:
        self.volumes = list(volumes)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self.fn = fn
        self.name = name
        self.description = description

    def params(self) -> list[PipelineParam]:
        """The pipeline function's parameters, with their defaults."""
        out = []
        for p in inspect.signature(self.fn).parameters.values():
            default = None if p.default is inspect.Parameter.empty else p.default
            out.append(PipelineParam(name=p.name, default=default))
        return out

    def compile(self) -> PipelineSpec:
        """Trace the function once and return the validated-shape spec."""
        graph = _Graph()
        params = self.params()
        token = _BUILDING.set(graph)
        try:
            returned = self.fn(**{p.name: ParamRef(p.name) for p in params})
        finally:
            _BUILDING.reset(token)
        if not graph.calls:
            raise DslError(f"pipeline {self.name!r} calls no steps")
        _check_unique_names(graph.calls)
        spec = PipelineSpec(
            params=params,
            steps=[_step_spec(c) for c in graph.calls],
            outputs=list(_pipeline_outputs(returned)),
            description=self.description,
            volumes=self.volumes,
        )
        causes = volume_causes(spec.volumes, [s.volume_mounts for s in spec.steps], field="spec")
        if causes:
            raise DslError(f"pipeline {self.name!r}: {causes[0].field}: {causes[0].message}")
        return spec


def pipeline(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str = "",
    volumes: Sequence[Volume] = (),
) -> Any:
    """Make a function that wires steps together a pipeline; `volumes` are what its steps
    may mount (`mlkube.sdk.scratch(...)`, `mlkube.sdk.claim(...)`)."""

    def wrap(func: Callable[..., Any]) -> Pipeline:
        pname = name or func.__name__.replace("_", "-").lower()
        doc = description or (func.__doc__ or "").strip()
        return Pipeline(func, name=pname, description=doc, volumes=volumes)

    return wrap(fn) if fn is not None else wrap


def _check_unique_names(calls: list[StepCall]) -> None:
    seen: set[str] = set()
    for call in calls:
        if call.name in seen:
            raise DslError(
                f"two steps are named {call.name!r}; give one another name with .named()"
            )
        seen.add(call.name)


def _input_source(call: StepCall, name: str, value: Any) -> InputSource:
    if isinstance(value, StepCall):
        if len(value.step.outputs) != 1:
            raise DslError(
                f"step {call.name!r} input {name!r}: step {value.name!r} has several outputs "
                f'({", ".join(value.step.outputs)}); pick one with {value.name}["NAME"]'
            )
        return InputSource(name=name, from_step=value.name, output=value.step.outputs[0])
    if isinstance(value, OutputRef):
        return InputSource(name=name, from_step=value.call.name, output=value.output)
    if isinstance(value, ParamRef):
        return InputSource(name=name, param=value.name)
    return InputSource(name=name, value=value)


def _python_function(step: Step[Any, Any]) -> PythonFunction:
    """The step's function; for a `.py` file, with the file's text, so the step runs where
    the file is not (a cluster's pod) and the step cache keys on the code submitted."""
    module = step.module_ref()
    source = None
    if module.endswith(".py"):
        with open(module, encoding="utf-8") as handle:
            source = handle.read()
        if len(source.encode()) > SOURCE_LIMIT:
            raise DslError(
                f"step {step.fn.__name__!r}: {module} is over {SOURCE_LIMIT // 1024} KiB; put "
                "the code in a package installed in the step's image instead"
            )
    return PythonFunction(module=module, function=step.fn.__qualname__, source=source)


def _step_spec(call: StepCall) -> StepSpec:
    fields = call.step.spec_fields
    return StepSpec(
        name=call.name,
        python=_python_function(call.step),
        inputs=[_input_source(call, k, v) for k, v in call.inputs.items()],
        outputs=list(call.step.outputs),
        depends_on=[c.name for c in call.after_calls],
        resources=fields["resources"],
        retries=fields["retries"],
        timeout_seconds=fields["timeout_seconds"],
        cache=fields["cache"],
        isolation=fields["isolation"],
        volume_mounts=fields["volume_mounts"],
    )


def _pipeline_outputs(returned: Any) -> Iterator[PipelineOutput]:
    if returned is None:
        return
    items = returned.items() if isinstance(returned, dict) else [(None, returned)]
    for key, ref in items:
        if isinstance(ref, StepCall):
            ref = ref[ref.step.outputs[0]]
        if not isinstance(ref, OutputRef):
            raise DslError("a pipeline returns step outputs (or a dict of them), nothing else")
        yield PipelineOutput(name=key or ref.output, from_step=ref.call.name, output=ref.output)
