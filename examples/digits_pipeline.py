"""Handwritten digits: prepare → train four models in parallel → evaluate each → keep the best.

Run it against a running platform (`mlkube up`) with:

    mlkube run examples/digits_pipeline.py -n ml-team

or compile it to a manifest with `mlkube compile examples/digits_pipeline.py`.
"""

from __future__ import annotations

from typing import Any

# Imported at the top on purpose: the platform's warm worker imports this file once and forks
# every step from it, so scikit-learn is loaded once, not once per step.
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from mlkube.sdk import pipeline, step

CANDIDATES: dict[str, dict[str, Any]] = {
    "logreg": {"kind": "logistic_regression", "params": {"C": 0.1, "max_iter": 2000}},
    "svm": {"kind": "svc", "params": {"C": 10.0, "gamma": "scale"}},
    "forest": {"kind": "random_forest", "params": {"n_estimators": 200, "random_state": 0}},
    "knn": {"kind": "knn", "params": {"n_neighbors": 3}},
}


@step(cpu="1", memory="1Gi", outputs=("dataset", "summary"))
def prepare(test_size: float, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load scikit-learn's digits, scale pixels to [0, 1], split train/test."""
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    print(f"digits: {len(x)} images, {len(x_train)} train / {len(x_test)} test")
    dataset = {"x_train": x_train, "x_test": x_test, "y_train": y_train, "y_test": y_test}
    return dataset, {"samples": len(x), "train": len(x_train), "test": len(x_test)}


@step(cpu="1", memory="1Gi")
def train(dataset: dict[str, Any], kind: str, params: dict[str, Any]) -> Any:
    """Fit one model on the training split."""
    models = {
        "logistic_regression": LogisticRegression,
        "svc": SVC,
        "random_forest": RandomForestClassifier,
        "knn": KNeighborsClassifier,
    }
    model = models[kind](**params)
    model.fit(dataset["x_train"], dataset["y_train"])
    print(f"trained {kind} with {params}")
    return model


@step(cpu="1", memory="1Gi")
def evaluate(model: Any, dataset: dict[str, Any]) -> dict[str, float]:
    """Accuracy and macro F1 on the held-out split."""
    predicted = model.predict(dataset["x_test"])
    metrics = {
        "accuracy": round(float(accuracy_score(dataset["y_test"], predicted)), 4),
        "f1_macro": round(float(f1_score(dataset["y_test"], predicted, average="macro")), 4),
    }
    print(f"metrics: {metrics}")
    return metrics


@step(cpu="500m", memory="512Mi", outputs=("model", "metrics", "name"))
def select_best(**candidates: Any) -> tuple[Any, dict[str, Any], str]:
    """Pick the candidate with the best accuracy; inputs are `<name>_model` / `<name>_metrics`."""
    names = sorted(k.removesuffix("_metrics") for k in candidates if k.endswith("_metrics"))
    scores = {n: candidates[f"{n}_metrics"] for n in names}
    best = max(names, key=lambda n: (scores[n]["accuracy"], scores[n]["f1_macro"]))
    print(f"best model: {best} {scores[best]}")
    return candidates[f"{best}_model"], {"best": scores[best], "all": scores}, best


@pipeline(name="digits")
def digits(test_size: float = 0.25, seed: int = 42) -> dict[str, Any]:
    """Train several classifiers on scikit-learn's digits and keep the best."""
    data = prepare(test_size=test_size, seed=seed)
    inputs: dict[str, Any] = {}
    for name, candidate in CANDIDATES.items():
        model = train(
            dataset=data["dataset"], kind=candidate["kind"], params=candidate["params"]
        ).named(f"train-{name}")
        metrics = evaluate(model=model, dataset=data["dataset"]).named(f"evaluate-{name}")
        inputs[f"{name}_model"] = model
        inputs[f"{name}_metrics"] = metrics
    best = select_best(**inputs)
    return {"model": best["model"], "metrics": best["metrics"], "best": best["name"]}
