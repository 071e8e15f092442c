"""Each policy of the pack passes on every resource of every shipped stack, and fails on a resource
built to break it, with a message that says how to fix it."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlops_stack import offline

from mlops_stack.offline import REPO_ROOT, RecordedResource
from tests.conftest import recording_of
from tests.integration.kubelet import plain

sys.path.insert(0, str(REPO_ROOT / "policies"))
import mlops_policies  # noqa: E402

RULES = {rule.name: rule for rule in mlops_policies.POLICIES}


@dataclass
class Opts:
    protect: bool = False


@dataclass
class Args:
    """The fields of CrossGuard's ResourceValidationArgs that the rules read."""

    resource_type: str
    props: dict
    urn: str = "urn:pulumi:local::mlops-stack::x::x"
    name: str = "x"
    opts: Opts = field(default_factory=Opts)


def args_of(resource: RecordedResource) -> Args:
    return Args(resource.type, plain(resource.inputs), resource.urn, resource.name, Opts(resource.protect))


def violations(rule: str, args: Args) -> list[str]:
    found: list[str] = []
    RULES[rule].validate(args, found.append)
    return found


@pytest.mark.parametrize("stack", [*offline.shipped_stacks(), "staging-pr-42"])
def test_every_policy_passes_on_every_resource_of_every_shipped_stack(stack):
    recording = recording_of(stack, "staging" if stack.startswith("staging-pr") else None)
    assert len(recording.resources) > 50
    found = {
        (rule.name, resource.name, message)
        for resource in recording.resources
        for rule in mlops_policies.POLICIES
        for message in violations(rule.name, args_of(resource))
    }
    assert found == set()


@pytest.mark.parametrize("backend", ["aws", "azure"])
def test_every_policy_passes_on_managed_model_endpoints(backend):
    from tests.render import test_serving as serving

    recording = (serving.managed(serving.MANAGED_A, serving.MANAGED_B) if backend == "aws"
                 else serving.on_azure(serving.AZURE_A, serving.AZURE_B))
    found = {(rule.name, resource.name, message) for resource in recording.resources
             for rule in mlops_policies.POLICIES for message in violations(rule.name, args_of(resource))}
    assert found == set()


def deployment(**container_changes) -> dict:
    container = {
        "name": "app", "image": "ghcr.io/org/app:1.2.3",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
        "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
    }
    container.update(container_changes)
    return {"metadata": {"name": "app"}, "spec": {"template": {"spec": {"securityContext": {"runAsNonRoot": True}, "containers": [container]}}}}


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PRODUCTION_URN = "urn:pulumi:production::mlops-stack::x::db"
# Azure resources carry the stack's tags: a stack of any name is production by its environment tag.
AZURE_PRODUCTION = {"environment": "production", "owner": "ml", "project": "mlops-stack", "stack": "production-azure"}

