"""The deployment as a graph: which resource waits for which, how long each takes, and the longest chain.

Built from `resources.json` of `mlops-stack render` (explicit dependencies plus the resources whose
outputs feed a resource's inputs), with typical creation times from `creation_times.yaml`.

- The **critical path** is the longest chain of waits through every edge: the least time `pulumi up`
  can take, whatever its parallelism.
- The **unavoidable chain** is the longest chain through the edges a platform cannot do without: a
  resource waits for others of its own service (a setup Job for its server, Airflow for its
  migration), and an application waits for the data services it uses. Everything else is ordering
  the program added; the target is critical path ≤ 1.15 × unavoidable chain.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import yaml

from stacks.applications import NEEDS

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 1.15
# Component type -> the role it plays (data services by their config key, applications by name).
SERVICE_ROLES = {
    "mlops:kubernetes:Postgres": "postgres",
    "mlops:kubernetes:Redis": "redis",
    "mlops:kubernetes:Minio": "objectStore",
    "mlops:kubernetes:Seaweedfs": "objectStore",
    "mlops:kubernetes:Mlflow": "mlflow",
    "mlops:kubernetes:Feast": "feast",
    "mlops:kubernetes:Evidently": "evidently",
    "mlops:kubernetes:Airflow": "airflow",
    "mlops:kubernetes:DatabaseSetup": "postgres",
    "mlops:aws:RdsPostgres": "postgres",
    "mlops:aws:ElastiCache": "redis",
    "mlops:aws:PrivateBucket": "objectStore",
    "mlops:aws:SageMakerMlflow": "mlflow",
    "mlops:aws:Mwaa": "airflow",
    "mlops:azure:FlexiblePostgres": "postgres",
    "mlops:azure:RedisCache": "redis",
    "mlops:azure:ManagedRedis": "redis",
    "mlops:azure:DataLake": "objectStore",
    "mlops:azure:MachineLearningWorkspace": "mlflow",
    "mlops:kubernetes:SmokeCheck": "smoke",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")


@dataclass
class Node:
    urn: str
    type: str
    name: str  # Pulumi resource name
    object_name: str  # Kubernetes metadata.name, or the resource name
    namespace: str
    inputs: dict
    role: Optional[str]  # the service it belongs to
    seconds: float = 0.0
    source: str = ""
    after: set[str] = field(default_factory=set)  # URNs it waits for


@dataclass
class Chain:
    nodes: list[Node]

    @property
    def seconds(self) -> float:
        return sum(n.seconds for n in self.nodes)

    def describe(self) -> str:
        return " → ".join(f"{n.object_name} ({n.seconds:g}s)" for n in self.nodes if n.seconds) or "(empty)"


class Graph:
    def __init__(self, rows: list[dict], times: Optional[list[dict]] = None):
        times = times if times is not None else yaml.safe_load((HERE / "creation_times.yaml").read_text())
        by_urn = {r["urn"]: r for r in rows}
        self.nodes: dict[str, Node] = {}
        for row in rows:
            if row["type"].startswith("mlops:") or row["type"] == "pulumi:pulumi:Stack":
                continue  # components are logical; their children are the real work
            metadata = (row.get("inputs") or {}).get("metadata") or {}
            self.nodes[row["urn"]] = Node(
                urn=row["urn"], type=row["type"], name=row["name"],
                object_name=metadata.get("name") or row["name"], namespace=metadata.get("namespace", ""),
                inputs=row.get("inputs") or {}, role=_role(row, by_urn),
            )
        for node in self.nodes.values():
            node.after = {d for d in by_urn[node.urn].get("depends_on", []) if d in self.nodes and d != node.urn}
        for node in self.nodes.values():
            node.seconds, node.source = self._time(node, times)

    def _time(self, node: Node, times: list[dict]) -> tuple[float, str]:
        annotations = (node.inputs.get("metadata") or {}).get("annotations") or {}
        if annotations.get("pulumi.com/skipAwait") == "true":
            return 1.0, "pulumi.com/skipAwait: Pulumi marks it created after one API call (registry docs, Kubernetes provider annotations)"
        for row in times:
            if not fnmatch.fnmatchcase(node.type, row["type"]):
                continue
            if "name" in row and not fnmatch.fnmatchcase(node.object_name, row["name"]):
                continue
            if row["seconds"] == "pods":
                return self._pods_time(node, times), row["source"]
            return float(row["seconds"]), row["source"]
        raise KeyError(f"no creation time for {node.type} {node.object_name}: add a row to bench/creation_times.yaml")

    def _pods_time(self, service: Node, times: list[dict]) -> float:
        selector = (service.inputs.get("spec") or {}).get("selector") or {}
        for node in self.nodes.values():
            if node.type.rsplit(":", 1)[-1] in ("Deployment", "StatefulSet") and node.namespace == service.namespace:
                labels = (((node.inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
                if selector and selector.items() <= labels.items():
                    return self._time(node, times)[0]
        return 1.0

    def essential(self, before: Node, after: Node) -> bool:
        """Whether `after` must wait for `before` on any platform: same service, or a data service it uses."""
        if before.role is None or before.role == after.role:
            return True  # namespaces, and a service's own ordering
        if after.role == "smoke":
            return True  # the post-deploy check uses every service: it must wait for all of them
        if after.role is None:
            return False  # shared objects (the pipeline config) wait for no service
        return before.role in NEEDS.get(after.role, ())

    def longest(self, essential_only: bool = False) -> Chain:
        finish: dict[str, float] = {}
        previous: dict[str, Optional[str]] = {}
        for urn in self._topological():
            node = self.nodes[urn]
            best, best_urn = 0.0, None
            for dep in node.after:
                if essential_only and not self.essential(self.nodes[dep], node):
                    continue
                if finish[dep] > best:
                    best, best_urn = finish[dep], dep
            finish[urn] = best + node.seconds
            previous[urn] = best_urn
        end = max(finish, key=lambda u: finish[u])
        chain = []
        while end:
            chain.append(self.nodes[end])
            end = previous[end]
        return Chain(list(reversed(chain)))

    def _topological(self) -> list[str]:
        order, state = [], {}

        def visit(urn: str) -> None:
            if state.get(urn) == "done":
                return
            if state.get(urn) == "visiting":
                raise ValueError(f"dependency cycle through {urn}")
            state[urn] = "visiting"
            for dep in sorted(self.nodes[urn].after):
                visit(dep)
            state[urn] = "done"
            order.append(urn)

        for urn in sorted(self.nodes):
            visit(urn)
        return order

    def readiness_deadlocks(self) -> list[str]:
        """A pod that needs a ConfigMap or Secret which waits (transitively) for a Service selecting that
        very pod never starts: Pulumi waits for the Service's ready endpoints first."""
        problems = []
        for workload in self.nodes.values():
            kind = workload.type.rsplit(":", 1)[-1]
            if kind not in WORKLOAD_KINDS:
                continue
            pod = _pod_template(workload.inputs, kind)
            labels = ((pod.get("metadata") or {}).get("labels")) or {}
            needed = _referenced_objects((pod.get("spec") or {}))
            for kind_name, object_name in needed:
                for config in self._objects(kind_name, object_name, workload.namespace):
                    for service in self._waits_for(config):
                        selector = (service.inputs.get("spec") or {}).get("selector") or {}
                        if selector and selector.items() <= labels.items() and not _headless(service):
                            problems.append(f"{workload.object_name} needs {kind_name} {object_name}, which waits for Service {service.object_name} selecting its own pods")
        return problems

    def _objects(self, kind: str, name: str, namespace: str) -> Iterable[Node]:
        return [n for n in self.nodes.values() if n.type.endswith(f":{kind}") and n.object_name == name and n.namespace == namespace]

    def _waits_for(self, node: Node) -> list[Node]:
        """The Services that `node` waits for, directly or through others."""
        seen, stack, services = set(), list(node.after), set()
        while stack:
            urn = stack.pop()
            if urn in seen:
                continue
            seen.add(urn)
            dep = self.nodes[urn]
            if dep.type == "kubernetes:core/v1:Service":
                services.add(urn)
            stack.extend(dep.after)
        return [self.nodes[u] for u in sorted(services)]


def _headless(service: Node) -> bool:
    return (service.inputs.get("spec") or {}).get("clusterIP") == "None"


def _pod_template(inputs: dict, kind: str) -> dict:
    spec = inputs.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _referenced_objects(pod_spec: dict) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for container in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                found.add(("ConfigMap", source["configMapRef"]["name"]))
            if "secretRef" in source:
                found.add(("Secret", source["secretRef"]["name"]))
        for variable in container.get("env") or []:
            ref = (variable.get("valueFrom") or {})
            if "secretKeyRef" in ref:
                found.add(("Secret", ref["secretKeyRef"]["name"]))
            if "configMapKeyRef" in ref:
                found.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
    for volume in pod_spec.get("volumes") or []:
        if "configMap" in volume:
            found.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            found.add(("Secret", volume["secret"]["secretName"]))
    return found


def _role(row: dict, by_urn: dict[str, dict]) -> Optional[str]:
    parent = row.get("parent")
    while parent and parent in by_urn:
        role = SERVICE_ROLES.get(by_urn[parent]["type"])
        if role:
            return role
        parent = by_urn[parent].get("parent")
    return None


def load(resources_json: Path) -> Graph:
    return Graph(json.loads(resources_json.read_text()))
