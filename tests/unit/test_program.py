"""The real program and its components under Pulumi's mocks."""

from __future__ import annotations

import json

import pytest
import yaml

from tests import fixtures
from infra import pipeline_config
from mlops_stack import offline
from infra.config import ConfigError
from tests.conftest import is_secret, recording_of, resolved

STATEFUL = ("postgres-statefulset", "redis-statefulset", "seaweedfs-statefulset")
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"


def test_public_pipeline_config_is_not_secret_and_the_rest_is():
    result = recording_of("local").result
    assert not is_secret(result.public)
    assert is_secret(result.complete)
    public, complete = resolved(result.public), resolved(result.complete)
    assert set(public.env) == set(complete.env) and public.files == complete.files


def test_passwords_are_secret_outputs_in_the_contract():
    endpoints = recording_of("local").result.endpoints
    for login in endpoints.database.logins.values():
        assert is_secret(login.password)
    assert is_secret(endpoints.cache.password)
    assert is_secret(endpoints.object_store.secret_access_key)
    assert not is_secret(endpoints.database.host)


def test_published_config_map_and_secret_in_the_pipelines_namespace():
    recording = recording_of("local")
    config_map = recording.one("kubernetes:core/v1:ConfigMap", "pipeline-config-configmap").inputs
    secret = recording.one("kubernetes:core/v1:Secret", "pipeline-config-secret").inputs
    for obj in (config_map, secret):
        assert obj["metadata"]["name"] == pipeline_config.NAME
        assert obj["metadata"]["namespace"] == "mlops-pipelines"
    assert offline.is_secret_value(secret["stringData"])
    secret_keys = set(secret["stringData"]["value"])
    assert {"pipeline.env", "MLOPS_REDIS_PASSWORD", "AWS_SECRET_ACCESS_KEY", "MLOPS_POSTGRES_FEAST_PASSWORD"} <= secret_keys
    assert not secret_keys & set(config_map["data"])
    for value in recording.generated_secrets:
        assert value not in yaml.safe_dump(config_map)


def test_every_kubernetes_object_goes_through_the_stack_provider():
    recording = recording_of("local")
    provider = recording.one("pulumi:providers:kubernetes", "kubernetes")
    assert provider.inputs["context"] == "kind-mlops"
    for obj in recording.kubernetes_objects():
        assert obj.provider.startswith(provider.urn + "::"), obj.name


def test_production_protects_stateful_resources_and_keeps_volumes():
    recording = recording_of("production-onprem")
    protected = {r.name for r in recording.resources if r.protect}
    assert set(STATEFUL) | {"postgres-credentials", "namespaces-platform", "postgres-mlflow-password"} <= protected
    # Jobs must stay replaceable: protecting them would block every script change.
    assert not any(r.protect for r in recording.by_type("kubernetes:batch/v1:Job"))
    for name in STATEFUL:
        spec = recording.one(STATEFULSET, name).inputs["spec"]
        assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    # Three SeaweedFS servers: a raft quorum of masters, every object on two volume servers.
    store = recording.one(STATEFULSET, "seaweedfs-statefulset").inputs["spec"]
    assert store["replicas"] == 3 and store["podManagementPolicy"] == "Parallel"
    args = store["template"]["spec"]["containers"][0]["args"]
    peers = ",".join(f"seaweedfs-{i}.seaweedfs-headless.mlops.svc.cluster.local:9333" for i in range(3))
    assert f"-master.peers={peers}" in args and "-master.defaultReplication=001" in args
    assert recording.one(SERVICE, "seaweedfs-service").inputs["spec"]["sessionAffinity"] == "ClientIP"
    setup = json.loads(recording.one("kubernetes:core/v1:ConfigMap", "seaweedfs-setup-scripts").inputs["data"]["object-store.json"])
    assert setup == {"buckets": ["lake", "artifacts", "feature-store", "monitoring", "backups"], "versioning": True,
                     "expirations": {"lake": {"inference/": 30}}}