BROKEN = [
    # (rule, a resource built to break it, words of the fix in the message)
    ("pinned-images", Args(DEPLOYMENT, deployment(image="ghcr.io/org/app:latest")), "Pin the image by version tag or digest"),
    ("pinned-images", Args(DEPLOYMENT, deployment(image="redis")), "Pin the image"),
    ("pinned-images", Args("aws:sagemaker/model:Model", {"primaryContainer": {"image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn"}}), "Pin the image"),
    ("pinned-images", Args("azure-native:machinelearningservices:EnvironmentVersion", {"properties": {"image": "ghcr.io/org/churn:latest"}}), "Pin the image"),
    ("run-as-non-root", Args(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}}), "runAsNonRoot: true"),
    ("run-as-non-root", Args(DEPLOYMENT, deployment(securityContext={"runAsNonRoot": True, "runAsUser": 0, "allowPrivilegeEscalation": False})), "non-root runAsUser"),
    ("requests-and-limits", Args(DEPLOYMENT, deployment(resources={"requests": {"cpu": "1"}})), "requests.memory, limits.cpu, limits.memory"),
    ("no-privileged-containers", Args(DEPLOYMENT, deployment(securityContext={"privileged": True, "allowPrivilegeEscalation": False})), "Remove securityContext.privileged"),
    ("no-privileged-containers", Args(DEPLOYMENT, deployment(securityContext={})), "allowPrivilegeEscalation: false"),
    ("no-secret-literals-in-env", Args(DEPLOYMENT, deployment(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])), "valueFrom.secretKeyRef"),
    ("no-secret-literals-in-env", Args(DEPLOYMENT, deployment(env=[{"name": "DATABASE_URL", "value": "postgres://u:pw@db/x"}])), "from a Secret"),
    ("no-public-object-storage", Args("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {"blockPublicAcls": True, "blockPublicPolicy": False}), "all four flags"),
    ("no-public-object-storage", Args("aws:s3/bucketAclV2:BucketAclV2", {"acl": "public-read"}), "private ACL"),
    ("no-public-object-storage", Args("azure-native:storage:StorageAccount", {"allowBlobPublicAccess": True}), "allowBlobPublicAccess: false"),
    ("encryption-at-rest", Args("aws:rds/instance:Instance", {"storageEncrypted": False}), "storageEncrypted: true"),
    ("encryption-at-rest", Args("aws:elasticache/replicationGroup:ReplicationGroup", {}), "atRestEncryptionEnabled: true"),
    ("encryption-at-rest", Args("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", {"rules": [{}]}), "sseAlgorithm"),
    ("no-public-database-or-cache", Args("aws:rds/instance:Instance", {"publiclyAccessible": True}), "publiclyAccessible: false"),
    ("no-public-database-or-cache", Args("aws:ec2/securityGroup:SecurityGroup", {"ingress": [{"fromPort": 5432, "toPort": 5432, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}]}), "port 5432"),
    ("no-public-database-or-cache", Args("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {"fromPort": 6379, "toPort": 6379, "cidrIpv4": "0.0.0.0/0"}), "port 6379"),
    ("no-public-database-or-cache", Args("azure-native:network:SecurityRule", {"name": "pg", "direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "*", "destinationPortRange": "5432"}), "Restrict sourceAddressPrefix"),
    ("no-public-database-or-cache", Args("azure-native:redis:Redis", {"publicNetworkAccess": "Enabled"}), "private endpoint"),
    ("tls-in-transit", Args("aws:elasticache/replicationGroup:ReplicationGroup", {"transitEncryptionEnabled": False}), "transitEncryptionEnabled: true"),
    ("tls-in-transit", Args("aws:rds/parameterGroup:ParameterGroup", {"family": "postgres17", "parameters": []}), "rds.force_ssl = 1"),
    ("tls-in-transit", Args("azure-native:redis:Redis", {"enableNonSslPort": True}), "enableNonSslPort: false"),
    ("tls-in-transit", Args("azure-native:redisenterprise:Database", {"clientProtocol": "Plaintext"}), "clientProtocol: Encrypted"),
    ("no-public-database-or-cache", Args("azure-native:redisenterprise:RedisEnterprise", {"publicNetworkAccess": "Enabled"}), "private endpoint"),
    ("production-data-protection", Args("aws:rds/instance:Instance", {"deletionProtection": True, "backupRetentionPeriod": 7}, urn=PRODUCTION_URN), "Set protect=True"),
    ("production-data-protection", Args("aws:rds/instance:Instance", {"backupRetentionPeriod": 7}, urn=PRODUCTION_URN, opts=Opts(True)), "deletionProtection: true"),
    ("production-data-protection", Args("aws:rds/instance:Instance", {"deletionProtection": True, "backupRetentionPeriod": 1}, urn=PRODUCTION_URN, opts=Opts(True)), "backupRetentionPeriod to 7"),
    ("production-data-protection", Args("aws:s3/bucketVersioningV2:BucketVersioningV2", {"versioningConfiguration": {"status": "Suspended"}}, urn=PRODUCTION_URN), "status: Enabled"),
    ("production-data-protection", Args("azure-native:dbforpostgresql:Server", {"tags": AZURE_PRODUCTION, "backup": {"backupRetentionDays": 3}}, opts=Opts(True)), "backupRetentionDays to 7"),
    ("production-data-protection", Args("azure-native:redis:Redis", {"tags": AZURE_PRODUCTION}), "Set protect=True"),
    ("production-data-protection", Args("azure-native:keyvault:Vault", {"tags": AZURE_PRODUCTION, "properties": {}}, opts=Opts(True)), "enablePurgeProtection: true"),
    ("production-data-protection", Args("azure-native:storage:BlobServiceProperties", {"deleteRetentionPolicy": {"enabled": True, "days": 1}}, urn=PRODUCTION_URN), "days: 7 or more"),
    ("warehouse-queries", Args("aws:athena/workgroup:Workgroup", {"configuration": {"enforceWorkgroupConfiguration": False}}), "enforceWorkgroupConfiguration: true"),
    ("warehouse-queries", Args("aws:athena/workgroup:Workgroup", {"configuration": {"enforceWorkgroupConfiguration": True, "bytesScannedCutoffPerQuery": 1}}), "encryptionOption SSE_KMS"),
    ("warehouse-queries", Args("aws:athena/workgroup:Workgroup", {"configuration": {"enforceWorkgroupConfiguration": True, "resultConfiguration": {"encryptionConfiguration": {"encryptionOption": "SSE_KMS"}}}}), "bytesScannedCutoffPerQuery"),
    ("production-data-protection", Args("aws:glue/catalogDatabase:CatalogDatabase", {"name": "dw"}, urn=PRODUCTION_URN), "Set protect=True"),
    ("production-data-protection", Args("kubernetes:apps/v1:StatefulSet", {"metadata": {"labels": {"mlops-stack/environment": "production"}}, "spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}}, opts=Opts(True)), "whenDeleted: Retain"),
]


@pytest.mark.parametrize("rule,args,fix", BROKEN, ids=[f"{b[0]}:{i}" for i, b in enumerate(BROKEN)])
def test_each_policy_fails_on_a_resource_built_to_break_it_and_says_how_to_fix_it(rule, args, fix):
    found = violations(rule, args)
    assert found, f"{rule} accepted {args}"
    assert any(fix in message for message in found), found


def test_every_policy_has_a_breaking_case_and_the_sound_versions_pass():
    assert {b[0] for b in BROKEN} == set(RULES)
    sound = Args(DEPLOYMENT, deployment())
    assert [m for rule in RULES for m in violations(rule, sound)] == []
    # Outside production the production rule does not apply.
    assert violations("production-data-protection", Args("aws:rds/instance:Instance", {}, urn="urn:pulumi:staging-pr-3::p::x::db")) == []


def test_the_pack_registers_every_rule_as_mandatory(monkeypatch):
    """policies/__main__.py, run with a stand-in for pulumi_policy (which needs its own venv)."""
    registered: dict[str, Any] = {}
    fake = types.ModuleType("pulumi_policy")
    fake.EnforcementLevel = types.SimpleNamespace(MANDATORY="mandatory")
    fake.ResourceValidationPolicy = lambda **kwargs: kwargs
    fake.PolicyPack = lambda **kwargs: registered.update(kwargs)
    monkeypatch.setitem(sys.modules, "pulumi_policy", fake)
    import runpy

    runpy.run_path(str(REPO_ROOT / "policies" / "__main__.py"), run_name="__main__")
    assert registered["enforcement_level"] == "mandatory"
    assert [p["name"] for p in registered["policies"]] == [r.name for r in mlops_policies.POLICIES]
    assert all(callable(p["validate"]) for p in registered["policies"])
    text = (REPO_ROOT / "policies" / "PulumiPolicy.yaml").read_text()
    assert "name: python" in text and "pulumi-policy" in (REPO_ROOT / "policies" / "requirements.txt").read_text()
