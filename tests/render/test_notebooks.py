"""The notebooks hub as rendered: JupyterHub, its proxy and its spawner's settings; user servers that
get exactly a task pod's pipeline config and cloud identity, and no secret in plain text."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from components.kubernetes import jupyterhub
from mlops_stack import offline
from tests import fixtures
from tests.conftest import recording_of
from tests.integration.kubelet import plain

NOTEBOOK_STACKS = ["local", "staging"]  # notebooks are on by default in local and staging
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def hub_files(recording) -> dict[str, str]:
    return recording.one(CONFIG_MAP, "jupyterhub-config").inputs["data"]


def user_pod(recording) -> dict:
    return yaml.safe_load(hub_files(recording)["user-pod.yaml"])


class Section(dict):
    def __getattr__(self, key):
        return self.setdefault(key, None)

    def __setattr__(self, key, value):
        self[key] = value


def spawner_settings(recording, tmp_path: Path, monkeypatch) -> dict[str, Section]:
    """jupyterhub_config.py run as the hub runs it, against the rendered files, with a stand-in for
    traitlets' config object: what the hub and KubeSpawner will be set to."""
    for name, content in hub_files(recording).items():
        (tmp_path / name).write_text(content)
    monkeypatch.setenv("JUPYTERHUB_HUB_PORT", "8081")
    for variable in ("JUPYTERHUB_DB_URL", "JUPYTERHUB_USER_PASSWORD", "JUPYTERHUB_ADMIN_PASSWORD", "JUPYTERHUB_PLATFORM_TOKEN"):
        monkeypatch.setenv(variable, f"<{variable}>")
    monkeypatch.setenv("JUPYTERHUB_SETTINGS_DIR", str(tmp_path))
    config: dict[str, Section] = {}

    class Config(dict):
        def __getattr__(self, key):
            return config.setdefault(key, Section())

    code = (tmp_path / "jupyterhub_config.py").read_text()
    exec(compile(code, "jupyterhub_config.py", "exec"), {"get_config": Config, "__file__": str(tmp_path / "jupyterhub_config.py")})
    return config


@pytest.fixture(params=NOTEBOOK_STACKS)
def stack(request):
    return recording_of(request.param)


def test_the_hub_and_the_proxy_run_as_deployments_and_the_user_pod_template_is_a_valid_pod(stack):
    deployments = {r.inputs["metadata"]["name"]: r.inputs for r in stack.by_type(DEPLOYMENT)}
    hub, proxy = deployments["jupyterhub-hub"], deployments["jupyterhub-proxy"]
    assert hub["spec"]["replicas"] == 1 and hub["spec"]["strategy"]["type"] == "Recreate"  # one hub per database
    assert hub["spec"]["template"]["spec"]["automountServiceAccountToken"] is True  # KubeSpawner drives the API
    assert proxy["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    command = hub["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "jupyterhub" and "--config=/etc/jupyterhub/jupyterhub_config.py" in command
    pod = user_pod(stack)
    kubernetes_validate.validate({**pod, "metadata": {**pod["metadata"], "name": "user"}}, "1.30.0", strict=True)
    assert pod["metadata"]["namespace"] == "mlops-pipelines"


def test_a_user_server_gets_a_task_pods_pipeline_config_and_identity_and_no_secret(stack):
    pod = user_pod(stack)
    task = yaml.safe_load(stack.one(CONFIG_MAP, "airflow-pod-template").inputs["data"]["pod_template.yaml"])
    container, task_container = pod["spec"]["containers"][0], task["spec"]["containers"][0]
    pipeline = [{"configMapRef": {"name": "mlops-pipeline-config"}}, {"secretRef": {"name": "mlops-pipeline-config"}}]
    assert container["envFrom"] == pipeline and all(source in task_container["envFrom"] for source in pipeline)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mounts["/etc/mlops"])
    assert volume == next(v for v in task["spec"]["volumes"] if v["name"] == "pipeline-config")
    assert all("valueFrom" not in e for e in container["env"])
    # The restricted profile, as every pod of the platform.
    assert container["securityContext"]["readOnlyRootFilesystem"] and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] and pod["spec"]["automountServiceAccountToken"] is False

    account = next(r.inputs for r in stack.by_type("kubernetes:core/v1:ServiceAccount")
                   if r.inputs["metadata"]["name"] == pod["spec"]["serviceAccountName"])
    assert account["metadata"]["namespace"] == "mlops-pipelines"
    worker = next(r.inputs for r in stack.by_type("kubernetes:core/v1:ServiceAccount") if r.inputs["metadata"]["name"] == "airflow-worker")
    assert account["metadata"].get("annotations") == worker["metadata"].get("annotations")  # IRSA on staging, none locally

    rendered = json.dumps([hub_files(stack), [r.inputs for r in stack.by_type(DEPLOYMENT) if r.name.startswith("jupyterhub")]])
    assert stack.generated_secrets and not [s for s in stack.generated_secrets if s in rendered]


def test_on_aws_the_user_servers_account_may_assume_the_pipelines_role():
    recording = recording_of("staging")
    annotations = next(r.inputs for r in recording.by_type("kubernetes:core/v1:ServiceAccount")
                       if r.inputs["metadata"]["name"] == jupyterhub.USER_SERVICE_ACCOUNT)["metadata"]["annotations"]
    role = recording.one("aws:iam/role:Role", "airflow-identity-role").inputs
    trust = json.loads(role["assumeRolePolicy"])
    subjects = json.dumps(trust)
    assert "system:serviceaccount:mlops-pipelines:notebook-user" in subjects
    assert list(annotations) == ["eks.amazonaws.com/role-arn"]