def test_ephemeral_stack_is_destroyable():
    recording = offline.run("staging-pr-7", {"mlops:backend": "ensemble", "mlops:cluster": {"context": "mlops-staging"}})
    assert not any(r.protect for r in recording.resources)
    for name in STATEFUL:
        spec = recording.one(STATEFULSET, name).inputs["spec"]
        assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_setup_jobs_wait_for_their_servers_and_are_replaced_by_deletion():
    recording = recording_of("local")
    for app in ("postgres", "seaweedfs"):
        job = recording.one("kubernetes:batch/v1:Job", f"{app}-setup")
        assert recording.one(STATEFULSET, f"{app}-statefulset").urn in job.dependencies
        assert job.delete_before_replace


def test_changed_consumer_script_changes_the_job_template(monkeypatch):
    """A new consumer changes the setup script, so the Job's pod template changes and Pulumi runs it again."""
    import hashlib

    import infra.config.stack

    def setup(recording):
        job = recording.one("kubernetes:batch/v1:Job", "postgres-setup").inputs
        scripts = recording.one("kubernetes:core/v1:ConfigMap", "postgres-setup-scripts").inputs["data"]
        return job["spec"]["template"]["metadata"]["annotations"]["mlops-stack/scripts-sha256"], scripts

    config = fixtures.stack_config("local")
    checksum, scripts = setup(offline.run("local", config))
    assert checksum == hashlib.sha256(json.dumps(scripts, sort_keys=True).encode()).hexdigest()
    monkeypatch.setattr(infra.config.stack, "DATABASE_CONSUMERS", (*infra.config.stack.DATABASE_CONSUMERS, "reports"))
    more_checksum, more_scripts = setup(offline.run("local", config))
    assert "'reports'" in more_scripts["consumers.sql"] and "'reports'" not in scripts["consumers.sql"]
    assert more_checksum != checksum and more_scripts["setup.sh"] == scripts["setup.sh"]


def test_containers_are_pinned_hardened_and_sized():
    recording = recording_of("local")
    for obj in recording.by_type(STATEFULSET) + recording.by_type("kubernetes:batch/v1:Job"):
        pod = obj.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert ":" in container["image"] and not container["image"].endswith(":latest")
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
            assert set(container["resources"]) == {"requests", "limits"}
            for env in container.get("env", []):
                # A literal, a Secret's key, or the pod's own name (SeaweedFS's address among its peers).
                assert "value" in env or "secretKeyRef" in env["valueFrom"] or env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            if obj.type == STATEFULSET:
                assert {"readinessProbe", "livenessProbe"} <= set(container)


def test_an_unknown_backend_is_refused_clearly():
    with pytest.raises(ConfigError, match=r"^mlops:backend: 'gcp' is not allowed; allowed: ensemble, aws or azure$"):
        offline.run("staging", {"mlops:backend": "gcp", "mlops:owner": "ml"})


def test_the_program_never_imports_a_cloud_sdk_for_the_ensemble():
    import subprocess
    import sys

    code = (
        "import sys; from mlops_stack import offline; from tests import fixtures; offline.run('local', fixtures.stack_config('local'));"
        "print(sorted(m for m in sys.modules if m.startswith(('pulumi_aws', 'pulumi_azure_native'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=offline.REPO_ROOT)
    assert out.stdout.strip() == "[]"


def test_main_module_runs_the_same_program():
    import gc
    import runpy

    config = fixtures.stack_config("local")
    try:
        via_main = offline.run("local", config, lambda: runpy.run_path(str(offline.REPO_ROOT / "__main__.py")))
    finally:
        gc.unfreeze()  # __main__.py freezes the heap for a process about to exit; this one goes on
    assert sorted((r.type, r.name) for r in via_main.resources) == sorted((r.type, r.name) for r in recording_of("local").resources)


def test_every_backend_the_config_accepts_has_an_assembly():
    import importlib

    from infra.config import Backend

    for backend in Backend:
        assert callable(importlib.import_module(f"stacks.{backend.value}").build), backend
