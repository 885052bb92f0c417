"""One module per model format, each exposing `load(path, *, name, version, threads)`.

Imported lazily through `mlkube.serving.models.FORMATS`; each module imports its
third-party library at the top so that a missing library fails the import, not a call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mlkube.serving.models import TensorSpec
from mlkube.serving.protocol import datatype_of

__all__ = ["probe_output"]


def probe_output(
    name: str, fn: Callable[[Any], Any], sample: np.ndarray[Any, Any], fallback: TensorSpec
) -> TensorSpec:
    """The spec of output `name`, learnt by running `fn` on one `sample` row.

    Runtimes such as scikit-learn and XGBoost do not declare output shapes; one call on a
    row of zeros tells the datatype and trailing dimensions. `fallback` is used when the
    probe fails (the model may reject zeros), so loading never depends on it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = np.asarray(fn(sample))
        return TensorSpec(name, datatype_of(result), (-1, *result.shape[1:]))
    except Exception:
        return fallback
