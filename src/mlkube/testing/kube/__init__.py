"""A fake Kubernetes cluster for tests: a kube-apiserver on loopback, its controllers and a
kubelet that runs pods as local processes. No cluster, no containers, no Docker.

    with fake_kube_cluster(tmp_path, nodes=[FakeNode("gpu-1", {...}, labels={...})]) as kube:
        with kube.api_client() as api:            # the official `kubernetes` client
            kubernetes.client.BatchV1Api(api).create_namespaced_job("default", job)
        subprocess.run(["kubectl", "--kubeconfig", kube.kubeconfig_path, "get", "pods"])

What it serves (plain HTTP on 127.0.0.1, a free port; no TLS, no authentication, no RBAC
enforcement): discovery (`/api`, `/apis`, `/version`), CRUD, watch, label and field
selectors, `limit`/`continue`, `dryRun`, finalizers and `deletionTimestamp`, one global
resourceVersion with 410 Expired for a watch resumed from a compacted version, for
core/v1 (namespaces, nodes, pods with `/status` and `/log`, services, configmaps, secrets,
serviceaccounts, resourcequotas, persistentvolumeclaims, events), apps/v1 (deployments with
`/status` and `/scale`, replicasets), batch/v1 jobs, autoscaling/v2 HPAs, rbac/v1,
coordination.k8s.io/v1 leases, scheduling.k8s.io/v1 priorityclasses, apiextensions.k8s.io/v1
customresourcedefinitions (stored and Established at once; what they define is not served:
every `mlkube.io` kind is served from the start) and every `mlkube.io` kind as a custom
resource; and the resource metrics API (`metrics.k8s.io/v1beta1` PodMetrics, for
`kubectl top pod`), whose values are the local processes' (see `metrics`; leave it out with
`metrics_api=False`). Built-in objects are validated against the upstream OpenAPI
schemas (`kubernetes_validate`, strict) and ours by the models their CRDs come from; a bad
object gets a 422 `Invalid` Status with `details.causes`, as from a kube-apiserver.

What runs (threads in this process, each can be left out): a kubelet + first-fit scheduler
over configurable fake nodes (`FakeNode`: capacity with extended resources such as
`nvidia.com/gpu`, labels, taints), a Job controller, a Deployment controller (pods owned
directly, no ReplicaSets), and a garbage collector (owner references, deleted namespaces).

IMAGES ARE IGNORED. A pod's first container runs as a local process: its `command` + `args`
with THIS machine's Python and mlkube (`python` means the running interpreter), its `env`
(downward API for name, namespace, uid, labels, annotations, node name, pod IP 127.0.0.1;
configMap and secret key refs), in a scratch folder per pod. Other containers, init
containers, volumes, resource limits and security contexts are not applied.

What it does NOT do: scoring, preemption, pod affinity or topology spread (scheduling is first
fit); real images, containers, cgroups or isolation; networking beyond loopback (Services get a
cluster IP that routes nowhere; every pod's IP is 127.0.0.1; validating admission webhooks are
called, their Services found through `FakeKubeCluster.webhook_services`, see `webhooks`);
mutating webhooks, quota enforcement or RBAC checks; HPA, ReplicaSet, StatefulSet, CronJob or
namespace-lifecycle controllers; server-side apply or JSON patch (415). Strategic merge patches
are approximated (see `patching`). Deleting a pod with a running process leaves it Terminating
under the kubelet's finalizer `kubelet.fake.mlkube.io/process` until the process is gone
(SIGTERM, then SIGKILL after `terminationGracePeriodSeconds`).
"""

from __future__ import annotations

from mlkube.testing.kube.cluster import CONTROLLERS, FakeKubeCluster, fake_kube_cluster, kubeconfig
from mlkube.testing.kube.scheduling import FakeNode
from mlkube.testing.kube.server import FakeKubeApiServer

__all__ = [
    "CONTROLLERS",
    "FakeKubeApiServer",
    "FakeKubeCluster",
    "FakeNode",
    "fake_kube_cluster",
    "kubeconfig",
]
