"""scikit-learn estimators saved with joblib or pickle (`.joblib`, `.pkl`, `.pickle`).

Loading a pickle runs code from the file: serve only models from a trusted source.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np

from mlkube.serving.formats import probe_output
from mlkube.serving.models import Model, TensorSpec
from mlkube.serving.protocol import DATATYPES, datatype_of

__all__ = ["INPUT_NAME", "SklearnModel", "load"]

INPUT_NAME = "input-0"
_METHODS = ("predict", "predict_proba")
Array = np.ndarray[Any, Any]


class SklearnModel:
    """An estimator behind the `Model` interface: input `input-0` FP64 [-1, n_features_in_],
    outputs `predict` (the default) and `predict_proba` when the estimator has it."""

    platform = "sklearn"

    def __init__(self, estimator: Any, *, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self._methods: dict[str, Callable[[Array], Any]] = {
            m: getattr(estimator, m) for m in _METHODS if hasattr(estimator, m)
        }
        if "predict" not in self._methods:
            raise TypeError(f"{type(estimator).__name__} has no predict method")
        n_features = int(getattr(estimator, "n_features_in_", -1))
        self.inputs: tuple[TensorSpec, ...] = (TensorSpec(INPUT_NAME, "FP64", (-1, n_features)),)
        self.outputs: tuple[TensorSpec, ...] = tuple(
            self._output_spec(m, estimator, n_features) for m in self._methods
        )
        self.default_outputs: tuple[str, ...] = ("predict",)

    def predict(self, inputs: Mapping[str, Array], outputs: Collection[str]) -> dict[str, Array]:
        """Call the estimator's method of each named output on `input-0`."""
        x = inputs[INPUT_NAME]
        return {name: np.asarray(self._methods[name](x)) for name in outputs}

    def _output_spec(self, method: str, estimator: Any, n_features: int) -> TensorSpec:
        classes = getattr(estimator, "classes_", None)
        if method == "predict_proba":
            width = len(classes) if classes is not None else -1
            fallback = TensorSpec(method, "FP64", (-1, width))
        else:
            labels = np.asarray(classes) if classes is not None else np.zeros(0)
            fallback = TensorSpec(method, datatype_of(labels), (-1,))
        if n_features < 0:
            return fallback
        sample = np.zeros((1, n_features), dtype=DATATYPES["FP64"])
        return probe_output(method, self._methods[method], sample, fallback)


def load(path: Path, *, name: str, version: str, threads: int) -> Model:
    """Load a joblib or pickle file holding a fitted estimator (`threads` is unused)."""
    try:
        estimator = joblib.load(path)
    except ImportError:
        raise  # the pickle needs a module this environment lacks: say which
    except Exception as exc:
        raise ValueError(f"not a joblib or pickle file ({type(exc).__name__}: {exc})") from exc
    return SklearnModel(estimator, name=name, version=version)
