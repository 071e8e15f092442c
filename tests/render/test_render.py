"""Every shipped stack rendered offline: strict Kubernetes schemas, Feast's own config model, no secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from tests import fixtures
from mlops_stack import offline, render
from infra.contract import REDACTED
from tests.conftest import backend_of

# The oldest and newest Kubernetes minor versions we support (README, "Supported Kubernetes").
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
STACKS = fixtures.stacks()


@pytest.fixture(scope="module", params=STACKS)
def rendered(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    recording = render.render_stack(request.param, out, fixtures.STACKS_DIR)
    return out, recording


def test_shipped_stacks_are_local_staging_and_production_on_aws_azure_and_your_own_cluster():
    assert STACKS == ["local", "production", "production-azure", "production-onprem", "staging"]
    assert {s: backend_of(s) for s in STACKS} == {
        "local": "ensemble", "production-onprem": "ensemble", "staging": "aws", "production": "aws", "production-azure": "azure",
    }


GATEWAY_API = "gateway.networking.k8s.io/"
GATEWAY_API_VALIDATOR = offline.REPO_ROOT / "tests" / "render" / "gateway_api"


def gateway_api_problems(manifests: list[dict]) -> list[str]:
    """The Gateway API's own validators (npm @kubernetes-models/gateway-api), run with Node.js."""
    if not (GATEWAY_API_VALIDATOR / "node_modules").exists() or not shutil.which("node"):
        message = f"{GATEWAY_API_VALIDATOR}/node_modules is missing: ./scripts/test.sh installs it with npm"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(["node", str(GATEWAY_API_VALIDATOR / "validate.mjs")], input=json.dumps(manifests),
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly(rendered, version):
    out, recording = rendered
    files = sorted((out / "manifests").glob("*.yaml"))
    assert len(files) == len(recording.kubernetes_objects()) >= 20
    gateway_api = []
    for path in files:
        manifest = yaml.safe_load(path.read_text())
        assert path.name == render.manifest_filename(manifest)
        if manifest["apiVersion"].startswith(GATEWAY_API):
            gateway_api.append(manifest)  # a CRD's kind: the Kubernetes schemas do not have it
        else:
            kubernetes_validate.validate(manifest, version, strict=True)
    if gateway_api:
        assert gateway_api_problems(gateway_api) == []


def test_the_gateway_api_validator_rejects_a_negative_weight():
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "churn"},
             "spec": {"rules": [{"backendRefs": [{"name": "churn-a", "port": 8080, "weight": -1}]}]}}
    assert gateway_api_problems([route]) == ["HTTPRoute churn: data/spec/rules/0/backendRefs/0/weight must be >= 0"]


def test_strict_validation_rejects_a_misspelt_field():
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"prots": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSIONS[0], strict=True)


def test_no_secret_value_appears_in_any_rendered_file(rendered):
    out, recording = rendered
    assert recording.generated_secrets
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for secret in recording.generated_secrets:
                assert secret not in text, f"{secret} in {path.relative_to(out)}"


def test_secret_manifests_keep_their_keys_with_placeholder_values(rendered):
    out, _ = rendered
    secret = yaml.safe_load((out / "manifests" / "mlops-pipelines--secret--mlops-pipeline-config.yaml").read_text())
    assert secret["stringData"]["pipeline.env"] == REDACTED
    assert set(secret["stringData"].values()) == {REDACTED}
    for path in (out / "manifests").glob("*--configmap--*.yaml"):
        data = yaml.safe_load(path.read_text())["data"]
        assert not any("PASSWORD=" in v or "SECRET" in k for k, v in data.items()), path.name


def test_container_env_values_hold_no_secret(rendered):
    out, recording = rendered
    for path in (out / "manifests").glob("*.yaml"):
        manifest = yaml.safe_load(path.read_text())
        pod = manifest.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            for env in container.get("env", []):
                if "value" in env:
                    assert env["value"] not in recording.generated_secrets
                    assert "PASSWORD" not in env["name"] or "valueFrom" in env


