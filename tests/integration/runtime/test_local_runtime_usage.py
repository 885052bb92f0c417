"""Usage samples follow real consumption."""

from __future__ import annotations


def test_busy_loop_uses_about_one_core_and_its_memory(runtime, exits, python_spec, eventually):
    runtime.launch(python_spec("w-busy", "spin", "3", "64"))

    def sampled():
        usage = runtime.usage("w-busy")
        return usage if usage is not None and usage.samples >= 8 else None

    during = eventually(sampled, timeout=10, what="usage samples")
    assert 0.6 <= during.avg_cpu_cores <= 1.2  # one thread spinning: about one core
    assert during.cpu_cores > 0.3
    assert during.memory_bytes >= 64 << 20
    assert "w-busy" in runtime.running()

    assert exits.wait("w-busy").reason == "Completed"
    after = runtime.usage("w-busy")
    assert after is not None
    assert after.cpu_cores == 0.0 and after.memory_bytes == 0  # no longer running
    assert 0.6 <= after.avg_cpu_cores <= 1.1  # exact: rusage CPU time over wall time
    assert 0.6 <= after.max_cpu_cores <= 1.3
    assert after.max_memory_bytes >= 64 << 20
    assert after.samples >= during.samples

    runtime.forget("w-busy")
    assert runtime.usage("w-busy") is None


def test_short_workload_still_gets_exit_figures(runtime, exits, python_spec, eventually):
    runtime.launch(python_spec("w-short", "allocate", "32"))
    assert exits.wait("w-short").reason == "Completed"
    usage = runtime.usage("w-short")
    assert usage is not None
    assert usage.max_memory_bytes >= 32 << 20  # the rusage peak, even without a sample
