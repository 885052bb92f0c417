"""The `Model` interface the replica serves, and loading one from a file by format name.

`TensorSpec` is a model's metadata for one tensor; `conform` checks a decoded request input
against it.

Formats are a table of names to lazy import paths (`FORMATS`): a format's module, and the
third-party library it needs, is imported only when that format is chosen, and a missing
library is a `ModelLoadError` naming what to install, never a silent drop.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from mlkube.serving.protocol import DATATYPES, InputTensor, ProtocolError

__all__ = [
    "FORMATS",
    "Model",
    "ModelFormat",
    "ModelLoadError",
    "TensorSpec",
    "conform",
    "load_model",
    "resolve_model_file",
]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Metadata of one model input or output; -1 in `shape` is a free (batch) dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """The `$metadata_tensor` object of the model metadata response."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


class Model(Protocol):
    """A loaded model, ready to predict.

    `inputs`/`outputs` describe the tensors with OIP datatypes; -1 in a shape is free, and a
    leading -1 on every input means the model takes any number of rows (batch axis 0).
    `default_outputs` are the outputs returned when a request names none.
    """

    @property
    def name(self) -> str:
        """The name clients use in URLs."""
        ...

    @property
    def version(self) -> str:
        """The version clients may name in URLs."""
        ...

    @property
    def platform(self) -> str:
        """The runtime, as reported in the model metadata (`onnxruntime_onnx`...)."""
        ...

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The input tensors, in the order a client should list them."""
        ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """Every output a client may request."""
        ...

    @property
    def default_outputs(self) -> tuple[str, ...]:
        """The outputs returned when a request names none."""
        ...

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        """Run the model on arrays keyed by input name (already of the input's datatype).

        Returns at least the named `outputs` (a subset of `self.outputs`), each with the same
        number of rows as the inputs when the model is batched. Called from a worker thread;
        it must not touch the event loop. Raises whatever the runtime raises on bad values.
        """
        ...


class ModelLoadError(Exception):
    """A model could not be loaded; the message names the path and the cause."""


@dataclass(frozen=True, slots=True)
class ModelFormat:
    """One model format: where its loader lives, the files it reads, the library it needs."""

    name: str
    module: str
    extensions: tuple[str, ...]
    requires: str


FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat(
            "sklearn",
            "mlkube.serving.formats.sklearn",
            (".joblib", ".pkl", ".pickle"),
            "scikit-learn",
        ),
        ModelFormat(
            "xgboost",
            "mlkube.serving.formats.xgboost",
            (".json", ".ubj", ".bst", ".model"),
            "xgboost",
        ),
        ModelFormat("onnx", "mlkube.serving.formats.onnx", (".onnx",), "onnxruntime"),
        ModelFormat("pytorch", "mlkube.serving.formats.pytorch", (".pt", ".pth"), "torch"),
    )
}

Loader = Callable[..., Model]


def load_model(
    path: str | Path, format: str, *, name: str, version: str = "1", threads: int = 1
) -> Model:
    """Load the model at `path` (a file, or a directory holding exactly one) as `format`.

    `threads` bounds the runtime's own intra-op threads. Raises `ModelLoadError` for an
    unknown format, a missing library, a bad location or a file the library cannot read.
    """
    fmt = FORMATS.get(format)
    if fmt is None:
        raise ModelLoadError(f"unknown model format {format!r}; known: {', '.join(FORMATS)}")
    file = resolve_model_file(Path(path), fmt)
    loader = _import_loader(fmt)
    try:
        return loader(file, name=name, version=version, threads=threads)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load {fmt.name} model from {file}: {type(exc).__name__}: {_printable(exc)}"
        ) from exc


def conform(spec: TensorSpec, tensor: InputTensor, model: str) -> np.ndarray[Any, Any]:
    """Check `tensor` against the model's input `spec`; return its data in the spec's dtype.

    A float input accepts any integer or float datatype (cast); other datatypes must match.
    """
    if len(tensor.shape) != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, tensor.shape, strict=True)
    ):
        raise ProtocolError(
            f"input '{tensor.name}' of model '{model}' has shape {list(tensor.shape)}, "
            f"expected {list(spec.shape)}{_feature_hint(spec, tensor)}"
        )
    if tensor.datatype == spec.datatype:
        return tensor.data
    if spec.datatype.startswith("FP") and tensor.datatype.startswith(("FP", "INT", "UINT")):
        return tensor.data.astype(DATATYPES[spec.datatype])
    raise ProtocolError(
        f"input '{tensor.name}' of model '{model}' has datatype {tensor.datatype}, "
        f"expected {spec.datatype}"
    )


def _feature_hint(spec: TensorSpec, tensor: InputTensor) -> str:
    if len(spec.shape) == 2 == len(tensor.shape) and spec.shape[1] != -1:
        return f" ({spec.shape[1]} features per row, got {tensor.shape[1]})"
    return ""


def resolve_model_file(path: Path, fmt: ModelFormat) -> Path:
    """The model file at `path`: the file itself, or the one file of `fmt` in the directory."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise ModelLoadError(f"model path {path} does not exist")
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    matches = [p for p in entries if p.is_file() and p.name.endswith(fmt.extensions)]
    if len(matches) == 1:
        return matches[0]
    extensions = ", ".join(fmt.extensions)
    if not matches:
        found = ", ".join(p.name for p in entries) or "nothing"
        raise ModelLoadError(f"no {fmt.name} model file ({extensions}) in {path}; found: {found}")
    names = ", ".join(p.name for p in matches)
    raise ModelLoadError(
        f"{len(matches)} {fmt.name} model files ({extensions}) in {path}, "
        f"expected exactly one: {names}"
    )


def _printable(exc: Exception, limit: int = 500) -> str:
    """The exception's message on one line, without control bytes a runtime may echo."""
    text = " ".join(str(exc).split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "..."


def _import_loader(fmt: ModelFormat) -> Loader:
    try:
        module = importlib.import_module(fmt.module)
    except ImportError as exc:
        if exc.name is not None and exc.name.startswith("mlkube"):
            raise
        raise ModelLoadError(f"format {fmt.name} needs {fmt.requires} installed ({exc})") from exc
    return cast(Loader, module.load)