def test_pipeline_files_point_at_the_stacks_own_services(rendered):
    out, recording = rendered
    env = dict(line.split("=", 1) for line in (out / "pipeline" / "pipeline.env").read_text().splitlines())
    feature_store = yaml.safe_load((out / "pipeline" / "feature_store.yaml").read_text())
    assert env["MLOPS_POSTGRES_FEAST_PASSWORD"] == env["MLOPS_REDIS_PASSWORD"] == f"'{REDACTED}'"
    if backend_of(recording.stack) == "ensemble":
        assert env["MLOPS_POSTGRES_HOST"] == "'postgres.mlops.svc.cluster.local'"
        assert env["MLOPS_REDIS_HOST"] == "'redis.mlops.svc.cluster.local'"
        assert env["AWS_ENDPOINT_URL_S3"] == env["MLFLOW_S3_ENDPOINT_URL"] == "'http://seaweedfs.mlops.svc.cluster.local:8333'"
        assert env["AWS_SECRET_ACCESS_KEY"] == f"'{REDACTED}'"
        assert "@postgres.mlops.svc.cluster.local:5432/feast?sslmode=disable" in feature_store["registry"]["path"]
        assert feature_store["online_store"]["connection_string"].startswith("redis.mlops.svc.cluster.local:6379,")
    elif backend_of(recording.stack) == "azure":
        # Flexible Server and Azure Cache for Redis over TLS; ADLS Gen2 with the pod's workload identity, no keys.
        assert env["MLOPS_POSTGRES_HOST"].endswith(".postgres.database.azure.com'") and env["MLOPS_POSTGRES_SSLMODE"] == "'require'"
        assert env["MLOPS_REDIS_HOST"].endswith(".redis.cache.windows.net'") and env["MLOPS_REDIS_PORT"] == "'6380'"
        assert env["MLOPS_REDIS_TLS"] == "'true'" and env["MLOPS_OBJECT_STORE_AUTH"] == "'workload-identity'"
        account = env["AZURE_STORAGE_ACCOUNT_NAME"].strip("'")
        assert env["MLOPS_BUCKET_LAKE_URL"] == f"'abfss://lake@{account}.dfs.core.windows.net'"
        assert env["MLFLOW_ARTIFACTS_DESTINATION"] == f"'wasbs://artifacts@{account}.blob.core.windows.net/mlflow'"
        assert not [k for k in env if k.startswith("AWS_") or k in ("AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING")]
        assert feature_store["registry"]["path"].endswith(".postgres.database.azure.com:5432/feast?sslmode=require")
        assert feature_store["online_store"]["connection_string"].endswith(":6380,password=${MLOPS_REDIS_PASSWORD},ssl=true")
        assert "url = azure://lake/dvc" in (out / "pipeline" / "dvc.config").read_text()
    else:
        # RDS and ElastiCache over TLS; S3 at its default endpoint, with the pod's IAM role.
        assert env["MLOPS_POSTGRES_HOST"].endswith(".rds.amazonaws.com'") and env["MLOPS_POSTGRES_SSLMODE"] == "'require'"
        assert env["MLOPS_REDIS_HOST"].endswith(".cache.amazonaws.com'") and env["MLOPS_REDIS_TLS"] == "'true'"
        assert env["MLOPS_OBJECT_STORE_AUTH"] == "'irsa'" and env["AWS_REGION"] == "'eu-west-1'"
        assert not {"AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)
        assert feature_store["registry"]["path"].endswith(".rds.amazonaws.com:5432/feast?sslmode=require")
        assert feature_store["online_store"]["connection_string"].endswith(",ssl=true")
    assert (out / "pipeline" / "pipeline.yaml").exists() and (out / "pipeline" / "dvc.config").exists()


def test_feast_accepts_the_generated_feature_store_yaml(rendered, tmp_path, monkeypatch):
    from feast.repo_config import RepoConfig, load_repo_config

    out, _ = rendered
    env = dict(line.split("=", 1) for line in (out / "pipeline" / "pipeline.env").read_text().splitlines())
    host, redis, port, sslmode = (env[k].strip("'") for k in ("MLOPS_POSTGRES_HOST", "MLOPS_REDIS_HOST", "MLOPS_REDIS_PORT", "MLOPS_POSTGRES_SSLMODE"))
    for key, value in env.items():  # what a pipeline pod has: the whole pipeline config
        monkeypatch.setenv(key, value.strip("'"))
    monkeypatch.setenv("MLOPS_POSTGRES_FEAST_USER", "feast")
    monkeypatch.setenv("MLOPS_POSTGRES_FEAST_PASSWORD", "Secret123")
    monkeypatch.setenv("MLOPS_REDIS_PASSWORD", "Redis456")
    config = load_repo_config(tmp_path, out / "pipeline" / "feature_store.yaml")
    assert isinstance(config, RepoConfig)
    assert config.registry.registry_type == "sql"
    assert config.registry.path == f"postgresql+psycopg://feast:Secret123@{host}:5432/feast?sslmode={sslmode}"
    assert config.online_store.type == "redis"
    tls = ",ssl=true" if env["MLOPS_REDIS_TLS"] == "'true'" else ""
    assert config.online_store.connection_string == f"{redis}:{port},password=Redis456{tls}"
    if env["MLOPS_WAREHOUSE_KIND"] == "'postgres'":  # the stack's warehouse (tests/render/test_warehouse.py)
        assert (config.offline_store.type, config.offline_store.database, config.offline_store.port) == ("postgres", "warehouse", 5432)
    elif env["MLOPS_WAREHOUSE_KIND"] == "'athena'":
        assert (config.offline_store.type, config.offline_store.workgroup) == ("athena", env["MLOPS_WAREHOUSE_WORKGROUP"].strip("'"))
    else:
        assert config.offline_store.type == "file"


def test_resources_json_lists_every_resource_with_options_and_dependencies(rendered):
    out, recording = rendered
    entries = json.loads((out / "resources.json").read_text())
    assert len(entries) == len(recording.resources)
    assert all(set(e) == {"urn", "type", "name", "parent", "inputs", "protect", "depends_on"} for e in entries)
    by_name = {e["name"]: e for e in entries}
    job = by_name["postgres-setup"]
    assert by_name["postgres-setup-scripts"]["urn"] in job["depends_on"]  # through inputs: the ConfigMap it mounts
    production = recording.stack.startswith("production")
    if backend_of(recording.stack) == "ensemble":
        # Explicit (the StatefulSet) and through inputs (the Secret its env reads).
        assert by_name["postgres-statefulset"]["urn"] in job["depends_on"]
        assert by_name["postgres-credentials"]["urn"] in job["depends_on"]
        assert by_name["postgres-statefulset"]["protect"] is production
    else:
        # Explicit (nodes to run on) and through inputs (the server's address, the admin Secret).
        nodes, server = ("aks-nodes", "postgres-server") if backend_of(recording.stack) == "azure" else ("eks-nodes", "postgres-instance")
        assert by_name[nodes]["urn"] in job["depends_on"]
        assert by_name[server]["urn"] in job["depends_on"]
        assert by_name["postgres-credentials"]["urn"] in job["depends_on"]
        assert by_name[server]["protect"] is production


def test_inventory_counts_types_and_draws_the_services(rendered):
    out, recording = rendered
    text = (out / "inventory.md").read_text()
    assert f"{len(recording.resources)} resources." in text
    assert "```mermaid" in text and "postgresql -. endpoints .-> config" in text
    if backend_of(recording.stack) == "ensemble":
        assert "| `kubernetes:apps/v1:StatefulSet` | 3 |" in text
    elif backend_of(recording.stack) == "azure":
        assert "| `azure-native:dbforpostgresql:Server` | 1 |" in text and "StatefulSet" not in text
    else:
        assert "| `aws:rds/instance:Instance` | 1 |" in text and "StatefulSet" not in text


def test_cli_renders_a_stack_and_reports_bad_config_in_one_line(tmp_path):
    cli = [sys.executable, "-m", "mlops_stack.cli"]
    ok = subprocess.run([*cli, "render", "local", "--out", str(tmp_path / "local")], capture_output=True, text=True, cwd=offline.REPO_ROOT)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "local" / "manifests" / "mlops--statefulset--postgres.yaml").exists()

    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.broken.yaml").write_text("config:\n  mlops:environment: local\n  mlops:bakend: aws\n")
    bad = subprocess.run([*cli, "render", "broken", "--dir", str(project), "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=offline.REPO_ROOT)
    assert bad.returncode == 2
    assert bad.stderr.startswith("mlops-stack render broken: mlops:bakend: unknown key; allowed keys here: environment, backend,")
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr

    missing = subprocess.run([*cli, "render", "nosuchstack"], capture_output=True, text=True, cwd=offline.REPO_ROOT)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "Pulumi.nosuchstack.yaml" in missing.stderr


def test_the_inventory_draws_model_serving_and_the_tracking_server_its_models_come_from():
    config = {"mlops:backend": "ensemble", "mlops:cluster": {"context": "kind-test"}, "mlops:serving": {"endpoints": {"churn": {
        "awaitReady": False, "variants": [{"name": "a", "model": "models:/churn/1", "weight": 100}]}}}}
    text = render.inventory(offline.run("local", config))
    assert '  serving["Serving"]' in text and "  serving --> mlflow" in text and "  pipelines --> serving" in text
