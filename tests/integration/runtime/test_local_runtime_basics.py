"""LocalRuntime end to end: output, exit reporting, environment, failures, bookkeeping."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from mlkube.runtime.base import PythonTarget, WorkloadSpec
from mlkube.runtime.local import LocalRuntime

ISOLATIONS = ["fork", "process"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_python_target_output_reaches_log_and_exit_code_is_reported(
    runtime, exits, python_spec, isolation
):
    spec = python_spec("w-3", "hello", "3", "a", "b", isolation=isolation)
    pid = runtime.launch(spec)

    result = exits.wait("w-3")
    assert pid > 0
    assert (result.reason, result.exit_code, result.signal) == ("Error", 3, None)
    assert result.message == "exit code 3"
    log = Path(spec.log_path).read_text()
    assert "hello from w-3 a b" in log
    assert "to stderr" in log


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_none_return_is_completed(runtime, exits, python_spec, isolation):
    runtime.launch(python_spec("w-none", "return_none", isolation=isolation))
    result = exits.wait("w-none")
    assert (result.reason, result.exit_code, result.message) == ("Completed", 0, "exit code 0")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_uncaught_exception_prints_traceback_and_exits_1(runtime, exits, python_spec, isolation):
    spec = python_spec("w-raise", "raise_error", isolation=isolation)
    runtime.launch(spec)
    result = exits.wait("w-raise")
    assert (result.reason, result.exit_code) == ("Error", 1)
    log = Path(spec.log_path).read_text()
    assert "Traceback (most recent call last)" in log
    assert "ValueError: boom from the workload" in log


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_crash_by_signal_is_reported_with_the_signal(runtime, exits, python_spec, isolation):
    runtime.launch(python_spec("w-abort", "abort", isolation=isolation))
    result = exits.wait("w-abort")
    assert (result.reason, result.exit_code, result.signal) == ("Killed", None, signal.SIGABRT)
    assert result.message == "killed by SIGABRT"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_environment_cwd_argv_and_process_group(runtime, exits, python_spec, tmp_path, isolation):
    out = tmp_path / "env.json"
    facts = tmp_path / "facts.json"
    work = tmp_path / "work"
    work.mkdir()
    runtime.launch(
        python_spec(
            "w-env",
            "write_env",
            str(out),
            "MLKUBE_WORKLOAD_ID",
            "FROM_SPEC",
            "HOME",
            env={"FROM_SPEC": "yes", "MLKUBE_WORKLOAD_ID": "spoofed"},
            isolation=isolation,
        )
    )
    runtime.launch(
        python_spec("w-facts", "write_facts", str(facts), cwd=str(work), isolation=isolation)
    )
    exits.wait("w-env")
    exits.wait("w-facts")

    seen = json.loads(out.read_text())
    assert seen == {
        "MLKUBE_WORKLOAD_ID": "w-env",
        "FROM_SPEC": "yes",
        "HOME": os.environ.get("HOME"),
    }
    child = json.loads(facts.read_text())
    assert child["pgid"] == child["pid"]  # its own process group
    assert child["cwd"] == str(work)
    assert str(work) in child["sys_path"]  # like `python -m`, after the target file's own dir
    assert child["argv"] == [python_spec("x", "write_facts").python.module, str(facts)]


def test_command_workload_runs_with_env_and_log(runtime, exits, command_spec):
    spec = command_spec(
        "c-5", "sh", "-c", 'echo "id=$MLKUBE_WORKLOAD_ID x=$X"; exit 5', env={"X": "1"}
    )
    runtime.launch(spec)
    result = exits.wait("c-5")
    assert (result.reason, result.exit_code) == ("Error", 5)
    assert Path(spec.log_path).read_text() == "id=c-5 x=1\n"


def test_command_not_found_is_launch_failed(runtime, exits, command_spec):
    runtime.launch(command_spec("c-missing", "no-such-program-mlkube"))
    result = exits.wait("c-missing")
    assert result.reason == "LaunchFailed"
    assert "no-such-program-mlkube" in result.message
    assert result.exit_code is None


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_missing_cwd_is_launch_failed(runtime, exits, python_spec, tmp_path, isolation):
    runtime.launch(
        python_spec("w-nocwd", "hello", cwd=str(tmp_path / "absent"), isolation=isolation)
    )
    result = exits.wait("w-nocwd")
    assert result.reason == "LaunchFailed"
    assert "working directory" in result.message and "absent" in result.message


def test_launch_is_idempotent_on_id(runtime, exits, python_spec, eventually):
    spec = python_spec("w-once", "sleep", "0.3")
    first = runtime.launch(spec)
    assert runtime.launch(spec) == first
    exits.wait("w-once")
    assert runtime.launch(spec) == first  # finished but not forgotten: still the same
    eventually(lambda: runtime.usage("w-once") is not None, what="usage")
    assert exits.deliveries["w-once"] == 1

    runtime.forget("w-once")
    assert runtime.usage("w-once") is None
    assert runtime.launch(spec) != first  # forgotten: the id may run again
    exits.wait("w-once")


def test_running_lists_live_workloads(runtime, exits, python_spec):
    runtime.launch(python_spec("w-live", "sleep", "300"))
    assert runtime.running() == {"w-live"}
    runtime.stop("w-live", grace_seconds=1)
    exits.wait("w-live")
    assert runtime.running() == set()


def test_exits_before_a_handler_is_set_are_delivered_when_it_is(exits, python_spec):
    with LocalRuntime() as rt:
        rt.launch(python_spec("w-early", "hello"))
        rt.set_exit_handler(exits)
        assert exits.wait("w-early").reason == "Completed"


def test_stop_of_unknown_or_finished_id_is_a_no_op(runtime, exits, python_spec):
    runtime.stop("never-launched", grace_seconds=0)
    runtime.launch(python_spec("w-done", "hello"))
    exits.wait("w-done")
    runtime.stop("w-done", grace_seconds=0)
    runtime.forget("never-launched")


def test_close_stops_everything_and_refuses_new_work(exits, python_spec, pid_gone, eventually):
    rt = LocalRuntime()
    rt.set_exit_handler(exits)
    pid = rt.launch(python_spec("w-close", "sleep", "300"))
    worker = rt.worker_pid
    rt.close(grace_seconds=1)

    assert exits.wait("w-close").reason == "Killed"
    eventually(lambda: pid_gone(pid) and worker and pid_gone(worker), what="processes to exit")
    with pytest.raises(RuntimeError):
        rt.launch(python_spec("w-after", "hello"))
    rt.close()  # idempotent


def test_node_reports_affinity_memory_and_configured_gpus(python_spec):
    from mlkube.runtime.base import GpuDevice

    fake = GpuDevice(0, "nvidia", "Fake H100", 80 << 30, "GPU-fake")
    with LocalRuntime(gpus=[fake], node_name="n1") as rt:
        node = rt.node()
    assert node.name == "n1"
    assert node.cpus == tuple(sorted(os.sched_getaffinity(0)))
    assert 0 < node.memory_bytes <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert node.gpus == (fake,)


def test_invalid_specs_are_refused_before_anything_runs():
    with pytest.raises(ValueError, match="exactly one of command, python"):
        WorkloadSpec("x", env={}, cwd="/", log_path="/tmp/x.log")
    with pytest.raises(ValueError, match="memory_limit_bytes"):
        WorkloadSpec(
            "x", python=PythonTarget("m", "f"), env={}, cwd="/", log_path="/l", memory_limit_bytes=0
        )


def test_the_exit_handler_may_launch(python_spec):
    """A controller retrying from its exit handler must not deadlock the runtime."""
    import threading

    done = threading.Event()
    seen: list[str] = []

    with LocalRuntime() as rt:

        def handler(workload_exit):
            seen.append(workload_exit.id)
            if workload_exit.id == "attempt-0":
                assert rt.launch(python_spec("attempt-1", "hello")) > 0
            else:
                done.set()

        rt.set_exit_handler(handler)
        rt.launch(python_spec("attempt-0", "hello", "1"))
        assert done.wait(20)
    assert seen == ["attempt-0", "attempt-1"]


def test_many_concurrent_launches_each_exit_exactly_once(runtime, exits, python_spec, command_spec):
    import threading

    ids = [f"c-{t}-{n}" for t in range(8) for n in range(5)]

    def launch_some(mine):
        for workload_id in mine:
            if workload_id.endswith("4"):
                runtime.launch(command_spec(workload_id, "true"))
            else:
                isolation = "process" if workload_id.endswith("3") else "fork"
                runtime.launch(python_spec(workload_id, "hello", isolation=isolation))

    threads = [threading.Thread(target=launch_some, args=(ids[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for workload_id in ids:
        assert exits.wait(workload_id).reason == "Completed", workload_id
    assert set(exits.deliveries) == set(ids)
    assert set(exits.deliveries.values()) == {1}
    assert runtime.running() == set()
