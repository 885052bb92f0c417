"""import_source: module names and `.py` paths, stable names, re-import on change."""

from __future__ import annotations

import os
import sys

import pytest

from mlkube.runtime.local.sourceimport import import_source, is_source_path, module_name_for_path


@pytest.fixture
def clean_modules():
    """Drop what a test imported from sys.modules / sys.path afterwards."""
    modules, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def test_is_source_path():
    assert is_source_path("steps.py") and is_source_path("/a/b/steps.py") and is_source_path("a/b")
    assert not is_source_path("pkg.steps")


def test_module_name_is_stable_identifier_and_distinct_per_file(tmp_path):
    a = module_name_for_path(str(tmp_path / "a" / "train-v2.py"))
    assert a == module_name_for_path(str(tmp_path / "a" / "." / "train-v2.py"))
    assert a.isidentifier() and a.startswith("_mlkube_src_train_v2_")
    assert a != module_name_for_path(str(tmp_path / "b" / "train-v2.py"))


def test_relative_path_is_resolved_against_cwd(tmp_path):
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert module_name_for_path("x.py") == module_name_for_path(str(tmp_path / "x.py"))
    finally:
        os.chdir(here)


def test_module_name_ref(clean_modules):
    assert import_source("json") is sys.modules["json"]


def test_file_is_imported_once_and_again_after_a_change(tmp_path, clean_modules):
    source = tmp_path / "steps.py"
    (tmp_path / "helper_sibling.py").write_text("VALUE = 41\n")
    source.write_text("import helper_sibling\nVALUE = helper_sibling.VALUE + 1\n")

    first = import_source(str(source))
    assert first.VALUE == 42
    assert first.__name__ == module_name_for_path(str(source))
    assert sys.modules[first.__name__] is first
    assert import_source(str(source)) is first

    source.write_text("VALUE = 7\n")  # same size class, maybe the same second: mtime_ns decides
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    second = import_source(str(source))
    assert second is not first and second.VALUE == 7


def test_failed_import_keeps_the_previous_module(tmp_path, clean_modules):
    source = tmp_path / "flaky.py"
    source.write_text("OK = True\n")
    good = import_source(str(source))
    source.write_text("raise ImportError('broken now')\n")
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(ImportError, match="broken now"):
        import_source(str(source))
    assert sys.modules[good.__name__] is good


def test_failed_first_import_leaves_nothing_behind(tmp_path, clean_modules):
    source = tmp_path / "bad.py"
    source.write_text("1/0\n")
    with pytest.raises(ZeroDivisionError):
        import_source(str(source))
    assert module_name_for_path(str(source)) not in sys.modules


def test_no_bytecode_cache_is_written(tmp_path, clean_modules):
    source = tmp_path / "nocache.py"
    source.write_text("X = 1\n")
    import_source(str(source))
    assert not (tmp_path / "__pycache__").exists()


def test_a_shipped_source_is_imported_under_the_missing_files_module_name(tmp_path, clean_modules):
    missing = tmp_path / "gone" / "shipped_train.py"  # the submitter's file, not here
    module = import_source(str(missing), source="class Model:\n    pass\nANSWER = 42\n")
    assert module.__name__ == module_name_for_path(str(missing))
    assert module.ANSWER == 42
    # Objects pickled by reference to that name load again in the same way elsewhere.
    assert module.Model.__module__ == module_name_for_path(str(missing))


def test_the_file_wins_over_a_shipped_source_where_it_exists(tmp_path, clean_modules):
    path = tmp_path / "local_train.py"
    path.write_text("WHERE = 'file'\n")
    module = import_source(str(path), source="WHERE = 'shipped'\n")
    assert module.WHERE == "file"
