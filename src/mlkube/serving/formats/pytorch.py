"""TorchScript modules (`.pt`, `.pth`), on the GPU the replica was granted, else the CPU.

A replica that asked for `nvidia.com/gpu` sees exactly its devices through
`CUDA_VISIBLE_DEVICES` (set by the runtime); one that did not sees none, so "is CUDA available"
is the right test for where to run.

TorchScript does not record tensor shapes, so the metadata is generic: one input `input-0`
FP32 [-1, -1] and one output `output-0` FP32 [-1, -1]; the module must return one tensor.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlkube.serving.models import Model, TensorSpec

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "TorchScriptModel", "load"]

# Imported by name so that type checking does not need torch; ImportError when it is absent.
torch: Any = importlib.import_module("torch")

INPUT_NAME = "input-0"
OUTPUT_NAME = "output-0"
Array = np.ndarray[Any, Any]


class TorchScriptModel:
    """A scripted module behind the `Model` interface."""

    platform = "pytorch_libtorch"

    def __init__(self, module: Any, *, name: str, version: str, device: str = "cpu") -> None:
        self.name = name
        self.version = version
        self.device = device
        self._module = module
        self.inputs: tuple[TensorSpec, ...] = (TensorSpec(INPUT_NAME, "FP32", (-1, -1)),)
        self.outputs: tuple[TensorSpec, ...] = (TensorSpec(OUTPUT_NAME, "FP32", (-1, -1)),)
        self.default_outputs: tuple[str, ...] = (OUTPUT_NAME,)

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        """Call the module on `input-0` without autograd."""
        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(inputs[INPUT_NAME]))
            result = self._module(tensor.to(self.device))
        if not isinstance(result, torch.Tensor):
            raise TypeError(f"the module returned {type(result).__name__}, not one tensor")
        return {OUTPUT_NAME: result.detach().cpu().numpy()}


def load(path: Path, *, name: str, version: str, threads: int) -> Model:
    """Load a TorchScript file onto the first visible GPU, else the CPU; `threads` sets torch's
    intra-op threads."""
    torch.set_num_threads(threads)
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    module = torch.jit.load(str(path), map_location=device)
    module.eval()
    return TorchScriptModel(module, name=name, version=version, device=device)
