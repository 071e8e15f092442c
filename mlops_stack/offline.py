"""Runs the real program under Pulumi's mocks, recording every resource: no CLI, cluster or cloud.

Used by `mlops-stack render` and by the tests. The recording keeps, per resource, its type, name,
parent, inputs and the options the engine would see (protect, dependencies, provider, ignore_changes, ...).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import config
from infra.contract import REDACTED

PROJECT = "mlops-stack"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    protect: bool
    dependencies: list[str]
    provider: str
    delete_before_replace: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...] = ()
    deleted_with: str = ""  # the URN whose deletion deletes this resource too


@dataclass
class Recording:
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    result: Any = None
    # Every value the mocks generated for a secret (password results); none may appear in plain text.
    generated_secrets: list[str] = field(default_factory=list)

    def by_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {type_} named {name}")
        return found[0]

    def kubernetes_objects(self) -> list[RecordedResource]:
        return [r for r in self.resources if r.type.startswith("kubernetes:") and r.custom and "providers" not in r.type]


# What the clouds would answer, for the invokes and the outputs the program reads.
MOCK_ACCOUNT = "123456789012"
MOCK_REGION = "us-east-1"
MOCK_OIDC_ISSUER = f"https://oidc.eks.{MOCK_REGION}.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"


def _eks_cluster(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "arn": f"arn:aws:eks:{MOCK_REGION}:{MOCK_ACCOUNT}:cluster/{name}",
        "endpoint": f"https://0123456789ABCDEF.gr7.{MOCK_REGION}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
        "certificateAuthorities": [{"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}],
        "identities": [{"oidcs": [{"issuer": MOCK_OIDC_ISSUER}]}],
        "vpcConfig": {"clusterSecurityGroupId": "sg-0eks0cluster0000", "vpcId": "vpc-0mock"},
    }


MOCK_INVOKES: dict[str, Callable[[dict], dict]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a: {
        "accountId": MOCK_ACCOUNT, "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/mock", "userId": "AIDAMOCK", "id": MOCK_ACCOUNT,
    },
    "aws:index/getPartition:getPartition": lambda a: {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a: {
        "names": [f"{a.get('region') or MOCK_REGION}{z}" for z in "abcdef"], "id": a.get("region") or MOCK_REGION,
    },
    "aws:eks/getCluster:getCluster": lambda a: {**_eks_cluster(a["name"]), "id": a["name"]},
    "aws:ec2/getVpc:getVpc": lambda a: {"id": a["id"], "cidrBlock": "10.50.0.0/16"},
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": lambda a: {
        "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:oidc-provider/{a['url'].removeprefix('https://')}", "url": a["url"], "id": a["url"],
    },
}


def _aws_outputs(type_: str, name: str, inputs: dict[str, Any], region: str = MOCK_REGION) -> dict[str, Any]:
    """Outputs AWS computes: ARNs, endpoints, addresses."""
    outputs: dict[str, Any] = {}
    if type_ == "aws:iam/role:Role":
        outputs["arn"] = f"arn:aws:iam::{MOCK_ACCOUNT}:role/{inputs.get('name', name)}"
    elif type_ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or name
        outputs.update(arn=f"arn:aws:s3:::{bucket}", bucket=bucket)
    elif type_ == "aws:rds/instance:Instance":
        outputs.update(address=f"{inputs.get('identifier', name)}.c0mock.{MOCK_REGION}.rds.amazonaws.com", port=5432)
    elif type_ == "aws:elasticache/replicationGroup:ReplicationGroup":
        outputs["primaryEndpointAddress"] = f"master.{inputs.get('replicationGroupId', name)}.mock.use1.cache.amazonaws.com"
    elif type_ == "aws:eks/cluster:Cluster":
        mock = _eks_cluster(inputs.get("name", name))
        outputs.update(mock, vpcConfig={**inputs.get("vpcConfig", {}), **mock["vpcConfig"]})
        del outputs["name"]
    elif type_ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        outputs["arn"] = f"arn:aws:iam::{MOCK_ACCOUNT}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
    elif type_ == "aws:mwaa/environment:Environment":
        outputs["webserverUrl"] = f"0mock-vpce.c{MOCK_REGION}.airflow.amazonaws.com"
    elif type_ == "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer":
        server = inputs.get("trackingServerName", name)
        outputs.update(
            arn=f"arn:aws:sagemaker:{MOCK_REGION}:{MOCK_ACCOUNT}:mlflow-tracking-server/{server}",
            trackingServerUrl=f"https://t-0mock.{MOCK_REGION}.experiments.sagemaker.aws",
        )
    elif type_ == "aws:sagemaker/domain:Domain":
        outputs["url"] = f"https://d-0mock.studio.{MOCK_REGION}.sagemaker.aws"
    elif type_ == "aws:sqs/queue:Queue":
        queue = inputs.get("name") or name
        # In the provider's region: S3 sends a notification to the queue its ARN names.
        outputs.update(arn=f"arn:aws:sqs:{region}:{MOCK_ACCOUNT}:{queue}", url=f"https://sqs.{region}.amazonaws.com/{MOCK_ACCOUNT}/{queue}")
    elif type_ == "aws:secretsmanager/secret:Secret":
        secret = inputs.get("name") or f"{inputs.get('namePrefix', name)}0mock"
        outputs["arn"] = f"arn:aws:secretsmanager:{MOCK_REGION}:{MOCK_ACCOUNT}:secret:{secret}"
    return outputs


MOCK_SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
MOCK_TENANT = "00000000-0000-4000-8000-000000000002"
MOCK_AKS_ISSUER = f"https://westeurope.oic.prod-aks.azure.com/{MOCK_TENANT}/00000000-0000-4000-8000-000000000003/"


def _aks_credentials(a: dict) -> dict:
    kubeconfig = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": a["resourceName"], "cluster": {
            "server": f"https://{a['resourceName']}-dns-0mock.hcp.westeurope.azmk8s.io:443",
            "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        }}],
    })
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]}


MOCK_INVOKES.update({
    "azure-native:authorization:getClientConfig": lambda a: {
        "clientId": "00000000-0000-4000-8000-00000000000c", "objectId": "00000000-0000-4000-8000-00000000000d",
        "subscriptionId": MOCK_SUBSCRIPTION, "tenantId": MOCK_TENANT,
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_credentials,
    "azure-native:containerservice:getManagedCluster": lambda a: {
        "name": a["resourceName"], "id": _azure_id("containerservice", "ManagedCluster", a["resourceName"], a["resourceGroupName"]),
        "oidcIssuerProfile": {"enabled": True, "issuerURL": MOCK_AKS_ISSUER},
    },
})

# The input that names an Azure resource, by type; the others are named by their Pulumi name.
_AZURE_NAME_INPUTS = {
    "resources:ResourceGroup": "resourceGroupName",
    "storage:StorageAccount": "accountName",
    "storage:BlobContainer": "containerName",
    "dbforpostgresql:Server": "serverName",
    "redis:Redis": "name",
    "redisenterprise:RedisEnterprise": "clusterName",
    "redisenterprise:Database": "databaseName",
    "keyvault:Vault": "vaultName",
    "keyvault:Secret": "secretName",
    "containerservice:ManagedCluster": "resourceName",
    "containerservice:AgentPool": "agentPoolName",
    "managedidentity:UserAssignedIdentity": "resourceName",
    "managedidentity:FederatedIdentityCredential": "federatedIdentityCredentialResourceName",
    "privatedns:PrivateZone": "privateZoneName",
    "machinelearningservices:Workspace": "workspaceName",
    "machinelearningservices:OnlineEndpoint": "endpointName",
    "machinelearningservices:OnlineDeployment": "deploymentName",
    "machinelearningservices:Datastore": "name",
    "machinelearningservices:DataContainer": "name",
    "storage:ManagementPolicy": "managementPolicyName",
    "resources:Deployment": "deploymentName",
    "monitor:AutoscaleSetting": "autoscaleSettingName",
    "authorization:RoleAssignment": "roleAssignmentName",
    "servicebus:Namespace": "namespaceName",
    "servicebus:Queue": "queueName",
    "eventgrid:SystemTopic": "systemTopicName",
    "eventgrid:SystemTopicEventSubscription": "eventSubscriptionName",
}

# Azure ML workspace children by kind: their collection in the ID; versions nest under their asset.
_WORKSPACE_CHILDREN = {"OnlineEndpoint": "onlineEndpoints", "Datastore": "datastores", "DataContainer": "data"}
_WORKSPACE_VERSIONS = {"EnvironmentVersion": "environments", "DataVersion": "data"}


def _azure_id(module: str, kind: str, name: str, group: Any = "mlops") -> str:
    if kind == "ResourceGroup":
        return f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{name}"
    return f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.{module}/{kind}/{name}"


def _azure_outputs(type_: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ARM ID, and the outputs Azure computes: names, host names, client IDs, endpoints."""
    module, kind = type_.split(":")[1:3]
    key = _AZURE_NAME_INPUTS.get(f"{module}:{kind}")
    resource_name = str(inputs.get(key) or name) if key else name
    resource_id = _azure_id(module, kind, resource_name, inputs.get("resourceGroupName", "mlops"))
    if kind == "StorageAccount":
        resource_id = _azure_id("Storage", "storageAccounts", resource_name, inputs.get("resourceGroupName", "mlops"))
    elif kind == "BlobContainer":
        account = _azure_id("Storage", "storageAccounts", str(inputs.get("accountName")), inputs.get("resourceGroupName", "mlops"))
        resource_id = f"{account}/blobServices/default/containers/{resource_name}"
    elif type_ == "azure-native:servicebus:Queue":
        namespace = _azure_id("ServiceBus", "namespaces", str(inputs.get("namespaceName")), inputs.get("resourceGroupName", "mlops"))
        resource_id = f"{namespace}/queues/{resource_name}"
    workspace = inputs.get("workspaceName")
    if module == "machinelearningservices" and workspace:  # workspace children have nested IDs
        parent = _azure_id("MachineLearningServices", "workspaces", str(workspace), inputs.get("resourceGroupName", "mlops"))
        if kind in _WORKSPACE_CHILDREN:
            resource_id = f"{parent}/{_WORKSPACE_CHILDREN[kind]}/{resource_name}"
        elif kind == "OnlineDeployment":
            resource_id = f"{parent}/onlineEndpoints/{inputs.get('endpointName')}/deployments/{resource_name}"
        elif kind in _WORKSPACE_VERSIONS:
            resource_name = str(inputs.get("version"))
            resource_id = f"{parent}/{_WORKSPACE_VERSIONS[kind]}/{inputs.get('name')}/versions/{resource_name}"
    outputs: dict[str, Any] = {"name": resource_name, "id": resource_id}
    identity_type = str((inputs.get("identity") or {}).get("type", ""))
    if "SystemAssigned" in identity_type:
        digest = hashlib.sha256(resource_id.encode()).hexdigest()
        outputs["identity"] = {**inputs["identity"], "principalId": f"{digest[:8]}-0000-4000-8000-{digest[8:20]}", "tenantId": MOCK_TENANT}
    identity = dict(inputs.get("identity") or {})
    if isinstance(identity.get("userAssignedIdentities"), list):  # a list of IDs in, a map by ID out
        identity["userAssignedIdentities"] = {i: {} for i in identity["userAssignedIdentities"]}
        outputs["identity"] = identity
    if kind == "ManagedCluster":
        outputs["oidcIssuerProfile"] = {"enabled": True, "issuerURL": MOCK_AKS_ISSUER}
        outputs["fqdn"] = f"{resource_name}-dns-0mock.hcp.westeurope.azmk8s.io"
    elif kind == "UserAssignedIdentity":
        digest = hashlib.sha256(resource_name.encode()).hexdigest()
        outputs.update(clientId=f"{digest[:8]}-0000-4000-8000-{digest[8:20]}", principalId=f"{digest[20:28]}-0000-4000-8000-{digest[28:40]}",
                       tenantId=MOCK_TENANT)
    elif type_ == "azure-native:dbforpostgresql:Server":
        outputs["fullyQualifiedDomainName"] = f"{resource_name}.postgres.database.azure.com"
    elif type_ == "azure-native:redis:Redis":
        outputs.update(hostName=f"{resource_name}.redis.cache.windows.net", sslPort=6380)
    elif type_ == "azure-native:redisenterprise:RedisEnterprise":
        outputs["hostName"] = f"{resource_name}.westeurope.redis.azure.net"
    elif kind == "StorageAccount":
        outputs["primaryEndpoints"] = {
            "blob": f"https://{resource_name}.blob.core.windows.net/", "dfs": f"https://{resource_name}.dfs.core.windows.net/",
        }
    elif kind == "Vault":
        outputs["properties"] = {**inputs.get("properties", {}), "vaultUri": f"https://{resource_name}.vault.azure.net/"}
    elif kind == "OnlineEndpoint":
        outputs["properties"] = {**inputs.get("properties", {}), "scoringUri": f"https://{resource_name}.westeurope.inference.ml.azure.com/score"}
    elif kind == "Workspace" and module == "machinelearningservices":
        outputs["mlFlowTrackingUri"] = (
            f"azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/{MOCK_SUBSCRIPTION}"
            f"/resourceGroups/{inputs.get('resourceGroupName', 'mlops')}/providers/Microsoft.MachineLearningServices/workspaces/{resource_name}"
        )
    return resource_id, outputs


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs back as outputs, with plausible values for the outputs the program reads."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self.aws_region = MOCK_REGION

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            # Deterministic, distinct per resource, letters and digits like the real ones.
            digest = hashlib.sha256(f"{self.recording.stack}/{args.name}".encode()).hexdigest()
            outputs["result"] = "Mock" + digest[: max(8, int(args.inputs.get("length", 32)) - 4)]
            self.recording.generated_secrets.append(outputs["result"])
        if args.typ == "random:index/randomId:RandomId":
            raw = hashlib.sha256(f"{self.recording.stack}/{args.name}".encode()).digest()[: int(args.inputs.get("byteLength", 32))]
            outputs["b64Url"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            outputs["b64Std"] = base64.b64encode(raw).decode()
            outputs["hex"] = raw.hex()
            self.recording.generated_secrets.append(outputs["b64Url"])
        if args.typ == "pulumi:providers:aws":
            self.aws_region = str(args.inputs.get("region") or MOCK_REGION)
        if args.typ.startswith("aws:"):
            # Auto-names and ARNs under the inputs; what AWS computes (endpoints, addresses) over them.
            # (An input fed by an output the mock leaves unset would lose its dependency.)
            defaults = {"arn": f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{MOCK_REGION}:{MOCK_ACCOUNT}:{args.name}", "name": args.name}
            outputs = {**defaults, **outputs, **_aws_outputs(args.typ, args.name, outputs, self.aws_region)}
        if args.typ.startswith("azure-native:") and not args.typ.startswith("pulumi:providers:"):
            resource_id, computed = _azure_outputs(args.typ, args.name, outputs)
            return resource_id, {**outputs, **computed}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token in ("azure-native:redis:listRedisKeys", "azure-native:redisenterprise:listDatabaseKeys"):
            digest = hashlib.sha256(f"{self.recording.stack}/{args.args.get('name') or args.args.get('clusterName')}".encode()).hexdigest()
            keys = {"primaryKey": "MockKey" + digest[:36], "secondaryKey": "MockKey" + digest[36:]}
            self.recording.generated_secrets.extend(keys.values())
            return keys
        answer = MOCK_INVOKES.get(args.token)
        return answer(args.args) if answer else {}


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, recording: Recording):
        super().__init__(RecordingMocks(recording))
        self.recording = recording

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            self.recording.resources.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    inputs=_plain(inputs),
                    protect=bool(request.protect),
                    dependencies=sorted(set(request.dependencies)),
                    provider=request.provider,
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                    ignore_changes=tuple(request.ignoreChanges),
                    deleted_with=request.deletedWith,
                )
            )
        return response


