"""Model loaders: scikit-learn, XGBoost and ONNX models trained here on iris, and bad files."""

from __future__ import annotations

import importlib.util
import logging
import pickle
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
import xgboost
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlkube.serving import models
from mlkube.serving.models import FORMATS, ModelLoadError, TensorSpec, load_model

X, Y = load_iris(return_X_y=True)
ROWS = X[[0, 60, 120]]


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(X, Y)


def test_sklearn_classifier_from_joblib(tmp_path: Path, classifier: LogisticRegression) -> None:
    joblib.dump(classifier, tmp_path / "model.joblib")
    model = load_model(tmp_path / "model.joblib", "sklearn", name="iris", version="3")
    assert (model.name, model.version, model.platform) == ("iris", "3", "sklearn")
    assert model.inputs == (TensorSpec("input-0", "FP64", (-1, 4)),)
    assert model.outputs == (
        TensorSpec("predict", "INT64", (-1,)),
        TensorSpec("predict_proba", "FP64", (-1, 3)),
    )
    assert model.default_outputs == ("predict",)
    out = model.predict({"input-0": ROWS}, ["predict", "predict_proba"])
    np.testing.assert_array_equal(out["predict"], classifier.predict(ROWS))
    np.testing.assert_allclose(out["predict_proba"], classifier.predict_proba(ROWS))
    assert set(model.predict({"input-0": ROWS}, ["predict"])) == {"predict"}


def test_sklearn_regressor_from_a_pickle_in_a_directory(tmp_path: Path) -> None:
    regressor = LinearRegression().fit(X, X[:, 0] * 2)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(regressor))
    (tmp_path / "README.md").write_text("not a model")
    model = load_model(tmp_path, "sklearn", name="reg")
    assert model.outputs == (TensorSpec("predict", "FP64", (-1,)),)
    np.testing.assert_allclose(
        model.predict({"input-0": ROWS}, ["predict"])["predict"], ROWS[:, 0] * 2
    )


def test_sklearn_string_labels_are_bytes(tmp_path: Path) -> None:
    names = np.array(["setosa", "versicolor", "virginica"])[Y]
    joblib.dump(LogisticRegression(max_iter=1000).fit(X, names), tmp_path / "m.joblib")
    model = load_model(tmp_path / "m.joblib", "sklearn", name="named")
    assert model.outputs[0] == TensorSpec("predict", "BYTES", (-1,))
    out = model.predict({"input-0": ROWS}, ["predict"])["predict"]
    assert out.tolist() == ["setosa", "versicolor", "virginica"]


def test_xgboost_booster_in_json_and_ubj(tmp_path: Path) -> None:
    clf = xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, Y)
    for suffix in ("json", "ubj"):
        clf.get_booster().save_model(tmp_path / f"model.{suffix}")
        model = load_model(tmp_path / f"model.{suffix}", "xgboost", name="xgb", threads=1)
        assert model.platform == "xgboost"
        assert model.inputs == (TensorSpec("input-0", "FP32", (-1, 4)),)
        assert model.outputs == (TensorSpec("predict", "FP32", (-1, 3)),)
        out = model.predict({"input-0": ROWS.astype(np.float32)}, ["predict"])["predict"]
        np.testing.assert_allclose(out, clf.predict_proba(ROWS), rtol=1e-5)


def test_onnx_model_converted_from_sklearn(tmp_path: Path, classifier: LogisticRegression) -> None:
    onx = to_onnx(classifier, X[:1].astype(np.float32), options={"zipmap": False})
    (tmp_path / "model.onnx").write_bytes(onx.SerializeToString())
    model = load_model(tmp_path, "onnx", name="iris-onnx", threads=1)
    assert model.platform == "onnxruntime_onnx"
    assert model.inputs == (TensorSpec("X", "FP32", (-1, 4)),)
    assert model.outputs == (
        TensorSpec("label", "INT64", (-1,)),
        TensorSpec("probabilities", "FP32", (-1, 3)),
    )
    assert model.default_outputs == ("label", "probabilities")
    out = model.predict({"X": ROWS.astype(np.float32)}, ["label", "probabilities"])
    np.testing.assert_array_equal(out["label"], classifier.predict(ROWS))
    np.testing.assert_allclose(out["probabilities"], classifier.predict_proba(ROWS), atol=1e-5)


