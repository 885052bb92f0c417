"""Warm mode really runs on modules the fork server imported before forking."""

from __future__ import annotations

import json
import os
from pathlib import Path

PROBE = """\
import os

IMPORT_PID = os.getpid()
with open(os.path.join(os.path.dirname(__file__), "imports.log"), "a") as log:
    log.write(f"{IMPORT_PID}\\n")
"""


def _probe(tmp_path: Path) -> Path:
    probe = tmp_path / "probe_mod.py"
    probe.write_text(PROBE)
    return probe


def test_preloaded_module_is_imported_once_in_the_worker_not_in_children(
    runtime, exits, python_spec, tmp_path
):
    probe = _probe(tmp_path)
    reports = []
    for n in range(3):
        out = tmp_path / f"report-{n}.json"
        runtime.launch(
            python_spec(f"w-pre-{n}", "report_preload", str(out), str(probe), preload=(str(probe),))
        )
        assert exits.wait(f"w-pre-{n}").reason == "Completed"
        reports.append(json.loads(out.read_text()))

    imports = (tmp_path / "imports.log").read_text().split()
    assert len(imports) == 1, "the module was imported more than once"
    worker = runtime.worker_pid
    assert imports == [str(worker)]
    for report in reports:
        assert report["import_pid"] == worker == report["ppid"]  # imported by the parent server
        assert report["pid"] != worker


def test_fresh_isolation_does_not_use_the_warm_image(runtime, exits, python_spec, tmp_path):
    probe = _probe(tmp_path)
    out = tmp_path / "report.json"
    runtime.launch(
        python_spec(
            "w-fresh",
            "report_preload",
            str(out),
            str(probe),
            preload=(str(probe),),
            isolation="process",
        )
    )
    assert exits.wait("w-fresh").reason == "Completed"
    report = json.loads(out.read_text())
    assert report["import_pid"] == report["pid"]  # imported by the workload itself


def test_preload_file_is_imported_again_after_it_changes(runtime, exits, python_spec, tmp_path):
    probe = _probe(tmp_path)
    for n in range(2):
        if n:
            stat = probe.stat()
            os.utime(probe, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        out = tmp_path / f"report-{n}.json"
        runtime.launch(
            python_spec(f"w-re-{n}", "report_preload", str(out), str(probe), preload=(str(probe),))
        )
        assert exits.wait(f"w-re-{n}").reason == "Completed"
    assert len((tmp_path / "imports.log").read_text().split()) == 2


def test_module_name_preload(runtime, exits, python_spec, tmp_path):
    out = tmp_path / "env.json"
    spec = python_spec("w-json", "write_env", str(out), "X", preload=("json", "decimal"))
    runtime.launch(spec)
    assert exits.wait("w-json").reason == "Completed"


def test_failing_preload_is_launch_failed_with_traceback_in_the_log(
    runtime, exits, python_spec, tmp_path
):
    broken = tmp_path / "broken_mod.py"
    broken.write_text("raise RuntimeError('cannot import me')\n")
    spec = python_spec("w-broken", "hello", preload=(str(broken),))
    assert runtime.launch(spec) == 0

    result = exits.wait("w-broken")
    assert result.reason == "LaunchFailed"
    assert "cannot import me" in result.message
    assert "Traceback" in Path(spec.log_path).read_text()
    # The worker survives a bad preload.
    runtime.launch(python_spec("w-after-broken", "hello"))
    assert exits.wait("w-after-broken").reason == "Completed"


def test_warm_imports_ahead_of_the_first_launch(runtime, exits, python_spec, tmp_path, eventually):
    probe = _probe(tmp_path)
    imports = tmp_path / "imports.log"
    runtime.warm([str(probe)])
    eventually(imports.exists, what="the warm-up import")

    out = tmp_path / "report.json"
    spec = python_spec("w-warmed", "report_preload", str(out), str(probe), preload=(str(probe),))
    runtime.launch(spec)
    assert exits.wait("w-warmed").reason == "Completed"
    assert imports.read_text().split() == [str(runtime.worker_pid)]