def _plain(value: Any) -> Any:
    """Inputs as plain data: secrets keep their sentinel (redacted later), integral floats become ints."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def resolved(output: pulumi.Output[Any]) -> Any:
    """The value of an Output of a finished run."""
    return _sync_await(output.future())


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def redact(value: Any) -> Any:
    """Replace every secret input by the placeholder."""
    if is_secret_value(value):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return config.stack_file(stack, root)


def shipped_stacks(root: Path = REPO_ROOT) -> list[str]:
    return config.stack_names(root)


def stack_config(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml; secure values cannot be decrypted offline."""
    values = config.stack_values(stack, root)
    return {key: REDACTED if isinstance(v, dict) and set(v) == {"secure"} else v for key, v in values.items()}


def validated_config(stack: str, root: Path = REPO_ROOT):
    """Pulumi.<stack>.yaml validated and resolved, as the program would see it (secure values redacted)."""
    prefix = f"{config.NAMESPACE}:"
    values = {k[len(prefix):]: v for k, v in stack_config(stack, root).items() if k.startswith(prefix)}
    return config.load(stack, values)


def run(stack: str, config: dict[str, Any], program: Optional[Callable[[], Any]] = None) -> Recording:
    """Run `program` (default: the real one) for `stack` with `config` (full keys, e.g. mlops:backend)."""
    from mlops_stack import program as real_program

    recording = Recording(stack=stack)
    pulumi_config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    set_all_config(pulumi_config)
    monitor = RecordingMonitor(recording)
    mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings = pulumi.runtime.settings.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()
    body = program or real_program.main

    def main() -> Any:
        recording.result = body()
        return recording.result

    _sync_await(run_pulumi_func(main))
    return recording
