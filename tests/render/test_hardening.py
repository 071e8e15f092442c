"""Kubernetes hardening as rendered: identities, network admission, disruption budgets, Pod Security."""

from __future__ import annotations

from tests import fixtures
from mlops_stack import offline
from tests.conftest import config_of, recording_of
from infra.config import ServiceMode
from tests.render.test_applications import objects, objects_all, pod_specs

API_USERS = {"airflow-scheduler", "airflow-api-server", "jupyterhub-hub"}  # the executor, its API, KubeSpawner


def test_every_pod_runs_as_its_service_account_and_only_the_executor_gets_an_api_token(shipped):
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects_all(shipped, "kubernetes:core/v1:ServiceAccount")}
    assert {("mlops", a) for a in ("mlflow", "feast", "evidently", "airflow")} <= accounts
    # Managed PostgreSQL keeps a "postgres" account for its setup Job; Redis and S3 need none.
    assert {("mlops", "postgres")} <= accounts
    in_cluster = {("mlops", a) for a in ("redis", "seaweedfs")}
    assert in_cluster <= accounts if shipped.by_type("mlops:kubernetes:Redis") else not in_cluster & accounts
    for name, spec in pod_specs(shipped):
        assert spec.get("serviceAccountName"), name
        assert spec["automountServiceAccountToken"] is (name in API_USERS), name
    for account in objects_all(shipped, "kubernetes:core/v1:ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_ingress_is_denied_by_default_and_each_server_admits_only_its_clients(ensemble):
    shipped = ensemble
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"] for p in objects_all(shipped, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    for namespace in ("mlops", "mlops-pipelines"):
        deny = policies[(namespace, "default-deny-ingress")]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}

    def peers(name):
        rule = policies[("mlops", name)]["ingress"][0]
        apps = next((p["podSelector"]["matchExpressions"][0]["values"] for p in rule["from"] if "podSelector" in p), [])
        pipelines = any(p.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": "mlops-pipelines"} for p in rule["from"])
        anywhere = any(p.get("namespaceSelector") == {} for p in rule["from"])
        return set(apps), pipelines, anywhere, [port["port"] for port in rule["ports"]]

    assert peers("allow-postgres") == ({"postgres", "mlflow", "feast", "airflow"}, True, False, [5432])
    # Airflow: its triggerer watches the lake's events on Redis (services.events.queue redis, the ensemble's default).
    assert peers("allow-redis") == ({"redis", "feast", "airflow"}, True, False, [6379])
    serving = config_of(shipped.stack).serving
    # In-cluster endpoints' capture sidecars write their captures to the lake.
    capturing = {e.name for e in serving.endpoints if e.mode is ServiceMode.IN_CLUSTER and e.captured}
    assert peers("allow-seaweedfs") == ({"seaweedfs", "postgres", "mlflow", "feast", "evidently", "airflow", *capturing}, True, False, [8333])
    # Its servers talk to each other (masters, volume servers, filers; HTTP and gRPC), and nobody else does.
    assert peers("allow-seaweedfs-peers") == ({"seaweedfs"}, False, False, [9333, 19333, 8080, 18080, 8888, 18888])
    endpoints = set((fixtures.stack_config(shipped.stack).get("mlops:serving") or {}).get("endpoints", {}))
    # Model variants load their models from the tracking server.
    assert peers("allow-mlflow") == ({"airflow", *endpoints}, True, False, [5000])
    # The monitoring job (Evidently's) emits drift events through the API.
    assert peers("allow-airflow-api-server") == ({"evidently"}, True, False, [8080])
    for endpoint in endpoints:  # the gateway's proxies run in a namespace of their own; a capture sidecar takes 8090
        assert peers(f"allow-{endpoint}") == (set(), True, True, [8090 if endpoint in capturing else 8080])
    hub = config_of(shipped.stack).notebooks.in_cluster
    if hub:  # the hub: its proxy and the user servers (their API calls); the proxy's API: the hub
        assert peers("allow-jupyterhub-hub") == ({"jupyterhub"}, True, False, [8081])
        assert peers("allow-jupyterhub-proxy-api") == ({"jupyterhub"}, False, False, [8001])
    # Every server pod is selected by exactly one allow rule (with the hub: its proxy and user servers too).
    selected = {tuple(sorted(p["podSelector"].get("matchLabels", {}).items())) for (ns, n), p in policies.items() if n.startswith("allow-")}
    assert len(selected) == 7 + (3 if hub else 0) + len(endpoints)


def test_an_enabled_ingress_opens_its_ui_to_the_ingress_controller():
    recording = offline.run("local", {
        "mlops:services": {"airflow": {"ingress": {"enabled": True, "host": "airflow.example.com"}}},
        "kubernetes:context": "kind-mlops",
    })
    policy = objects(recording, "kubernetes:networking.k8s.io/v1:NetworkPolicy")["allow-airflow-api-server"]
    assert {"namespaceSelector": {}} in policy["spec"]["ingress"][0]["from"]


def test_replicated_services_in_production_have_disruption_budgets():
    production = {o["metadata"]["name"]: o for o in objects_all(recording_of("production-onprem"), "kubernetes:policy/v1:PodDisruptionBudget")}
    assert set(production) == {"seaweedfs", "mlflow", "feast", "airflow-api-server", "airflow-scheduler", "airflow-triggerer"}
    on_aws = {o["metadata"]["name"] for o in objects_all(recording_of("production"), "kubernetes:policy/v1:PodDisruptionBudget")}
    assert on_aws == set(production) - {"seaweedfs"}  # S3 is the object store there
    assert all(p["spec"]["maxUnavailable"] == 1 for p in production.values())
    assert production["mlflow"]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "server"}
    assert not recording_of("local").by_type("kubernetes:policy/v1:PodDisruptionBudget")


def test_both_namespaces_enforce_the_restricted_pod_security_standard(shipped):
    for namespace in objects_all(shipped, "kubernetes:core/v1:Namespace"):
        labels = namespace["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", namespace["metadata"]["name"]
