"""`mlkube sim` as a user runs it: the installed entry point, in a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "sim" / "two-teams.trace.yml"
MLKUBE = Path(sys.executable).parent / "mlkube"


def mlkube(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLKUBE), *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def test_compare_prints_queue_wait_with_and_without_autoscaling() -> None:
    done = mlkube("sim", "--compare", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "30 workloads, 4 static nodes, 1 node group(s), 2 queue(s)"
    header = lines[2].split()
    assert header == ["autoscaling", "no", "autoscaling"]
    rows = {line[:20].strip(): line[20:].split("  ") for line in lines[3:]}
    assert "queue wait mean" in rows and "nodes a100-pool" in rows


def test_json_output_has_both_runs_and_autoscaling_lowers_the_wait() -> None:
    done = mlkube("sim", "--compare", str(EXAMPLE), "-o", "json")
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)
    assert set(runs) == {"autoscaling", "no autoscaling"}
    scaled, fixed = runs["autoscaling"], runs["no autoscaling"]
    assert scaled["mean_wait_s"] < fixed["mean_wait_s"]
    assert scaled["nodes"]["a100-pool"]["peak"] > 0 == fixed["nodes"]["a100-pool"]["peak"]
    assert scaled["finished"] == fixed["finished"] == 30


def test_no_autoscale_keeps_groups_at_their_initial_size() -> None:
    done = mlkube("sim", str(EXAMPLE), "--no-autoscale", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["no autoscaling"]["nodes"]["a100-pool"]["peak"] == 0


def test_a_bad_trace_is_an_error_naming_the_field(tmp_path: Path) -> None:
    trace = tmp_path / "bad.trace.yaml"
    trace.write_text(
        "nodes: [{name: n, cpu: 4, memory: 8Gi}]\n"
        "workloads: [{name: w, duration: 5, priorityClassName: vip, podSets: [{requests: {}}]}]\n"
    )
    done = mlkube("sim", str(trace))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: workloads[0].priorityClassName: no PriorityClass named 'vip' (defined: none)"
    )
    assert done.stdout == ""


def test_alibaba_replay_of_a_small_trace(tmp_path: Path) -> None:
    (tmp_path / "openb_node_list_all_node.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nn0,8000,32768,2,V100\nn1,8000,32768,0,\n"
    )
    (tmp_path / "openb_pod_list_default.csv").write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "p0,4000,1024,1,500,,LS,Running,0,100,0\n"
        "p1,4000,1024,1,500,,LS,Running,10,,10\n"
        "p2,8000,1024,0,0,,LS,Running,20,50,20\n"
    )
    done = mlkube("sim", "--alibaba", str(tmp_path), "-o", "json", "--seed", "3")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["no autoscaling"]
    assert result["workloads"] == result["finished"] == 3
    again = mlkube("sim", "--alibaba", str(tmp_path), "-o", "json", "--seed", "3")
    assert json.loads(again.stdout)["no autoscaling"]["makespan_s"] == result["makespan_s"]
