"""The Azure backend as recorded under mocks: what a platform engineer checks before `pulumi up`."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys

import pytest

from components.azure.identity import BLOB_DATA_CONTRIBUTOR, BLOB_DATA_READER, CLIENT_ID_ANNOTATION
from tests import fixtures
from mlops_stack import offline
from mlops_stack.offline import REPO_ROOT
from tests.conftest import AZURE_STACKS, recording_of, resolved

USE_LABEL = "azure.workload.identity/use"  # the webhook's opt-in label on pods
SERVER = "azure-native:dbforpostgresql:Server"
REDIS = "azure-native:redis:Redis"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
VAULT = "azure-native:keyvault:Vault"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ENDPOINT = "azure-native:network:PrivateEndpoint"
STATEFUL = (SERVER, REDIS, ACCOUNT, CONTAINER, VAULT, "azure-native:resources:ResourceGroup")


@pytest.fixture(scope="module")
def production():
    return recording_of("production-azure")


@pytest.fixture(scope="module")
def ephemeral():
    """A pull request's staging stack on Azure: the shipped file's settings, as `mlops-stack env up` makes it."""
    config = {**fixtures.stack_config("production-azure"), "mlops:environment": "staging"}
    return offline.run("staging-pr-7", config)


def test_the_shipped_azure_stack_is_production_azure():
    assert AZURE_STACKS == ["production-azure"]


def azure_resources(recording):
    return [r for r in recording.resources if r.type.startswith("azure-native:")]


def accepts_tags(type_: str) -> bool:
    module, kind = type_.split(":")[1:3]
    cls = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), kind)
    return "tags" in inspect.signature(cls._internal_init).parameters


def test_every_azure_resource_goes_through_the_provider_and_carries_the_stack_tags(production, ephemeral):
    for recording, environment in ((production, "production"), (ephemeral, "staging")):
        provider = recording.one("pulumi:providers:azure-native", "azure")
        assert provider.inputs["location"] == "westeurope"
        expected = {"project": "mlops-stack", "stack": recording.stack, "environment": environment, "owner": "ml-platform"}
        if recording is ephemeral:
            expected["ttl"] = "72h"
        tagged = 0
        for resource in azure_resources(recording):
            assert resource.provider.startswith(provider.urn + "::"), resource.name
            if accepts_tags(resource.type):
                assert resource.inputs.get("tags") == expected, resource.name
                tagged += 1
        assert tagged >= 30


def test_global_names_follow_azures_rules_and_are_the_same_on_every_run(production):
    account = production.by_type(ACCOUNT)[0].inputs["accountName"]
    assert re.fullmatch(r"[a-z0-9]{3,24}", account)
    vault = production.by_type(VAULT)[0].inputs["vaultName"]
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", vault) and "--" not in vault
    for type_, key in ((SERVER, "serverName"), (REDIS, "name")):
        name = production.by_type(type_)[0].inputs[key]
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name), name
    again = offline.run("production-azure", fixtures.stack_config("production-azure"))
    assert again.by_type(ACCOUNT)[0].inputs["accountName"] == account
    assert again.by_type(SERVER)[0].inputs["serverName"] == production.by_type(SERVER)[0].inputs["serverName"]


def test_another_stack_never_derives_the_same_global_names(production, ephemeral):
    for type_, key in ((ACCOUNT, "accountName"), (SERVER, "serverName"), (REDIS, "name"), (VAULT, "vaultName")):
        assert production.by_type(type_)[0].inputs[key] != ephemeral.by_type(type_)[0].inputs[key]


def test_postgres_is_private_tls_only_and_in_its_delegated_subnet(production):
    server = production.by_type(SERVER)[0]
    network = server.inputs["network"]
    assert network["publicNetworkAccess"] == "Disabled"
    assert network["delegatedSubnetResourceId"].endswith("/subnets/postgres")
    zones = {z.urn: z.inputs["privateZoneName"] for z in production.by_type("azure-native:privatedns:PrivateZone")}
    postgres_zone = next(urn for urn, name in zones.items() if name.endswith(".postgres.database.azure.com"))
    assert postgres_zone in server.dependencies
    vnet = production.by_type("azure-native:network:VirtualNetwork")[0]
    subnets = {s["name"]: s for s in vnet.inputs["subnets"]}
    assert subnets["postgres"]["delegations"][0]["serviceName"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    tls = production.by_type("azure-native:dbforpostgresql:Configuration")[0].inputs
    assert (tls["configurationName"], tls["value"]) == ("require_secure_transport", "on")
    assert offline.is_secret_value(server.inputs["administratorLoginPassword"])


def test_redis_storage_and_key_vault_are_reached_through_private_endpoints_only(production):
    redis = production.by_type(REDIS)[0].inputs
    assert redis["enableNonSslPort"] is False and redis["minimumTlsVersion"] == "1.2" and redis["publicNetworkAccess"] == "Disabled"
    groups = sorted(e.inputs["privateLinkServiceConnections"][0]["groupIds"][0] for e in production.by_type(ENDPOINT))
    assert groups == ["blob", "dfs", "redisCache", "vault"]
    for endpoint in production.by_type(ENDPOINT):
        assert endpoint.inputs["subnet"]["id"].endswith("/subnets/endpoints")
    zone_groups = production.by_type("azure-native:network:PrivateDnsZoneGroup")
    assert len(zone_groups) == 4
    # Every private zone resolves in the stack's VNet.
    links = production.by_type("azure-native:privatedns:VirtualNetworkLink")
    vnet = production.by_type("azure-native:network:VirtualNetwork")[0]
    assert len(links) == 5 and all(vnet.urn in link.dependencies and link.inputs["registrationEnabled"] is False for link in links)
    account = production.by_type(ACCOUNT)[0].inputs
    assert account["isHnsEnabled"] is True and account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False and account["minimumTlsVersion"] == "TLS1_2"
    assert account["publicNetworkAccess"] == "Disabled" and account["networkRuleSet"]["defaultAction"] == "Deny"
    assert {c.inputs["containerName"] for c in production.by_type(CONTAINER)} == {"lake", "artifacts", "feature-store", "monitoring"}
    assert all(c.inputs["publicAccess"] == "None" for c in production.by_type(CONTAINER))
    vault = production.by_type(VAULT)[0].inputs["properties"]
    assert vault["publicNetworkAccess"] == "Disabled" and vault["networkAcls"]["defaultAction"] == "Deny"


def test_the_data_subnets_admit_only_the_cluster_subnet(production):
    vnet = production.by_type("azure-native:network:VirtualNetwork")[0]
    cluster_cidr = {s["name"]: s["addressPrefix"] for s in vnet.inputs["subnets"]}["cluster"]
    groups = {g.name: g.inputs["securityRules"] for g in production.by_type("azure-native:network:NetworkSecurityGroup")}
    assert set(groups) == {"network-postgres-nsg", "network-endpoints-nsg"}
    for name, rules in groups.items():
        allow, deny = sorted(rules, key=lambda r: r["priority"])
        assert allow["access"] == "Allow" and cluster_cidr in allow["sourceAddressPrefixes"]
        assert "0.0.0.0/0" not in allow["sourceAddressPrefixes"] and "*" not in allow["sourceAddressPrefixes"]
        assert deny["access"] == "Deny" and deny["sourceAddressPrefix"] == "VirtualNetwork"
    assert groups["network-postgres-nsg"][0]["destinationPortRanges"] == ["5432"]
    assert groups["network-endpoints-nsg"][0]["destinationPortRanges"] == ["443", "6380", "10000"]  # storage, both Redis services


def kubeconfig_of(recording) -> dict:
    value = recording.one("pulumi:providers:kubernetes", "kubernetes").inputs["kubeconfig"]
    return json.loads(value["value"] if offline.is_secret_value(value) else value)


def test_aks_has_workload_identity_entra_rbac_and_sized_node_pools(production):
    cluster = production.by_type("azure-native:containerservice:ManagedCluster")[0].inputs
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert cluster["aadProfile"]["enableAzureRBAC"] is True and cluster["disableLocalAccounts"] is True
    assert cluster["apiServerAccessProfile"]["enablePrivateCluster"] is True  # production
    assert cluster["networkProfile"]["networkPolicy"] == "cilium"
    (system,) = cluster["agentPoolProfiles"]
    assert system["mode"] == "System" and system["count"] == 3 and system["availabilityZones"] == ["1", "2", "3"]
    pool = production.by_type("azure-native:containerservice:AgentPool")[0].inputs
    assert pool["mode"] == "User" and (pool["minCount"], pool["maxCount"]) == (3, 9) and pool["enableAutoScaling"] is True
    # The control plane's identity may manage the VNet's load balancers before the cluster exists.
    network = production.one(ASSIGNMENT, "aks-network-access")
    assert network.inputs["roleDefinitionId"].endswith("4d97b98b-1d4f-4787-a291-c67834d212e7")
    assert network.urn in production.by_type("azure-native:containerservice:ManagedCluster")[0].dependencies
    kubeconfig = kubeconfig_of(production)
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "kubelogin"
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:3] == ["get-token", "--login", "azurecli"]


def test_production_protects_its_data_and_keeps_it_recoverable(production):
    for type_ in STATEFUL:
        for resource in production.by_type(type_):
            assert resource.protect, resource.name
    server = production.by_type(SERVER)[0].inputs
    assert server["highAvailability"]["mode"] == "ZoneRedundant" and server["backup"]["geoRedundantBackup"] == "Enabled"
    assert server["backup"]["backupRetentionDays"] == 14
    redis = production.by_type(REDIS)[0].inputs
    assert redis["sku"] == {"name": "Premium", "family": "P", "capacity": 1} and redis["replicasPerPrimary"] == 1
    vault = production.by_type(VAULT)[0].inputs["properties"]
    assert vault["enableRbacAuthorization"] is True and vault["enablePurgeProtection"] is True
    assert vault["enableSoftDelete"] is True and vault["softDeleteRetentionInDays"] == 90
    protection = production.by_type("azure-native:storage:BlobServiceProperties")[0].inputs
    assert protection["deleteRetentionPolicy"] == {"enabled": True, "days": 30}
    assert protection["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 30}
    # Azure refuses blob versioning on an account with a hierarchical namespace.
    assert "isVersioningEnabled" not in protection


def test_a_flat_account_is_versioned_in_production():
    recording = offline.run("production-azure", {
        **fixtures.stack_config("production-azure"),
        "mlops:azure": {"location": "westeurope", "storage": {"hierarchicalNamespace": False}},
    })
    assert recording.by_type(ACCOUNT)[0].inputs["isHnsEnabled"] is False
    assert recording.by_type("azure-native:storage:BlobServiceProperties")[0].inputs["isVersioningEnabled"] is True


def test_an_ephemeral_stack_is_freely_destroyable(ephemeral):
    assert not [r.name for r in ephemeral.resources if r.protect]
    server = ephemeral.by_type(SERVER)[0].inputs
    assert server["highAvailability"]["mode"] == "Disabled" and server["backup"]["geoRedundantBackup"] == "Disabled"
    assert server["sku"] == {"name": "Standard_B2s", "tier": "Burstable"}
    vault = ephemeral.by_type(VAULT)[0].inputs["properties"]
    assert "enablePurgeProtection" not in vault and vault["softDeleteRetentionInDays"] == 7
    assert ephemeral.by_type(REDIS)[0].inputs["sku"] == {"name": "Basic", "family": "C", "capacity": 1}
    assert not ephemeral.by_type("azure-native:storage:BlobServiceProperties")
    assert ephemeral.by_type(ACCOUNT)[0].inputs["publicNetworkAccess"] == "Enabled"
    assert ephemeral.by_type(VAULT)[0].inputs["properties"]["publicNetworkAccess"] == "Enabled"


def test_key_vault_holds_every_generated_secret(production):
    secrets = {s.inputs["secretName"]: s.inputs["properties"] for s in production.by_type("azure-native:keyvault:Secret")}
    assert set(secrets) == {"postgres-admin-password", "postgres-mlflow-password", "postgres-airflow-password",
                            "postgres-feast-password", "redis-access-key"}
    assert all(offline.is_secret_value(v) for v in secrets.values())


def test_each_service_has_its_own_identity_for_its_own_service_accounts(production):
    identities = {i.name.removesuffix("-identity-identity"): i for i in production.by_type(IDENTITY) if i.name.endswith("-identity-identity")}
    assert set(identities) == {"mlflow", "feast", "evidently", "airflow"}
    subjects: dict[str, list[str]] = {}
    for credential in production.by_type(CREDENTIAL):
        app = credential.name.split("-identity-")[0]
        subjects.setdefault(app, []).append(credential.inputs["subject"])
        assert credential.inputs["audiences"] == ["api://AzureADTokenExchange"]
        assert credential.inputs["issuer"] == offline.MOCK_AKS_ISSUER
    assert subjects == {
        "airflow": ["system:serviceaccount:mlops:airflow", "system:serviceaccount:mlops-pipelines:airflow-worker",
                    "system:serviceaccount:mlops-pipelines:mlops-smoke"],
        "evidently": ["system:serviceaccount:mlops:evidently"],
        "feast": ["system:serviceaccount:mlops:feast"],
        "mlflow": ["system:serviceaccount:mlops:mlflow"],
    }
    # Azure refuses concurrent writes of federated credentials on one identity: each waits for the previous.
    airflow = [c for c in production.by_type(CREDENTIAL) if c.name.startswith("airflow-")]
    assert airflow[0].urn in airflow[1].dependencies and airflow[1].urn in airflow[2].dependencies
    # The service accounts carry their identity's client ID, and every pod opts in to the webhook.
    accounts = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["metadata"].get("annotations") or {}
                for r in production.by_type("kubernetes:core/v1:ServiceAccount")}
    client_ids = {app: offline.resolved(production.result.endpoints.kubernetes.pipeline_identity[CLIENT_ID_ANNOTATION])
                  for app in ("airflow",)}
    for subject in subjects["airflow"]:
        namespace, account = subject.split(":")[2:]
        assert accounts[(namespace, account)][CLIENT_ID_ANNOTATION] == client_ids["airflow"]
    assert CLIENT_ID_ANNOTATION in accounts[("mlops", "mlflow")] and CLIENT_ID_ANNOTATION not in accounts[("mlops", "postgres")]
    templates = [d.inputs["spec"]["template"] for d in production.by_type("kubernetes:apps/v1:Deployment")]
    templates += [j.inputs["spec"]["template"] for j in production.by_type("kubernetes:batch/v1:Job")]
    templates += [c.inputs["spec"]["jobTemplate"]["spec"]["template"] for c in production.by_type("kubernetes:batch/v1:CronJob")]
    assert len(templates) >= 10 and any(t["metadata"]["labels"]["app.kubernetes.io/name"] == "mlops-smoke" for t in templates)
    for template in templates:
        assert template["metadata"]["labels"][USE_LABEL] == "true"


def test_each_identity_reaches_only_its_own_containers(production):
    containers = {c.inputs["containerName"]: f".../containers/{c.inputs['containerName']}" for c in production.by_type(CONTAINER)}
    grants: dict[str, set[tuple[str, str]]] = {}
    for assignment in production.by_type(ASSIGNMENT):
        if "-identity-" not in assignment.name:
            continue
        app = assignment.name.split("-identity-")[0]
        scope = assignment.inputs["scope"]
        assert "/blobServices/default/containers/" in scope, scope  # never the account, the group or the subscription
        role = {BLOB_DATA_CONTRIBUTOR: "write", BLOB_DATA_READER: "read"}[assignment.inputs["roleDefinitionId"].rsplit("/", 1)[1]]
        grants.setdefault(app, set()).add((scope.rsplit("/", 1)[1], role))
        assert assignment.inputs["principalType"] == "ServicePrincipal"
    assert set(containers) == {"lake", "artifacts", "feature-store", "monitoring"}
    assert grants == {
        "mlflow": {("artifacts", "write")},
        "feast": {("lake", "read"), ("feature-store", "write")},
        "evidently": {("monitoring", "write"), ("lake", "read")},
        "airflow": {("lake", "write"), ("feature-store", "write"), ("artifacts", "write")},
    }


def test_no_storage_key_or_connection_string_reaches_a_pod(production):
    assert resolved(production.result.public).env["MLOPS_OBJECT_STORE_AUTH"] == "workload-identity"
    secret = resolved(production.result.complete).secret_env
    assert not [k for k in secret if k.startswith("AZURE_") or k.startswith("AWS_")]
    assert "@" in secret["AIRFLOW_CONN_MLOPS_WASB"] and ":" not in secret["AIRFLOW_CONN_MLOPS_WASB"].split("//")[1].split("@")[0]
    assert "@" not in secret["AIRFLOW_CONN_MLOPS_ADLS"]  # an account, no login or key
    for obj in production.kubernetes_objects():
        text = json.dumps(obj.inputs)
        assert "AccountKey=" not in text and "AZURE_STORAGE_KEY" not in text and "SharedAccessSignature" not in text


def test_the_pipeline_config_has_the_same_keys_as_on_every_backend(production):
    """MLOPS_* keys and files are identical; only the object store's own client settings differ."""
    azure = resolved(production.result.public)
    azure_secrets = set(resolved(production.result.complete).secret_env)
    for other in ("production", "production-onprem"):
        public = resolved(recording_of(other).result.public)
        secrets = set(resolved(recording_of(other).result.complete).secret_env)
        assert {k for k in azure.env if k.startswith("MLOPS_")} == {k for k in public.env if k.startswith("MLOPS_")}
        assert {k for k in azure.env if k.startswith("MLFLOW_")} <= {k for k in public.env if k.startswith("MLFLOW_")}
        assert set(azure.files) == set(public.files)
        # The object store's connection is named by MLOPS_OBJECT_STORE_CONN_ID; the ensemble adds MinIO keys.
        store = {f"AIRFLOW_CONN_{public.env['MLOPS_OBJECT_STORE_CONN_ID'].upper()}", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        # A warehouse's connection (and its password) are there only on a stack with a warehouse.
        warehouse = {"AIRFLOW_CONN_MLOPS_WAREHOUSE", "MLOPS_WAREHOUSE_PASSWORD"}
        assert azure_secrets - {"AIRFLOW_CONN_MLOPS_WASB", "AIRFLOW_CONN_MLOPS_ADLS"} - warehouse == secrets - store - warehouse
    assert {k for k in azure.env if not k.startswith(("MLOPS_", "MLFLOW_"))} == {
        "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ANON", "AZURE_STORAGE_BLOB_ENDPOINT"}
    account = azure.env["AZURE_STORAGE_ACCOUNT_NAME"]
    assert azure.env["MLOPS_OBJECT_STORE_CONN_ID"] == "mlops_wasb"
    assert azure.env["MLFLOW_ARTIFACTS_DESTINATION"] == f"wasbs://artifacts@{account}.blob.core.windows.net/mlflow"
    assert azure.files["dvc.config"].endswith(f"url = azure://lake/dvc\n    account_name = {account}\n")


def test_the_in_cluster_services_use_azure_urls_for_their_artifacts_and_logs(production):
    account = resolved(production.result.public).env["AZURE_STORAGE_ACCOUNT_NAME"]
    mlflow = production.one("kubernetes:apps/v1:Deployment", "mlflow-deployment").inputs
    env = {e["name"]: e.get("value") for e in mlflow["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert f"wasbs://artifacts@{account}.blob.core.windows.net/mlflow" in env.values()
    evidently = production.one("kubernetes:apps/v1:Deployment", "evidently-deployment").inputs
    env = {e["name"]: e.get("value") for e in evidently["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["EVIDENTLY_WORKSPACE"] == f"abfss://monitoring@{account}.dfs.core.windows.net/evidently"
    settings = production.one("kubernetes:core/v1:ConfigMap", "airflow-settings").inputs["data"]
    assert settings["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == "wasb://airflow/logs"
    assert settings["AIRFLOW__AZURE_REMOTE_LOGGING__REMOTE_WASB_LOG_CONTAINER"] == "artifacts"
    assert settings["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == "mlops_wasb"


def test_the_data_services_wait_for_the_network_not_the_cluster(production):
    cluster = production.by_type("azure-native:containerservice:ManagedCluster")[0].urn
    nodes = production.by_type("azure-native:containerservice:AgentPool")[0].urn
    for type_ in (SERVER, REDIS, ACCOUNT, VAULT):
        assert not {cluster, nodes} & set(production.by_type(type_)[0].dependencies), type_
    setup = production.one("kubernetes:batch/v1:Job", "postgres-setup")
    assert nodes in setup.dependencies and production.by_type(SERVER)[0].urn in setup.dependencies


def test_managed_mlflow_is_an_azure_ml_workspace():
    recording = offline.run("production-azure", {**fixtures.stack_config("production-azure"), "mlops:services": {"mlflow": {"mode": "managed"}}})
    public = resolved(recording.result.public)
    assert public.env["MLFLOW_TRACKING_URI"].startswith("azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/")
    assert public.env["MLOPS_MLFLOW_PLUGIN"] == "azureml-mlflow"
    workspace = recording.one("azure-native:machinelearningservices:Workspace", "mlflow-workspace")
    # Its own vault: the workspace never reaches the platform's secrets.
    vault = recording.one(VAULT, "mlflow-key-vault-vault")
    assert vault.urn in workspace.dependencies and workspace.protect
    assert recording.one(VAULT, "key-vault-vault").urn not in workspace.dependencies
    access = recording.one(ASSIGNMENT, "mlflow-vault-access").inputs
    assert re.fullmatch(r"[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}", access["principalId"]) and access["scope"].endswith(f"/{vault.inputs['vaultName']}")
    storage = recording.one(ACCOUNT, "mlflow-storage").inputs
    assert "isHnsEnabled" not in storage and storage["allowBlobPublicAccess"] is False  # Azure ML refuses HNS accounts
    assert recording.one("azure-native:applicationinsights:Component", "mlflow-insights").inputs["workspaceResourceId"]
    assert "mlflow" not in {r.inputs["metadata"]["name"] for r in recording.by_type("kubernetes:apps/v1:Deployment")}
    scientist = [a for a in recording.by_type(ASSIGNMENT) if a.name == "airflow-identity-workspace-data-scientist"]
    assert len(scientist) == 1 and scientist[0].inputs["scope"].endswith(f"/{workspace.inputs['workspaceName']}")
    assert scientist[0].inputs["roleDefinitionId"].endswith("/f6c7c914-8db3-469d-8ca1-694a8f32e121")
    assert not [i for i in recording.by_type(IDENTITY) if i.name == "mlflow-identity-identity"]


def test_an_existing_cluster_and_network_are_used_not_created():
    vnet = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/shared"
    recording = offline.run("production-azure", {
        **fixtures.stack_config("production-azure"),
        "mlops:cluster": {"create": False, "name": "shared-aks"},
        "mlops:azure": {"location": "westeurope", "resourceGroup": "ml-platform", "aks": {"resourceGroup": "shared-k8s"}, "network": {
            "vnetId": vnet, "clusterSubnetId": f"{vnet}/subnets/aks", "postgresSubnetId": f"{vnet}/subnets/db",
            "endpointsSubnetId": f"{vnet}/subnets/pe"}},
    })
    types = {r.type for r in recording.resources}
    assert not {"azure-native:containerservice:ManagedCluster", "azure-native:containerservice:AgentPool",
                "azure-native:network:VirtualNetwork", "azure-native:network:NetworkSecurityGroup",
                "azure-native:resources:ResourceGroup"} & types
    assert recording.by_type(SERVER)[0].inputs["network"]["delegatedSubnetResourceId"] == f"{vnet}/subnets/db"
    assert recording.by_type(SERVER)[0].inputs["resourceGroupName"] == "ml-platform"
    assert all(link.inputs["virtualNetwork"]["id"] == vnet for link in recording.by_type("azure-native:privatedns:VirtualNetworkLink"))
    assert {c.inputs["issuer"] for c in recording.by_type(CREDENTIAL)} == {offline.MOCK_AKS_ISSUER}  # the looked-up cluster's
    kubeconfig = kubeconfig_of(recording)
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://shared-aks-dns-")


@pytest.mark.parametrize("stack,present,absent", [
    ("production-azure", "pulumi_azure_native", "pulumi_aws"),
    ("production", "pulumi_aws", "pulumi_azure_native"),
])
def test_a_stack_imports_only_its_own_clouds_sdk(stack, present, absent):
    code = (
        f"import sys; from mlops_stack import offline; from tests import fixtures; offline.run({stack!r}, fixtures.stack_config({stack!r}));"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('pulumi_aws', 'pulumi_azure_native'))}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == repr([present])


def test_azure_managed_redis_is_the_option_for_the_online_store():
    recording = offline.run("production-azure", {
        **fixtures.stack_config("production-azure"), "mlops:azure": {"location": "westeurope", "redis": {"service": "managed-redis"}},
    })
    assert not recording.by_type(REDIS)
    (cluster,) = recording.by_type("azure-native:redisenterprise:RedisEnterprise")
    (database,) = recording.by_type("azure-native:redisenterprise:Database")
    assert cluster.protect and database.protect
    assert cluster.inputs["sku"] == {"name": "Balanced_B1"} and cluster.inputs["highAvailability"] == "Enabled"
    assert cluster.inputs["publicNetworkAccess"] == "Disabled" and cluster.inputs["minimumTlsVersion"] == "1.2"
    assert database.inputs["clientProtocol"] == "Encrypted" and database.inputs["port"] == 10000
    assert database.inputs["clusteringPolicy"] == "EnterpriseCluster"  # one endpoint for Feast's plain Redis client
    assert database.inputs["evictionPolicy"] == "NoEviction"
    groups = sorted(e.inputs["privateLinkServiceConnections"][0]["groupIds"][0] for e in recording.by_type(ENDPOINT))
    assert groups == ["blob", "dfs", "redisEnterprise", "vault"]
    zones = {z.inputs["privateZoneName"] for z in recording.by_type("azure-native:privatedns:PrivateZone")}
    assert "privatelink.redis.azure.net" in zones and "privatelink.redis.cache.windows.net" not in zones
    public = resolved(recording.result.public)
    assert public.env["MLOPS_REDIS_HOST"].endswith(".westeurope.redis.azure.net") and public.env["MLOPS_REDIS_PORT"] == "10000"
    assert public.env["MLOPS_REDIS_TLS"] == "true"
    secrets = {s.inputs["secretName"] for s in recording.by_type("azure-native:keyvault:Secret")}
    assert "redis-access-key" in secrets


@pytest.mark.parametrize("redis,key,allowed", [
    ({"service": "managed-redis", "sku": "Premium"}, "mlops:azure.redis.sku", "unset with service managed-redis"),
    ({"managedSku": "Balanced_B1"}, "mlops:azure.redis.managedSku", "unset with service cache"),
    ({"service": "managed-redis", "managedSku": "Premium_P1"}, "mlops:azure.redis.managedSku", "an Azure Managed Redis SKU"),
])
def test_redis_settings_of_the_other_service_are_refused(redis, key, allowed):
    from infra.config import ConfigError, load

    with pytest.raises(ConfigError) as raised:
        load("staging", {"backend": "azure", "owner": "ml", "azure": {"redis": redis}})
    assert str(raised.value).startswith(key) and allowed in str(raised.value), str(raised.value)


def test_a_production_key_vault_may_be_opened_to_the_internet_for_its_operators():
    recording = offline.run("production-azure", {
        **fixtures.stack_config("production-azure"),
        "mlops:azure": {"location": "westeurope", "keyVault": {"publicNetworkAccess": True}},
    })
    vault = recording.by_type(VAULT)[0].inputs["properties"]
    assert vault["publicNetworkAccess"] == "Enabled" and vault["networkAcls"]["defaultAction"] == "Allow"
    assert vault["enablePurgeProtection"] is True  # still recoverable
    # The private endpoint stays: the cluster's VNet reaches the vault privately either way.
    assert "vault" in {e.inputs["privateLinkServiceConnections"][0]["groupIds"][0] for e in recording.by_type(ENDPOINT)}
