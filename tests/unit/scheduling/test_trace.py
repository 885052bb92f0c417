import pytest

from mlkube.scheduling.cluster import Task
from mlkube.scheduling.trace import parse_nodes, parse_tasks

NODES = """sn,cpu_milli,memory_mib,gpu,model
n0,32000,262144,0,
n1,96000,393216,8,G2
"""

HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
TASKS = (
    HEADER
    + """late,6000,12288,1,460,,LS,Running,50,90,50
cpu,4000,8192,0,0,,BE,Failed,10,20,10
pick,12000,16384,2,1000,V100M16|V100M32,LS,Running,10,30,10
"""
)


def test_parse_nodes() -> None:
    nodes = parse_nodes(NODES.splitlines())
    assert [(n.name, n.cpu_milli, n.memory_mib, n.gpu_model, n.gpus) for n in nodes] == [
        ("n0", 32000, 262144, "", []),
        ("n1", 96000, 393216, "G2", [1000] * 8),
    ]
    assert nodes[1].cpu_free == 96000 and nodes[1].memory_free == 393216


def test_parse_tasks_in_arrival_order() -> None:
    tasks = parse_tasks(TASKS.splitlines())
    assert [(t.task, t.creation_time) for t in tasks] == [
        (Task("cpu", 4000, 8192), 10),  # file order among equal times
        (Task("pick", 12000, 16384, 2, 1000, ("V100M16", "V100M32")), 10),
        (Task("late", 6000, 12288, 1, 460), 50),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sn,cpu_milli,memory_mib,gpu\nn,1,1,0\n", "missing column"),
        ("sn,cpu_milli,memory_mib,gpu,model\nn,x,1,0,\n", "line 2: column cpu_milli"),
        ("sn,cpu_milli,memory_mib,gpu,model\nn,1,1,,\n", "line 2: column gpu"),
    ],
)
def test_bad_node_rows(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_nodes(text.splitlines())


def test_bad_task_row_names_the_line() -> None:
    header = TASKS.splitlines()[0]
    with pytest.raises(ValueError, match="line 2: task t: a share of a GPU"):
        parse_tasks([header, "t,1,1,2,500,,LS,Running,0,1,0"])