def test_the_spawner_gives_each_user_a_claim_profiles_and_a_culler(stack, tmp_path, monkeypatch):
    config = spawner_settings(stack, tmp_path, monkeypatch)
    spawner, hub = config["KubeSpawner"], config["JupyterHub"]
    assert hub.spawner_class == "kubespawner.KubeSpawner" and hub.authenticator_class == "shared-password"
    assert spawner.namespace == "mlops-pipelines" and spawner.service_account == jupyterhub.USER_SERVICE_ACCOUNT
    assert spawner.storage_pvc_ensure and spawner.pvc_name_template == "notebook-home-{username}"
    assert spawner.storage_capacity == ("5Gi" if stack.stack == "local" else "20Gi")
    home = next(v for v in spawner.volumes if v["name"] == "home")
    assert home == {"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
    assert spawner.extra_container_config["envFrom"][1] == {"secretRef": {"name": "mlops-pipeline-config"}}
    profiles = spawner.profile_list
    assert profiles[0]["default"] and profiles[0]["kubespawner_override"]["mem_limit"] > 0
    culler = next(s for s in hub.services if s["name"] == "idle-culler")
    assert f"--timeout={3600 if stack.stack == 'local' else 7200}" in culler["command"]
    assert config["SharedPasswordAuthenticator"].admin_password == "<JUPYTERHUB_ADMIN_PASSWORD>"
    assert config["ConfigurableHTTPProxy"].should_start is False


def test_a_gpu_profile_lands_on_the_gpu_nodes(tmp_path, monkeypatch):
    values = {**fixtures.stack_config("local"), "mlops:services": {"notebooks": {
        "users": ["alice"], "gpu": {"enabled": True, "count": 2, "nodeSelector": {"gpu": "a100"},
                                    "tolerations": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]}}}}
    config = spawner_settings(offline.run("local", values), tmp_path, monkeypatch)
    gpu = next(p for p in config["KubeSpawner"].profile_list if p["slug"] == "gpu")["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "2"} and gpu["node_selector"] == {"gpu": "a100"}
    assert gpu["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert config["Authenticator"].allowed_users == {"alice"}


def test_the_hub_has_its_own_database_login_that_the_pipeline_config_leaves_out(stack):
    secret = plain(stack.one(SECRET, "jupyterhub-hub-secret").inputs["stringData"])
    assert secret["db-url"].startswith("postgresql+psycopg://jupyterhub:")
    public = offline.resolved(stack.result.public)
    assert not [k for k in public.env if "JUPYTERHUB" in k]
    complete = offline.resolved(stack.result.complete)
    password = secret["db-url"].split(":")[2].split("@")[0]
    assert password not in json.dumps(complete.secret_env) and password not in json.dumps(complete.files)


def test_the_hubs_rights_stop_at_pods_and_claims_in_the_pipelines_namespace(stack):
    role = stack.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "jupyterhub-spawner").inputs
    assert role["metadata"]["namespace"] == "mlops-pipelines"
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"pods", "persistentvolumeclaims", "events"}
    assert not any("secrets" in rule["resources"] or "*" in rule["verbs"] for rule in role["rules"])


def test_user_servers_admit_only_the_hub_and_its_proxy(stack):
    policy = next(r.inputs for r in stack.by_type(POLICY) if r.inputs["metadata"]["name"] == "allow-jupyterhub-singleuser-server")
    assert policy["metadata"]["namespace"] == "mlops-pipelines"
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8888, "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops"}},
                             "podSelector": {"matchLabels": {"app.kubernetes.io/name": "jupyterhub"}}}]
    names = {r.inputs["metadata"]["name"] for r in stack.by_type(POLICY)}
    assert {"allow-jupyterhub-hub", "allow-jupyterhub-proxy-api"} <= names
    assert "allow-jupyterhub-proxy" not in names  # no Ingress: people come in by port-forward


def test_the_notebooks_output_names_the_url_and_the_users(stack):
    notebooks = stack.result.endpoints.notebooks
    assert notebooks.kind == "jupyterhub" and notebooks.users == ("admin",)
    assert offline.resolved(notebooks.url) == "http://jupyterhub-proxy.mlops.svc.cluster.local:80"


def test_production_has_no_notebooks_unless_asked():
    recording = recording_of("production")
    assert not [r for r in recording.resources if r.name.startswith("jupyterhub")]
    assert recording.result.endpoints.notebooks is None
    scripts = recording.one(CONFIG_MAP, "postgres-setup-scripts").inputs["data"]["consumers.sql"]
    assert "jupyterhub" not in scripts


def test_an_ingress_serves_the_proxy_when_enabled():
    values = {**fixtures.stack_config("local"), "mlops:services": {"notebooks": {
        "ingress": {"enabled": True, "host": "notebooks.example.com", "tlsSecret": "notebooks-tls"}}}}
    recording = offline.run("local", values)
    ingress = recording.one("kubernetes:networking.k8s.io/v1:Ingress", "jupyterhub-ingress").inputs
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "jupyterhub-proxy"
    assert offline.resolved(recording.result.endpoints.notebooks.url) == "https://notebooks.example.com/"
    assert "allow-jupyterhub-proxy" in {r.inputs["metadata"]["name"] for r in recording.by_type(POLICY)}
