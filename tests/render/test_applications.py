"""MLflow, Feast, Evidently and Airflow as the program renders them: what an operator checks before a deploy."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from infra import config
from tests import fixtures
from mlops_stack import offline
from mlops_stack.offline import Recording
from tests.conftest import recording_of, resolved

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
APPLICATIONS = {"mlflow", "feast", "evidently", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


def objects(recording: Recording, type_: str) -> dict[str, dict]:
    return {offline.redact(r.inputs)["metadata"]["name"]: offline.redact(r.inputs) for r in recording.by_type(type_)}


def pod_specs(recording: Recording):
    for type_, path in (
        (DEPLOYMENT, ("spec", "template", "spec")),
        ("kubernetes:batch/v1:Job", ("spec", "template", "spec")),
        ("kubernetes:batch/v1:CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
    ):
        for name, inputs in objects(recording, type_).items():
            spec = inputs
            for key in path:
                spec = spec[key]
            yield name, spec


def test_all_seven_services_run_on_the_ensemble(ensemble):
    deployments = set(objects(ensemble, DEPLOYMENT))
    assert APPLICATIONS <= deployments
    statefulsets = set(objects(ensemble, "kubernetes:apps/v1:StatefulSet"))
    assert statefulsets == {"postgres", "redis", "seaweedfs"}


def test_the_applications_run_in_the_cluster_on_every_backend(shipped):
    assert APPLICATIONS <= set(objects(shipped, DEPLOYMENT))


def test_every_application_container_is_pinned_sized_probed_and_unprivileged(shipped):
    for name, spec in pod_specs(shipped):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), (name, image)
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and container["resources"]["limits"], name
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True, name
    for name, deployment in objects(shipped, DEPLOYMENT).items():
        server = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "livenessProbe" in server and "readinessProbe" in server, name


def test_credentials_come_from_secrets_never_from_literal_env_values(shipped):
    for name, spec in pod_specs(shipped):
        for container in spec.get("initContainers", []) + spec["containers"]:
            for variable in container.get("env", []):
                if any(word in variable["name"] for word in ("PASSWORD", "SECRET", "TOKEN", "CONN", "KEY", "URI")):
                    assert "valueFrom" in variable or variable["name"] in {"MLFLOW_ARTIFACTS_DESTINATION"}, (name, variable)


def test_pipeline_config_names_every_service(shipped):
    env = resolved(shipped.result.public).env
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops.svc.cluster.local:5000"
    assert env["MLOPS_FEAST_URL"] == "http://feast.mlops.svc.cluster.local:6566"
    assert env["MLOPS_EVIDENTLY_URL"] == "http://evidently.mlops.svc.cluster.local:8000"
    assert env["MLOPS_AIRFLOW_URL"] == "http://airflow-api-server.mlops.svc.cluster.local:8080"
    secret_keys = set(resolved(shipped.result.public).secret_env)
    store_connection = "AIRFLOW_CONN_" + resolved(shipped.result.public).env["MLOPS_OBJECT_STORE_CONN_ID"].upper()
    assert {"MLOPS_EVIDENTLY_TOKEN", "AIRFLOW_CONN_MLOPS_MLFLOW", store_connection, "AIRFLOW_CONN_MLOPS_POSTGRES"} <= secret_keys
    # The same config is published where pipelines run and where the platform's servers run.
    namespaces = {o["metadata"]["namespace"] for o in objects_all(shipped, "kubernetes:core/v1:ConfigMap") if o["metadata"]["name"] == "mlops-pipeline-config"}
    assert namespaces == {"mlops", "mlops-pipelines"}


def objects_all(recording: Recording, type_: str) -> list[dict]:
    return [offline.redact(r.inputs) for r in recording.by_type(type_)]


def test_mlflow_serves_artifacts_from_the_bucket_with_workers_per_environment():
    for stack, workers in (("local", "1"), ("production-onprem", "4")):
        mlflow = objects(recording_of(stack), DEPLOYMENT)["mlflow"]["spec"]["template"]["spec"]["containers"][0]
        command = mlflow["command"]
        assert command[:2] == ["mlflow", "server"] and command[command.index("--workers") + 1] == workers
        env = {e["name"]: e for e in mlflow["env"]}
        assert env["MLFLOW_ARTIFACTS_DESTINATION"]["value"] == "s3://artifacts/mlflow"
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-backend-store", "key": "uri"}
    assert objects(recording_of("production-onprem"), DEPLOYMENT)["mlflow"]["spec"]["replicas"] == 2


def test_airflow_task_pods_get_the_pipeline_config_and_run_in_the_pipelines_namespace(shipped):
    template_map = objects(shipped, "kubernetes:core/v1:ConfigMap")["airflow-pod-template"]
    pod = yaml.safe_load(template_map["data"]["pod_template.yaml"])
    kubernetes_validate.validate({**pod, "metadata": {**pod["metadata"], "name": "template"}}, "1.30.0", strict=True)
    base = pod["spec"]["containers"][0]
    assert base["name"] == "base"  # the KubernetesExecutor's contract
    assert {"configMapRef": {"name": "mlops-pipeline-config"}} in base["envFrom"]
    assert {"secretRef": {"name": "mlops-pipeline-config"}} in base["envFrom"]
    assert {"name": "pipeline-config", "mountPath": "/etc/mlops", "readOnly": True} in base["volumeMounts"]

    settings = [o for o in objects_all(shipped, "kubernetes:core/v1:ConfigMap") if o["metadata"]["name"] == "airflow-settings"]
    assert {s["metadata"]["namespace"] for s in settings} == {"mlops", "mlops-pipelines"}
    values = settings[0]["data"]
    assert values["AIRFLOW__CORE__EXECUTOR"] == "KubernetesExecutor"
    assert values["AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE"] == "mlops-pipelines"
    assert values["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server.mlops.svc.cluster.local:8080/execution/"

    role = objects(shipped, "kubernetes:rbac.authorization.k8s.io/v1:Role")["airflow-pod-launcher"]
    assert role["metadata"]["namespace"] == "mlops-pipelines"
    assert {"create", "delete", "watch"} <= set(next(r for r in role["rules"] if r["resources"] == ["pods"])["verbs"])
    binding = objects(shipped, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")["airflow-pod-launcher"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "airflow", "namespace": "mlops"}]
    scheduler = objects(shipped, DEPLOYMENT)["airflow-scheduler"]["spec"]["template"]["spec"]
    assert scheduler["serviceAccountName"] == "airflow" and scheduler["automountServiceAccountToken"] is True
    for name in ("mlflow", "feast", "evidently", "airflow-triggerer"):
        assert objects(shipped, DEPLOYMENT)[name]["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_airflow_components_start_after_the_migration_and_the_applications_after_their_data_services(ensemble):
    shipped = ensemble
    urns = {r.name: r.urn for r in shipped.resources}
    for name in ("airflow-api-server-deployment", "airflow-scheduler-deployment", "airflow-dag-processor-deployment"):
        assert urns["airflow-migrate"] in shipped.one(DEPLOYMENT, name).dependencies
    # Waiting for a component means waiting for its children, the setup Jobs among them.
    mlflow = shipped.one(DEPLOYMENT, "mlflow-deployment").dependencies
    assert urns["postgres-setup"] in mlflow and urns["seaweedfs-setup"] in mlflow
    assert not [d for d in mlflow if "mlops:kubernetes:Redis" in d]  # MLflow does not use Redis
    assert urns["postgres-setup"] in shipped.one("kubernetes:batch/v1:Job", "airflow-migrate").dependencies
    evidently = shipped.one(DEPLOYMENT, "evidently-deployment").dependencies
    assert urns["seaweedfs-setup"] in evidently and urns["postgres-setup"] not in evidently


def test_admin_password_and_airflow_keys_are_generated_and_secret(shipped):
    import base64

    admin = shipped.one("kubernetes:core/v1:Secret", "airflow-admin").inputs["stringData"]
    assert offline.is_secret_value(admin)  # the whole stringData is secret in the state
    passwords = json.loads(admin["value"]["passwords.json"])
    assert passwords["admin"] == admin["value"]["password"] and admin["value"]["password"] in shipped.generated_secrets
    # Pipelines sign in as their own user, with its password in the pipeline config's Secret only.
    assert set(passwords) == {"admin", "pipelines"} and passwords["pipelines"] in shipped.generated_secrets
    assert resolved(shipped.result.complete).secret_env["MLOPS_AIRFLOW_PASSWORD"] == passwords["pipelines"]
    assert resolved(shipped.result.public).env["MLOPS_AIRFLOW_USER"] == "pipelines"
    keys = shipped.one("kubernetes:core/v1:Secret", "airflow-secrets").inputs["stringData"]
    assert offline.is_secret_value(keys)
    assert set(keys["value"]) == {"sql-alchemy-conn", "fernet-key", "jwt-secret", "api-secret-key"}
    assert len(base64.urlsafe_b64decode(keys["value"]["fernet-key"])) == 32  # a Fernet key


def test_dags_and_feature_repository_from_git_are_checked_out_by_git_sync():
    source = {"git": "https://github.com/example/ml-pipelines.git", "ref": "v1.2.0"}
    recording = offline.run("local", {
        "mlops:services": {"airflow": {"dags": {**source, "path": "dags"}}, "feast": {"repository": {**source, "path": "features"}}},
        "kubernetes:context": "kind-mlops",
    })
    deployments = objects(recording, DEPLOYMENT)
    processor = deployments["airflow-dag-processor"]["spec"]["template"]["spec"]
    sidecar = processor["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always" and sidecar["image"] == config.DEFAULT_IMAGES["gitSync"]
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert (env["GITSYNC_REPO"], env["GITSYNC_REF"], env["GITSYNC_ONE_TIME"]) == (source["git"], "v1.2.0", "false")
    settings = objects(recording, "kubernetes:core/v1:ConfigMap")["airflow-settings"]["data"]
    assert settings["AIRFLOW__CORE__DAGS_FOLDER"] == "/src/current/dags"
    template = yaml.safe_load(objects(recording, "kubernetes:core/v1:ConfigMap")["airflow-pod-template"]["data"]["pod_template.yaml"])
    assert template["spec"]["initContainers"][0]["env"][-1] == {"name": "GITSYNC_ONE_TIME", "value": "true"}

    apply = objects(recording, "kubernetes:batch/v1:Job")["feast-apply"]["spec"]["template"]["spec"]
    assert apply["initContainers"][0]["name"] == "git-sync"
    assert apply["containers"][0]["command"][:3] == ["feast", "--chdir", "/src/current/features"]
    for manifest in (deployments["airflow-dag-processor"],):
        kubernetes_validate.validate(
            {"apiVersion": "apps/v1", "kind": "Deployment", **json.loads(json.dumps(manifest))}, "1.30.0", strict=True
        )


def test_an_ingress_is_rendered_only_when_enabled():
    assert not recording_of("local").by_type("kubernetes:networking.k8s.io/v1:Ingress")
    recording = offline.run("local", {
        "mlops:services": {"mlflow": {"ingress": {"enabled": True, "host": "mlflow.example.com", "tlsSecret": "mlflow-tls"}}},
        "kubernetes:context": "kind-mlops",
    })
    ingress = objects(recording, "kubernetes:networking.k8s.io/v1:Ingress")["mlflow"]
    assert ingress["spec"]["rules"][0]["host"] == "mlflow.example.com"
    assert ingress["spec"]["tls"] == [{"hosts": ["mlflow.example.com"], "secretName": "mlflow-tls"}]
    mlflow = objects(recording, DEPLOYMENT)["mlflow"]["spec"]["template"]["spec"]["containers"][0]
    hosts = next(e["value"] for e in mlflow["env"] if e["name"] == "MLFLOW_SERVER_ALLOWED_HOSTS")
    assert "mlflow.example.com" in hosts.split(",")


def test_schedules_come_from_config():
    recording = offline.run("local", {
        "mlops:services": {"feast": {"materializeSchedule": "*/15 * * * *"}, "evidently": {"monitoring": {"schedule": "@daily"}}},
        "kubernetes:context": "kind-mlops",
    })
    cronjobs = objects(recording, "kubernetes:batch/v1:CronJob")
    assert cronjobs["feast-materialize"]["spec"]["schedule"] == "*/15 * * * *"
    assert cronjobs["evidently-monitor"]["spec"]["schedule"] == "@daily"
    assert cronjobs["feast-materialize"]["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_monitoring_jobs_threshold_and_window_come_from_config():
    def command(monitoring):
        recording = offline.run("local", {"mlops:services": {"evidently": {"monitoring": monitoring}}, "kubernetes:context": "kind-mlops"})
        return objects(recording, "kubernetes:batch/v1:CronJob")["evidently-monitor"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]

    assert command({"threshold": 0.3, "windowHours": 6, "current": ""}) == [
        "python", "-m", "mlops_jobs.monitor", "--project", "mlops", "--reference", "example/churn/reference.parquet",
        "--threshold", "0.3", "--window-hours", "6"]
    assert command({})[-6:] == ["--threshold", "0.5", "--window-hours", "24", "--current", "example/churn/current.parquet"]


def test_a_managed_application_is_left_to_the_backend():
    # On AWS, managed MLflow is SageMaker's tracking server: nothing of MLflow runs in the cluster, and
    # pipelines are pointed at the tracking server, with the plugin its client needs.
    # (No model: variants: they load from the in-cluster tracking server, so config refuses them here.)
    recording = offline.run("staging", {**fixtures.stack_config("staging"), "mlops:services": {"mlflow": {"mode": "managed"}}, "mlops:serving": {}})
    assert recording.by_type("mlops:kubernetes:Mlflow") == [] and "mlflow" not in objects(recording, DEPLOYMENT)
    server = recording.one("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "mlflow-tracking-server")
    env = recording.one("kubernetes:core/v1:ConfigMap", "pipeline-config-configmap").inputs["data"]
    assert env["MLFLOW_TRACKING_URI"].startswith("arn:aws:sagemaker:") and env["MLOPS_MLFLOW_PLUGIN"] == "sagemaker-mlflow"
    assert server.inputs["trackingServerName"] in env["MLFLOW_TRACKING_URI"]
    # In the cluster, with the same key, the Deployment is there; the ensemble has no managed MLflow at all.
    in_cluster = recording_of("staging")
    assert in_cluster.by_type("mlops:kubernetes:Mlflow") and "mlflow" in objects(in_cluster, DEPLOYMENT)
    with pytest.raises(config.ConfigError, match="mlops:services.mlflow.mode: 'managed' is not allowed; allowed: in-cluster"):
        config.load("local", {"services": {"mlflow": {"mode": "managed"}}})
