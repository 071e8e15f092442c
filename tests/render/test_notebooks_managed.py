"""The notebooks' managed equivalents as rendered (services.notebooks.mode: managed): SageMaker Studio
in the stack's VPC, with the pipelines' grants and the pipeline config delivered by a lifecycle
configuration whose secret part never sits in the script."""

from __future__ import annotations

import base64
import json

import pytest

from infra.config import ConfigError, load
from mlops_stack import offline
from tests import fixtures
from tests.conftest import resolved


def managed_notebooks(stack: str, **notebooks):
    values = {k: v for k, v in fixtures.stack_config(stack).items() if k != "mlops:serving"}
    services = dict(values.get("mlops:services") or {})
    services["notebooks"] = {"mode": "managed", "users": ["alice", "bob"], **notebooks}
    services["mlflow"] = {**services.get("mlflow", {}), "mode": "managed"}
    return offline.run(stack, {**values, "mlops:services": services})


def secret_arn(recording) -> str:
    """The ARN the mock gives the pipeline config's secret (its name prefix, then AWS's suffix)."""
    prefix = recording.one("aws:secretsmanager/secret:Secret", "notebooks-pipeline-secrets").inputs["namePrefix"]
    return f"arn:aws:secretsmanager:{offline.MOCK_REGION}:{offline.MOCK_ACCOUNT}:secret:{prefix}0mock"


@pytest.fixture(scope="module")
def studio():
    return managed_notebooks("staging")


