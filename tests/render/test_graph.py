"""The deployment graph of every shipped stack: no needless waiting, no readiness deadlock, no unused SDK.

Deterministic: it reads the recorded graph and the creation-time table, never a clock.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import graph
from tests import fixtures
from mlops_stack import render
from mlops_stack.offline import REPO_ROOT


@pytest.fixture(scope="module", params=fixtures.stacks())
def deployment(request, tmp_path_factory) -> graph.Graph:
    out = tmp_path_factory.mktemp(request.param)
    render.render_stack(request.param, out, fixtures.STACKS_DIR)
    return graph.load(out / "resources.json")


def test_the_critical_path_is_within_the_target_of_the_unavoidable_chain(deployment):
    critical, unavoidable = deployment.longest(), deployment.longest(essential_only=True)
    assert critical.seconds <= graph.TARGET_RATIO * unavoidable.seconds, (critical.describe(), unavoidable.describe())
    # The chain ends in a workload that makes the platform usable, not in bookkeeping.
    assert critical.nodes[-1].type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")


def test_no_pod_needs_an_object_that_waits_for_the_pods_own_service(deployment):
    assert deployment.readiness_deadlocks() == []


def row(urn, type_, name, parent="", depends_on=(), inputs=None):
    return {"urn": urn, "type": type_, "name": name, "parent": parent, "depends_on": list(depends_on), "inputs": inputs or {"metadata": {"name": name, "namespace": "ns"}}}


def test_the_graph_finds_a_readiness_deadlock_and_a_needless_wait():
    pod = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"envFrom": [{"configMapRef": {"name": "config"}}]}]}}
    rows = [
        row("c:web", "mlops:kubernetes:Mlflow", "web"),
        row("c:pg", "mlops:kubernetes:Postgres", "pg"),
        row("c:redis", "mlops:kubernetes:Redis", "redis"),
        row("u:sts", "kubernetes:apps/v1:StatefulSet", "postgres", "c:pg"),
        row("u:redis", "kubernetes:apps/v1:StatefulSet", "redis", "c:redis"),
        row("u:svc", "kubernetes:core/v1:Service", "web", "c:web", inputs={"metadata": {"name": "web", "namespace": "ns"}, "spec": {"selector": {"app": "web"}}}),
        row("u:config", "kubernetes:core/v1:ConfigMap", "config", depends_on=["u:svc"]),
        row("u:web", "kubernetes:apps/v1:Deployment", "mlflow", "c:web", depends_on=["u:sts", "u:redis"],
            inputs={"metadata": {"name": "mlflow", "namespace": "ns"}, "spec": {"template": pod}}),
    ]
    found = graph.Graph(rows)
    assert found.readiness_deadlocks() == ["mlflow needs ConfigMap config, which waits for Service web selecting its own pods"]
    # MLflow does not use Redis: waiting for it is not part of the unavoidable chain.
    assert not found.essential(found.nodes["u:redis"], found.nodes["u:web"])
    assert found.essential(found.nodes["u:sts"], found.nodes["u:web"])


@pytest.mark.parametrize("stack,sdks", [
    ("production-onprem", ["pulumi_kubernetes", "pulumi_random"]),
    ("production", ["pulumi_aws", "pulumi_kubernetes", "pulumi_random"]),
])
def test_a_stack_loads_only_the_sdks_it_uses(stack, sdks):
    code = (f"import sys; from mlops_stack import offline; from tests import fixtures; offline.run({stack!r}, fixtures.stack_config({stack!r})); "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('pulumi_')}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"')) == sdks


def test_on_aws_the_data_services_are_created_while_the_cluster_is():
    out = REPO_ROOT / "build" / "graph-test-staging"
    render.render_stack("staging", out, fixtures.STACKS_DIR)
    deployment = graph.load(out / "resources.json")
    names = {n.urn: n.name for n in deployment.nodes.values()}

    def waits_for(name: str) -> set[str]:
        node = next(n for n in deployment.nodes.values() if n.name == name)
        seen, stack = set(), list(node.after)
        while stack:
            urn = stack.pop()
            if urn not in seen:
                seen.add(urn)
                stack.extend(deployment.nodes[urn].after)
        return {names[u] for u in seen}

    for data_service in ("postgres-instance", "redis-replication-group", "bucket-lake-bucket"):
        assert not {"eks-cluster", "eks-nodes"} & waits_for(data_service), data_service
    # What they do wait for is the network (subnets) and, for the security group rule, the cluster's group.
    assert "network-private-0" in waits_for("postgres-instance")
    assert "eks-cluster" in waits_for("postgres-from-cluster")
    # The applications wait for both: the nodes to run on and the database setup Job.
    assert {"eks-nodes", "postgres-setup", "postgres-instance"} <= waits_for("mlflow-deployment")


def test_every_creation_time_cites_its_source():
    import yaml

    rows = yaml.safe_load((REPO_ROOT / "bench" / "creation_times.yaml").read_text())
    assert all(len(r["source"]) > 20 for r in rows)
