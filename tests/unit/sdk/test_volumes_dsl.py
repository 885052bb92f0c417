"""Volumes in the DSL: declared on the pipeline, mounted by steps, checked at compile."""

from __future__ import annotations

import pytest

from mlkube.sdk import DslError, VolumeError, claim, mount, pipeline, scratch, step


@step(volume_mounts={"work": "/mnt/work"})
def produce() -> None:
    pass


@step(
    volume_mounts=[
        mount("work", "/mnt/work", read_only=True),
        mount("data", "/data", sub_path="v1"),
    ]
)
def consume() -> None:
    pass


@pipeline(volumes=[scratch("work", "1Gi"), claim("data", "datasets", read_only=True)])
def flow() -> None:
    consume().after(produce())


def test_volumes_and_mounts_compile_to_the_spec() -> None:
    spec = flow.compile().to_dict()
    assert spec["volumes"] == [
        {"name": "work", "scratch": {"size": "1Gi", "accessModes": ["ReadWriteOnce"]}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}},
    ]
    by_name = {s["name"]: s for s in spec["steps"]}
    assert by_name["produce"]["volumeMounts"] == [
        {"name": "work", "mountPath": "/mnt/work", "readOnly": False}
    ]
    assert by_name["consume"]["volumeMounts"][1] == {
        "name": "data",
        "mountPath": "/data",
        "readOnly": False,
        "subPath": "v1",
    }


def test_a_mount_of_an_undeclared_volume_fails_at_compile() -> None:
    @pipeline
    def bare() -> None:
        produce()

    with pytest.raises(
        DslError, match=r"spec.steps\[0\].volumeMounts\[0\].name: no volume named 'work'"
    ):
        bare.compile()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: scratch("work", "2Gx"), "scratch.size"),
        (lambda: claim("Bad_Name", "x"), "name"),
        (lambda: mount("work", "relative/path"), "mountPath: must be an absolute path"),
    ],
)
def test_bad_volumes_are_refused_naming_the_field(make: object, words: str) -> None:
    with pytest.raises(VolumeError, match=words):
        make()  # type: ignore[operator]


def test_a_bad_mount_path_names_the_step() -> None:
    with pytest.raises(DslError, match="step 'f': volume 'work': mountPath"):

        @step(volume_mounts={"work": "tmp"})
        def f() -> None:
            pass