def test_studio_is_vpc_only_in_the_private_subnets_with_its_own_security_group(studio):
    domain = studio.one("aws:sagemaker/domain:Domain", "notebooks-domain").inputs
    assert domain["appNetworkAccessType"] == "VpcOnly" and domain["authMode"] == "IAM"
    assert domain["subnetIds"] and all("-private-" in subnet for subnet in domain["subnetIds"])
    assert domain["defaultUserSettings"]["securityGroups"] == ["notebooks-security-group-id"]
    egress = {(r.inputs["fromPort"], r.inputs.get("cidrIpv4")) for r in studio.by_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
              if r.name.startswith("notebooks-")}
    assert egress == {(2049, None), (5432, "10.40.0.0/16"), (6379, "10.40.0.0/16"), (443, "0.0.0.0/0")}
    # The data services admit the apps, as they admit the cluster.
    admitted = {r.name for r in studio.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert {"postgres-from-notebooks", "redis-from-notebooks"} <= admitted
    assert domain["retentionPolicy"] == {"homeEfsFileSystem": "Retain"}


def test_each_user_gets_a_profile_and_the_outputs_match_the_hubs(studio):
    profiles = sorted(r.inputs["userProfileName"] for r in studio.by_type("aws:sagemaker/userProfile:UserProfile"))
    assert profiles == ["alice", "bob"]
    notebooks = studio.result.endpoints.notebooks
    assert (notebooks.kind, notebooks.users) == ("sagemaker-studio", ("alice", "bob"))
    assert resolved(notebooks.url).startswith("https://") and resolved(notebooks.url).endswith(".sagemaker.aws")
    assert not [r for r in studio.resources if r.name.startswith("jupyterhub")]  # no hub in managed mode


def test_the_execution_role_has_the_pipelines_grants_and_reads_only_its_secret(studio):
    policy = json.loads(studio.one("aws:iam/rolePolicy:RolePolicy", "notebooks-execution-policy").inputs["policy"])["Statement"]
    pipelines = json.loads(studio.one("aws:iam/rolePolicy:RolePolicy", "airflow-identity-policy").inputs["policy"])["Statement"]
    logs = [s for s in pipelines if "airflow/logs/" in json.dumps(s)]  # the task pods' own logs prefix
    assert [s for s in pipelines if s not in logs] == policy[:-1]
    assert policy[-1] == {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn(studio)}
    trust = json.loads(studio.one("aws:iam/role:Role", "notebooks-execution-role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": ["sagemaker.amazonaws.com"]}


def test_the_lifecycle_configuration_delivers_the_config_and_holds_no_secret(studio):
    lifecycle = studio.one("aws:sagemaker/studioLifecycleConfig:StudioLifecycleConfig", "notebooks-pipeline-config").inputs
    assert lifecycle["studioLifecycleConfigAppType"] == "JupyterLab"
    script = base64.b64decode(lifecycle["studioLifecycleConfigContent"]).decode()
    payload = json.loads(base64.b64decode(script.split("base64.b64decode('")[1].split("')")[0]))
    public = resolved(studio.result.public)
    assert set(payload["files"]) == set(public.files) and set(payload["env"]) == set(public.env)
    assert payload["env"]["MLOPS_FEATURE_STORE_YAML"] == "/home/sagemaker-user/.mlops/feature_store.yaml"
    assert studio.generated_secrets and not [s for s in studio.generated_secrets if s in script]
    assert f"SecretId='{secret_arn(studio)}'" in script
    version = studio.one("aws:secretsmanager/secretVersion:SecretVersion", "notebooks-pipeline-secrets-value").inputs["secretString"]
    assert offline.is_secret_value(version)
    assert set(json.loads(version["value"])) == set(resolved(studio.result.complete).secret_env)
    domain = studio.one("aws:sagemaker/domain:Domain", "notebooks-domain").inputs
    settings = domain["defaultUserSettings"]["jupyterLabAppSettings"]
    arn = f"arn:aws:sagemaker:{offline.MOCK_REGION}:{offline.MOCK_ACCOUNT}:notebooks-pipeline-config"  # the mock's ARN
    assert settings["lifecycleConfigArns"] == [arn] and settings["defaultResourceSpec"]["lifecycleConfigArn"] == arn
    assert settings["defaultResourceSpec"]["instanceType"] == "ml.t3.medium"


def test_managed_notebooks_need_a_managed_tracking_server_and_a_cloud():
    with pytest.raises(ConfigError, match="services.notebooks.mode: 'managed' is not allowed; allowed: in-cluster while MLflow"):
        load("staging", {"backend": "aws", "owner": "ml", "services": {"notebooks": {"mode": "managed", "users": ["alice"]}}})
    with pytest.raises(ConfigError, match="in-cluster with backend 'ensemble'"):
        load("local", {"services": {"notebooks": {"mode": "managed", "users": ["alice"]}}})


@pytest.fixture(scope="module")
def azure_ml():
    return managed_notebooks("production-azure", enabled=True)


def test_azure_ml_gives_each_user_a_private_instance_with_the_pipelines_identity(azure_ml):
    instances = {r.inputs["tags"]["user"]: r.inputs for r in azure_ml.by_type("azure-native:machinelearningservices:Compute")}
    assert sorted(instances) == ["alice", "bob"]
    identity = azure_ml.one("azure-native:managedidentity:UserAssignedIdentity", "airflow-identity-identity")
    names = set()
    for instance in instances.values():
        names.add(instance["computeName"])
        assert 3 <= len(instance["computeName"]) <= 24
        properties = instance["properties"]["properties"]
        assert properties["enableNodePublicIp"] is False and properties["sshSettings"] == {"sshPublicAccess": "Disabled"}
        assert properties["subnet"]["id"].endswith("/subnets/endpoints")
        assert properties["idleTimeBeforeShutdown"] == "PT120M" and properties["vmSize"] == "Standard_DS3_v2"
        assert instance["identity"]["type"] == "UserAssigned"
        assert [i.rsplit("/", 1)[-1] for i in instance["identity"]["userAssignedIdentities"]] == [identity.inputs["resourceName"]]
        assert instance["properties"]["disableLocalAuth"] is True
    assert len(names) == 2
    notebooks = azure_ml.result.endpoints.notebooks
    assert (notebooks.kind, notebooks.users) == ("azure-ml", ("alice", "bob"))
    assert resolved(notebooks.url).startswith("https://ml.azure.com/")


def test_the_creation_script_delivers_the_config_and_reads_its_secret_with_the_identity(azure_ml):
    instance = azure_ml.one("azure-native:machinelearningservices:Compute", "notebooks-alice").inputs
    script = base64.b64decode(instance["properties"]["properties"]["setupScripts"]["scripts"]["creationScript"]["scriptData"]).decode()
    assert azure_ml.generated_secrets and not [s for s in azure_ml.generated_secrets if s in script]
    payload = json.loads(base64.b64decode(script.split("base64.b64decode('")[1].split("')")[0]))
    assert set(payload["env"]) == set(resolved(azure_ml.result.public).env)
    assert "/secrets/pipeline-config-secret-env?api-version=7.4" in script and "169.254.169.254/metadata/identity" in script
    secret = azure_ml.one("azure-native:keyvault:Secret", "notebooks-pipeline-secrets").inputs
    assert offline.is_secret_value(secret["properties"])
    reader = azure_ml.one("azure-native:authorization:RoleAssignment", "notebooks-pipeline-secrets-reader").inputs
    assert reader["scope"].endswith("/pipeline-config-secret-env")  # that secret, not the vault
    assert reader["roleDefinitionId"].endswith("/4633458b-17de-408a-b874-0445c86b69e6")  # Key Vault Secrets User
    assert not [r for r in azure_ml.resources if r.name.startswith("jupyterhub")]
