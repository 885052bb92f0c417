"""XGBoost boosters (`.json`, `.ubj`, `.bst`, `.model`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from mlkube.serving.formats import probe_output
from mlkube.serving.models import Model, TensorSpec

__all__ = ["INPUT_NAME", "XGBoostModel", "load"]

INPUT_NAME = "input-0"
Array = np.ndarray[Any, Any]


class XGBoostModel:
    """A booster behind the `Model` interface: input `input-0` FP32 [-1, num_features],
    output `predict` (the booster's default prediction: margin, probability or value)."""

    platform = "xgboost"

    def __init__(self, booster: Any, *, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self._booster = booster
        n_features = int(booster.num_features())
        self.inputs: tuple[TensorSpec, ...] = (TensorSpec(INPUT_NAME, "FP32", (-1, n_features)),)
        sample = np.zeros((1, n_features), dtype=np.float32)
        fallback = TensorSpec("predict", "FP32", (-1,))
        self.outputs: tuple[TensorSpec, ...] = (
            probe_output("predict", self._predict, sample, fallback),
        )
        self.default_outputs: tuple[str, ...] = ("predict",)

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        """Predict on `input-0`; the only output is `predict`."""
        return {"predict": self._predict(inputs[INPUT_NAME])}

    def _predict(self, x: Array) -> Array:
        return np.asarray(self._booster.inplace_predict(x, validate_features=False))


def load(path: Path, *, name: str, version: str, threads: int) -> Model:
    """Load a saved booster; `threads` sets its `nthread`."""
    try:
        booster = xgboost.Booster(model_file=str(path))
    except xgboost.core.XGBoostError as exc:
        raise ValueError(f"not an XGBoost model file ({exc})") from exc
    booster.set_param({"nthread": threads})
    return XGBoostModel(booster, name=name, version=version)
