"""The post-deploy check as rendered: a Job at the end of every `up` that uses the platform like a pipeline."""

from __future__ import annotations

import re

from tests import fixtures
from mlops_stack import offline
from tests.conftest import recording_of

JOB = "kubernetes:batch/v1:Job"
SERVICES = ("mlops:kubernetes:Mlflow", "mlops:kubernetes:Feast", "mlops:kubernetes:Evidently", "mlops:kubernetes:Airflow",
            "mlops:kubernetes:Postgres", "mlops:kubernetes:Redis", "mlops:kubernetes:Seaweedfs", "mlops:kubernetes:DatabaseSetup",
            "mlops:kubernetes:ModelEndpoint", "mlops:kubernetes:PipelineConfig")


def smoke_job(recording):
    return recording.one(JOB, "smoke-job")


def test_every_stack_ends_with_the_check_waiting_for_every_service(shipped):
    job = smoke_job(shipped)
    spec = job.inputs["spec"]
    assert re.fullmatch(r"mlops-smoke-[0-9a-f]{10}", job.inputs["metadata"]["name"])
    assert job.inputs["metadata"]["namespace"] == "mlops-pipelines"  # a pipeline's network access
    assert (spec["backoffLimit"], spec["ttlSecondsAfterFinished"], spec["activeDeadlineSeconds"]) == (0, 3600, 600)
    children = {}
    for resource in shipped.resources:
        children.setdefault(resource.parent, set()).add(resource.urn)
    components = [r for r in shipped.resources if r.type in SERVICES]
    assert len(components) >= 6
    for component in components:
        # Waiting for a component is waiting for its resources.
        assert children[component.urn] & set(job.dependencies), component.name


def test_the_check_reads_only_the_pipeline_config_and_holds_no_secret(shipped):
    pod = smoke_job(shipped).inputs["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"][:3] == ["python", "-m", "mlops_jobs.smoke"]
    assert container["envFrom"] == [{"configMapRef": {"name": "mlops-pipeline-config"}}, {"secretRef": {"name": "mlops-pipeline-config"}}]
    assert {"name": "pipeline-config", "mountPath": "/etc/mlops", "readOnly": True} in container["volumeMounts"]
    assert next(v for v in pod["volumes"] if v["name"] == "pipeline-config")["configMap"]["name"] == "mlops-pipeline-config"
    assert all(e["value"] not in shipped.generated_secrets for e in container["env"]) and len(container["env"]) == 1
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False


def test_a_changed_platform_gets_a_new_run_and_an_unchanged_one_keeps_its_result():
    config = fixtures.stack_config("production-onprem")
    same = offline.run("production-onprem", config)
    changed = offline.run("production-onprem", {**config, "mlops:services": {"feast": {"offlineStore": "postgres"}}})
    name = lambda r: smoke_job(r).inputs["metadata"]["name"]
    assert name(same) == name(recording_of("production-onprem")) != name(changed)
    assert smoke_job(same).delete_before_replace  # the fixed-name rule of Jobs: the old run goes first


def test_it_can_be_switched_off_and_given_more_time():
    config = fixtures.stack_config("local")
    assert not offline.run("local", {**config, "mlops:smoke": {"enabled": False}}).by_type("mlops:kubernetes:SmokeCheck")
    slow = offline.run("local", {**config, "mlops:smoke": {"timeoutSeconds": 1800}})
    assert smoke_job(slow).inputs["spec"]["activeDeadlineSeconds"] == 1800


def test_endpoints_that_may_wait_for_their_models_are_left_out():
    # Pulumi.local.yaml's churn endpoint has awaitReady: false.
    assert smoke_job(recording_of("local")).inputs["spec"]["template"]["spec"]["containers"][0]["command"][3:] == ["--skip-endpoint", "churn"]


def test_on_aws_the_check_uses_the_pipelines_role():
    recording = recording_of("staging")
    account = next(r for r in recording.by_type("kubernetes:core/v1:ServiceAccount") if r.inputs["metadata"]["name"] == "mlops-smoke")
    assert account.inputs["metadata"]["namespace"] == "mlops-pipelines"
    assert account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("role/airflow-identity-role")


def test_with_mlflow_managed_the_check_runs_the_mirrored_image_of_the_applications():
    """A mirror set for the applications is used by the check too, even when MLflow is the cloud's."""
    mirror = "registry.example.com/mlops/platform:1.2.0"
    config = {"mlops:backend": "aws", "mlops:owner": "ml-platform",
              "mlops:services": {"mlflow": {"mode": "managed"}, **{app: {"image": mirror} for app in ("feast", "evidently", "airflow")}}}
    recording = offline.run("staging", config)
    assert recording.by_type("mlops:aws:SageMakerMlflow")
    assert smoke_job(recording).inputs["spec"]["template"]["spec"]["containers"][0]["image"] == mirror