def test_onnx_non_tensor_outputs_are_left_out_with_a_warning(
    tmp_path: Path, classifier: LogisticRegression, caplog: pytest.LogCaptureFixture
) -> None:
    onx = to_onnx(classifier, X[:1].astype(np.float32))  # probabilities as a ZipMap
    (tmp_path / "model.onnx").write_bytes(onx.SerializeToString())
    with caplog.at_level(logging.WARNING):
        model = load_model(tmp_path / "model.onnx", "onnx", name="zm")
    assert [spec.name for spec in model.outputs] == ["output_label"]
    assert (
        "leaving out non-tensor outputs output_probability (seq(map(int64,tensor(float))))"
        in caplog.text
    )


@pytest.mark.parametrize(
    ("fmt", "filename"),
    [
        ("sklearn", "m.joblib"),
        ("sklearn", "m.pkl"),
        ("xgboost", "m.json"),
        ("xgboost", "m.ubj"),
        ("onnx", "m.onnx"),
    ],
)
def test_a_corrupt_file_is_a_load_error_naming_path_and_cause(
    tmp_path: Path, fmt: str, filename: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(b"\x00this is not a model\xff" * 3)
    with pytest.raises(ModelLoadError) as info:
        load_model(path, fmt, name="bad")
    message = str(info.value)
    assert message.startswith(f"cannot load {fmt} model from {path}: ")
    assert len(message) > len(f"cannot load {fmt} model from {path}: ") + 5


def test_an_object_without_predict_is_a_load_error(tmp_path: Path) -> None:
    joblib.dump({"not": "a model"}, tmp_path / "m.joblib")
    with pytest.raises(ModelLoadError, match="TypeError: dict has no predict method"):
        load_model(tmp_path / "m.joblib", "sklearn", name="x")


def test_a_directory_must_hold_exactly_one_model_file(
    tmp_path: Path, classifier: LogisticRegression
) -> None:
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ModelLoadError) as info:
        load_model(tmp_path, "sklearn", name="x")
    assert str(info.value) == (
        f"no sklearn model file (.joblib, .pkl, .pickle) in {tmp_path}; found: notes.txt"
    )
    joblib.dump(classifier, tmp_path / "a.joblib")
    joblib.dump(classifier, tmp_path / "b.pkl")
    with pytest.raises(ModelLoadError) as info:
        load_model(tmp_path, "sklearn", name="x")
    assert str(info.value) == (
        f"2 sklearn model files (.joblib, .pkl, .pickle) in {tmp_path}, "
        "expected exactly one: a.joblib, b.pkl"
    )


def test_a_missing_path_and_an_unknown_format_are_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model path .*/nope does not exist"):
        load_model(tmp_path / "nope", "sklearn", name="x")
    with pytest.raises(
        ModelLoadError, match="unknown model format 'tf'; known: sklearn, xgboost, onnx, pytorch"
    ):
        load_model(tmp_path, "tf", name="x")


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_pytorch_without_torch_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "m.pt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="format pytorch needs torch installed"):
        load_model(tmp_path / "m.pt", "pytorch", name="x")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_pytorch_torchscript_module(tmp_path: Path) -> None:
    torch: Any = importlib.import_module("torch")
    scripted = torch.jit.script(torch.nn.Linear(4, 2))
    scripted.save(str(tmp_path / "m.pt"))
    model = load_model(tmp_path / "m.pt", "pytorch", name="lin")
    out = model.predict({"input-0": ROWS.astype(np.float32)}, ["output-0"])["output-0"]
    assert out.shape == (3, 2)


def test_every_format_declares_its_extensions() -> None:
    assert FORMATS["sklearn"].extensions == (".joblib", ".pkl", ".pickle")
    assert FORMATS["onnx"].extensions == (".onnx",)
    for name in models.__all__:
        assert hasattr(models, name)
