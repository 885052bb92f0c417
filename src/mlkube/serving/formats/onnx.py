"""ONNX models (`.onnx`) run by onnxruntime on the CPU execution provider."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from mlkube.serving.models import Model, TensorSpec

__all__ = ["ONNX_DATATYPES", "OnnxModel", "load"]

log = logging.getLogger(__name__)
Array = np.ndarray[Any, Any]

ONNX_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def _spec(arg: Any) -> TensorSpec | None:
    datatype = ONNX_DATATYPES.get(arg.type)
    if datatype is None:
        return None
    # Symbolic (`"batch"`) and unknown (None) dimensions are free.
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    return TensorSpec(arg.name, datatype, shape)


class OnnxModel:
    """An inference session behind the `Model` interface; inputs and outputs are the
    graph's. Outputs OIP cannot carry (sequences, maps) are left out, with a warning."""

    platform = "onnxruntime_onnx"

    def __init__(self, session: Any, *, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self._session = session
        inputs = [(arg, _spec(arg)) for arg in session.get_inputs()]
        bad = [f"{arg.name} ({arg.type})" for arg, spec in inputs if spec is None]
        if bad:
            raise TypeError(f"inputs of unsupported type: {', '.join(bad)}")
        self.inputs: tuple[TensorSpec, ...] = tuple(spec for _, spec in inputs if spec is not None)
        outputs = [(arg, _spec(arg)) for arg in session.get_outputs()]
        skipped = [f"{arg.name} ({arg.type})" for arg, spec in outputs if spec is None]
        if skipped:
            log.warning("model %s: leaving out non-tensor outputs %s", name, ", ".join(skipped))
        self.outputs: tuple[TensorSpec, ...] = tuple(
            spec for _, spec in outputs if spec is not None
        )
        if not self.outputs:
            raise TypeError("the graph has no tensor outputs")
        self.default_outputs: tuple[str, ...] = tuple(spec.name for spec in self.outputs)
        self._strings = {spec.name for spec in self.inputs if spec.datatype == "BYTES"}

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        """Run the session for the named outputs."""
        feed = {name: self._feed(name, array) for name, array in inputs.items()}
        names = list(outputs)
        return dict(zip(names, self._session.run(names, feed), strict=True))

    def _feed(self, name: str, array: Array) -> Array:
        if name not in self._strings:
            return array
        # onnxruntime wants str elements for tensor(string); the protocol decodes bytes.
        out = np.empty(array.shape, dtype=object)
        out.ravel()[:] = [b.decode() if isinstance(b, bytes) else b for b in array.ravel()]
        return out


def load(path: Path, *, name: str, version: str, threads: int) -> Model:
    """Open an inference session with `threads` intra-op threads."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return OnnxModel(session, name=name, version=version)
