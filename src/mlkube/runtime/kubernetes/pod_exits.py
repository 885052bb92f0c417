"""What a pod's end means as a `WorkloadExit` (pure: the pod as the API server sent it in).

Precedence, first match wins:

1. the pod is not over yet (phase Pending/Running, not deleted)   -> None
2. we asked to stop it (`stop`)                                  -> Killed
3. the container was OOM-killed (`OOMKilled` in its state)       -> OOMKilled
4. it never ran its command (`StartError`, `ContainerCannotRun`,
   image or config errors)                                      -> LaunchFailed
5. it exited: code 0 / anything else                            -> Completed / Error
6. the pod failed without a container exit (evicted, node lost,
   deadline) or was deleted by someone else                     -> Killed, with the reason

A container killed by a signal shows exit code 128 + N (as kubelets report it); it stays an
exit code here, since the kubelet does not say whether a signal or the program chose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlkube.runtime.base import ExitReason, WorkloadExit

TERMINAL_PHASES = ("Succeeded", "Failed")
_NEVER_RAN = (
    "StartError",
    "ContainerCannotRun",
    "CreateContainerError",
    "CreateContainerConfigError",
    "RunContainerError",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
)


def pod_finished(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's phase is terminal."""
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def pod_exit(
    workload_id: str,
    pod: Mapping[str, Any],
    *,
    deleted: bool,
    stopped: bool,
    finished_at: float,
) -> WorkloadExit | None:
    """The exit `pod` reports (None while it still runs); see the module docstring.

    `deleted`: this is the pod's last state before it left the API server; `stopped`: the
    runtime was asked to stop it; `finished_at`: when the runtime learnt of the end.
    """
    status = pod.get("status") or {}
    if not deleted and not pod_finished(pod):
        return None
    terminated = _terminated(status)
    code = terminated.get("exitCode") if terminated else None
    exit_code = int(code) if isinstance(code, int) else None

    def exit_(reason: ExitReason, message: str) -> WorkloadExit:
        return WorkloadExit(workload_id, exit_code, None, reason, message, finished_at)

    container_reason = str(terminated.get("reason") or "") if terminated else ""
    if stopped:
        how = f"exit code {exit_code}" if exit_code is not None else "pod deleted"
        return exit_("Killed", f"stopped ({how})")
    if container_reason == "OOMKilled":
        return exit_("OOMKilled", "memory limit exceeded (container OOMKilled)")
    waiting = _waiting_reason(status)
    if container_reason in _NEVER_RAN or waiting in _NEVER_RAN:
        detail = str((terminated or {}).get("message") or "") or waiting or container_reason
        exit_code = None
        return exit_("LaunchFailed", f"the pod's container did not start: {detail}")
    if exit_code is not None and pod_finished(pod):
        return exit_("Completed" if exit_code == 0 else "Error", f"exit code {exit_code}")
    return exit_("Killed", _lost_message(status, deleted=deleted))


def _terminated(status: Mapping[str, Any]) -> dict[str, Any] | None:
    for entry in status.get("containerStatuses") or []:
        state = (entry or {}).get("state") or {}
        if state.get("terminated"):
            return dict(state["terminated"])
    return None


def _waiting_reason(status: Mapping[str, Any]) -> str:
    for entry in status.get("containerStatuses") or []:
        reason = (((entry or {}).get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            return str(reason)
    return ""


def _lost_message(status: Mapping[str, Any], *, deleted: bool) -> str:
    reason, message = status.get("reason"), status.get("message")
    if reason or message:
        return ": ".join(str(part) for part in (reason, message) if part)
    if deleted:
        return "the pod was deleted by someone else"
    return "the pod failed without a container exit"
