"""Every half second: read the router's traffic, ask the policy, resize revisions.

The metric comes from the router, which sees every request (in flight, and held by the
activator while a revision has no replica), like Knative's activator and queue-proxies feed
its autoscaler. A revision's share of the service's traffic is its traffic percent.
"""

from __future__ import annotations

from mlkube.api.serving import PredictorSpec
from mlkube.autoscaling import Observation, ScalePolicy, decide
from mlkube.controllers.serving.controller import InferenceServiceController
from mlkube.controllers.serving.replicas import ServiceState
from mlkube.controllers.serving.router_client import ServiceStats

__all__ = ["TICK_SECONDS", "ServingAutoscaler", "scale_policy"]

TICK_SECONDS = 0.5
USAGE_SECONDS = 5.0


def scale_policy(predictor: PredictorSpec) -> ScalePolicy:
    """The HPA-style policy a predictor's fields describe."""
    return ScalePolicy(
        min_replicas=predictor.min_replicas,
        max_replicas=predictor.max_replicas,
        metric=predictor.scale_metric,
        target=predictor.scale_target,
        tolerance=0.1,
        scale_up_stabilization_s=0.0,
        scale_down_stabilization_s=predictor.scale_down_delay_seconds,
        scale_to_zero_after_s=predictor.scale_to_zero_after_seconds,
    )


class ServingAutoscaler:
    def __init__(self, controller: InferenceServiceController) -> None:
        self.controller = controller
        self._usage_due = 0.0

    def record_usage(self) -> None:
        """Fold what every ready replica uses now into its revision's summary; the service's
        next status write carries it (for `mlkube recommend`)."""
        ctl = self.controller
        for service in ctl.services.values():
            recorded = False
            for revision in service.revisions.values():
                for replica in revision.ready():
                    usage = ctl.runs.runtime.usage(replica.workload_id or "")
                    if usage is not None and usage.samples:
                        revision.usage.add(usage.cpu_cores, usage.memory_bytes)
                        recorded = True
            if recorded:
                ctl.enqueue(service.key, 0.0)

    def tick(self) -> float | None:
        """One round over every service; returns when to run again (None: no services)."""
        ctl = self.controller
        if not ctl.services or ctl.router is None:
            return None
        stats = ctl.router.stats()
        now = ctl.now
        if now >= self._usage_due:
            self._usage_due = now + USAGE_SECONDS
            self.record_usage()
        for service in list(ctl.services.values()):
            if self._rescale(service, stats.get(service.key, ServiceStats()), now):
                ctl.enqueue(service.key, 0.0)
        return TICK_SECONDS

    def _rescale(self, service: ServiceState, traffic: ServiceStats, now: float) -> bool:
        """Ask the policy about every revision that takes traffic; True if one changed."""
        policy = scale_policy(service.predictor)
        total = traffic.concurrency if policy.metric == "concurrency" else traffic.rps
        changed = False
        for name, percent in service.percents.items():
            revision = service.revisions.get(name)
            if percent == 0 or revision is None or not revision.activated:
                continue
            held = 0 if revision.ready() else traffic.held
            value = total * percent / 100
            if policy.metric == "concurrency":
                # The router's concurrency counts held requests too; the policy adds them.
                value = max(0.0, value - held)
            ready = len(revision.ready())
            observation = Observation(now, len(revision.live()), ready, value, held)
            decision = decide(policy, revision.scale, observation)
            revision.scale = decision.state
            if decision.replicas != revision.desired:
                revision.desired = decision.replicas
                service.scale_reason = f"{name}: {decision.reason}"
                service.last_scale_time = self.controller.runs.clock.now()
                changed = True
        return changed
