"""The sim runtime: the platform's scheduling and autoscaling policies over virtual nodes and a
virtual clock, to plan capacity and to test the scheduler at the scale of thousands of nodes.

    spec = load_trace("examples/sim/two-teams.trace.yml")
    result = run(spec)
"""

from mlkube.sim.alibaba import load_alibaba
from mlkube.sim.engine import run
from mlkube.sim.results import DecisionTimes, GroupNodes, Sample, SimResult
from mlkube.sim.spec import GroupSpec, SimOption, SimPodSet, SimSettings, SimSpec, SimWorkload
from mlkube.sim.trace import TraceError, load_trace, parse_trace

__all__ = [
    "DecisionTimes",
    "GroupNodes",
    "GroupSpec",
    "Sample",
    "SimOption",
    "SimPodSet",
    "SimResult",
    "SimSettings",
    "SimSpec",
    "SimWorkload",
    "TraceError",
    "load_alibaba",
    "load_trace",
    "parse_trace",
    "run",
]
