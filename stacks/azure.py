"""Azure: AKS, PostgreSQL Flexible Server, Azure Cache for Redis and an ADLS Gen2 storage account, with
a managed identity per service (workload identity) and the generated secrets in Key Vault; an Azure ML
workspace for MLflow and for managed model endpoints as options. The applications run on AKS exactly
as in the ensemble.

Dependencies are only the ones the resources need: the data services wait for the network, not for
the cluster, so PostgreSQL, Redis and storage are created while AKS is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_azure_native as azure
import pulumi_random as random

from components.azure.aks import AksCluster, AksClusterArgs
from components.azure.conditions import no_reads_under, only_under
from components.azure.compute_instances import ComputeInstances, ComputeInstancesArgs
from components.azure.events import LakeEventQueue, LakeEventQueueArgs
from components.azure.identity import (
    AZUREML_DATA_SCIENTIST, BLOB_DATA_CONTRIBUTOR, BLOB_DATA_READER, CLIENT_ID_ANNOTATION,
    Grant, WorkloadIdentity, WorkloadIdentityArgs,
)
from components.azure.keyvault import SecretVault, SecretVaultArgs
from components.azure.machine_learning import MLFLOW_PLUGIN, MachineLearningWorkspace, MachineLearningWorkspaceArgs
from components.azure.naming import (
    compute_instance_name, global_name, key_vault_name, online_endpoint_name, server_name, service_bus_namespace_name,
    storage_account_name, unique_suffix,
)
from components.azure.network import Network, NetworkArgs
from components.azure.postgres import FlexiblePostgres, FlexiblePostgresArgs
from components.azure.redis import ManagedRedis, ManagedRedisArgs, RedisCache, RedisCacheArgs
from components.azure.serving import OnlineEndpoint, OnlineEndpointArgs
from components.azure.storage import DataLake, DataLakeArgs
from components.kubernetes.airflow import WORKER_SERVICE_ACCOUNT
from components.kubernetes.jupyterhub import USER_SERVICE_ACCOUNT as NOTEBOOK_USER_ACCOUNT
from components.kubernetes.smoke import APP as SMOKE_ACCOUNT
from infra.config import Azure, Environment, EventQueue, ServiceMode, StackConfig
from infra import pipeline_config
from infra.contract import Buckets, Cache, NotebooksInfo, ObjectStore, PlatformEndpoints, ServiceUrls, ServingEndpointInfo, resolve
from mlops_jobs.pipeline_names import BUCKET_ROLES, CAPTURE_PREFIX, bucket_name
from stacks import managed_cluster, specs
from stacks.managed_cluster import ManagedCluster

# The private endpoint sub-resource of each Redis service.
REDIS_GROUPS = {"cache": "redisCache", "managed-redis": "redisEnterprise"}
# Container per role; container names allow lowercase letters, digits and '-'.
CONTAINERS = {role: bucket_name(role) for role in BUCKET_ROLES}


@dataclass(frozen=True)
class _Azure:
    """What every part of the Azure half needs: the settings, the provider, where and under which names."""

    cfg: StackConfig
    settings: Azure
    opts: pulumi.ResourceOptions
    client: Any  # the signed-in client: tenant, subscription, object ID
    subscription_id: pulumi.Output[str]
    resource_group: pulumi.Input[str]
    # Global names (storage, Key Vault, PostgreSQL, Redis) end in a hash of subscription, group and stack.
    suffix: pulumi.Output[str]
    base_name: str

    @property
    def production(self) -> bool:
        return self.cfg.environment is Environment.PRODUCTION

    @property
    def place(self) -> dict[str, Any]:
        """The resource group, location and tags every resource takes."""
        return {"resource_group": self.resource_group, "location": self.settings.location, "tags": self.cfg.cloud_tags}


def build(cfg: StackConfig) -> PlatformEndpoints:
    settings = cfg.azure
    assert settings is not None  # config.load resolves it for backend azure
    ctx = _context(cfg, settings)
    network = _network(ctx)
    cluster = _cluster(ctx, network)
    lake, postgres, cache = _data_services(ctx, network)
    vault_suffix, vault = _vault(ctx, network, postgres, cache)
    mlflow_managed = cfg.mlflow.mode is ServiceMode.MANAGED
    managed_endpoints = [e for e in cfg.serving.endpoints if e.mode is ServiceMode.MANAGED]
    workspace = None
    # One Azure ML workspace holds managed MLflow and the managed model endpoints alike.
    if mlflow_managed or managed_endpoints or cfg.notebooks.managed:
        workspace = MachineLearningWorkspace(
            "mlflow",
            MachineLearningWorkspaceArgs(
                workspace_name=ctx.base_name,
                storage_account_name=ctx.suffix.apply(lambda s: storage_account_name(cfg.stack, s, purpose="ml")),
                vault_name=_vault_name(ctx, vault_suffix, "ml"), tenant_id=ctx.client.tenant_id, subscription_id=ctx.subscription_id,
                resource_group=ctx.resource_group, location=settings.location,
                zone_redundant=ctx.production, protect=cfg.protect, tags=cfg.cloud_tags,
            ),
            opts=ctx.opts,
        )
    identities = _identities(ctx, cluster, lake, workspace)
    events = _lake_events(ctx, lake, identities["airflow"])
    model_endpoints = {
        endpoint.name: OnlineEndpoint(
            f"serving-{endpoint.name}",
            OnlineEndpointArgs(
                endpoint_name=ctx.suffix.apply(lambda s, e=endpoint.name: online_endpoint_name(e, cfg.stack, s)),
                endpoint=specs.endpoint(endpoint), workspace_name=workspace.workspace_name, workspace_id=workspace.workspace_id,
                subscription_id=ctx.subscription_id, registry_id=settings.container_registry_id, **ctx.place,
                lake_account=lake.account_name, lake_container=lake.containers["lake"], lake_container_id=lake.container_ids["lake"],
            ),
            opts=ctx.opts,
        )
        for endpoint in managed_endpoints
        if workspace
    }
    managed_mlflow = workspace is not None and mlflow_managed
    managed = ServiceUrls(mlflow=workspace.tracking_uri if managed_mlflow else "", mlflow_plugin=MLFLOW_PLUGIN if managed_mlflow else "")
    endpoints = managed_cluster.build(cfg, ManagedCluster(
        kubeconfig=cluster.kubeconfig,
        nodes=cluster.nodes,
        postgres=postgres,
        cache=Cache(host=cache.host, port=cache.port, tls=True, password=cache.password),
        # No keys: every pod signs in with its managed identity (DefaultAzureCredential).
        object_store=ObjectStore(
            kind="azure-blob", endpoint=lake.blob_endpoint, region=settings.location,
            buckets=Buckets(**lake.containers), auth="workload-identity", account=lake.account_name,
        ),
        identities={app: {CLIENT_ID_ANNOTATION: identity.client_id} for app, identity in identities.items()},
        pipeline_identity={CLIENT_ID_ANNOTATION: identities["airflow"].client_id},
        managed=managed,
        events=specs.lake_events(cfg.events, queue=events.queue_name if events else "",
                                 namespace=events.fully_qualified_namespace if events else ""),
        serving={name: ServingEndpointInfo(url=e.url, weights=e.weights, variant_urls=e.variant_urls, kind="azure-ml", cloud_name=e.name,
                                           capture=e.capture, capture_rate=cfg.serving.endpoint(name).capture_rate)
                 for name, e in model_endpoints.items()},
        managed_components=tuple(model_endpoints.values()),
    ))
    if cfg.notebooks.managed and workspace:
        endpoints = _compute_instances(ctx, network, workspace, identities["airflow"], vault, endpoints)
    pulumi.export("azure", {
        "location": settings.location,
        "subscriptionId": ctx.subscription_id,
        "resourceGroup": ctx.resource_group,
        "cluster": cluster.name,
        "storageAccount": lake.account_name,
        "containers": lake.containers,
        "keyVault": vault.vault_uri,
        "identities": {app: identity.client_id for app, identity in identities.items()},
        "mlflowWorkspace": workspace.workspace_id if workspace else None,
        "modelEndpoints": {name: e.name for name, e in model_endpoints.items()},
    })
    return endpoints


def _context(cfg: StackConfig, settings: Azure) -> _Azure:
    provider = azure.Provider("azure", location=settings.location, subscription_id=settings.subscription_id)
    client = azure.authorization.get_client_config_output(opts=pulumi.InvokeOptions(provider=provider))
    subscription_id = pulumi.Output.from_input(settings.subscription_id) if settings.subscription_id else client.subscription_id
    group_name = settings.resource_group or global_name("mlops", cfg.stack, "", max_length=90)
    if settings.resource_group:
        resource_group: pulumi.Input[str] = settings.resource_group
    else:
        # Deleting a resource group deletes everything in it: protected where the data is.
        group = azure.resources.ResourceGroup(
            "resource-group", resource_group_name=group_name, location=settings.location, tags=cfg.cloud_tags,
            opts=pulumi.ResourceOptions(providers=[provider], protect=cfg.protect),
        )
        resource_group = group.name
    return _Azure(
        cfg=cfg, settings=settings, opts=pulumi.ResourceOptions(providers=[provider]), client=client,
        subscription_id=subscription_id, resource_group=resource_group,
        suffix=subscription_id.apply(lambda sub: unique_suffix(sub, group_name, cfg.stack)),
        base_name=global_name("mlops", cfg.stack, "", max_length=40),
    )


def _network(ctx: _Azure) -> Network:
    settings, existing = ctx.settings, ctx.settings.existing_network
    return Network(
        "network",
        NetworkArgs(
            resource_group=ctx.resource_group, location=settings.location, cidr=settings.cidr,
            postgres_zone=f"{ctx.base_name}.private.postgres.database.azure.com", tags=ctx.cfg.cloud_tags,
            private_link_groups=(REDIS_GROUPS[settings.redis_service], "blob", "dfs", "vault"),
            existing_vnet_id=existing.vnet_id if existing else None,
            existing_subnet_ids={"cluster": existing.cluster_subnet_id, "postgres": existing.postgres_subnet_id,
                                 "endpoints": existing.endpoints_subnet_id} if existing else None,
        ),
        opts=ctx.opts,
    )


def _cluster(ctx: _Azure, network: Network) -> AksCluster:
    cfg, settings, sizes = ctx.cfg, ctx.settings, ctx.settings.sizes
    existing_cluster = cfg.cluster.create is False
    return AksCluster(
        "aks",
        AksClusterArgs(
            cluster_name=cfg.cluster.name or ctx.base_name,
            existing=existing_cluster,
            resource_group=(settings.aks_resource_group or ctx.resource_group) if existing_cluster else ctx.resource_group,
            location=settings.location, subscription_id=ctx.subscription_id, tags=cfg.cloud_tags,
            vnet_id=network.vnet_id, subnet_id=network.subnet_ids["cluster"], deployer_object_id=ctx.client.object_id,
            version=settings.aks_version, public_endpoint=settings.public_endpoint, authorized_ip_ranges=settings.authorized_ip_ranges,
            zones=settings.zones, system_vm_size=sizes.system_vm_size, system_nodes=sizes.system_nodes,
            vm_size=sizes.vm_size, min_nodes=sizes.min_nodes, max_nodes=sizes.max_nodes, paid_tier=ctx.production,
        ),
        opts=ctx.opts,
    )


def _data_services(ctx: _Azure, network: Network) -> tuple[DataLake, FlexiblePostgres, RedisCache | ManagedRedis]:
    cfg, settings, sizes, stack = ctx.cfg, ctx.settings, ctx.settings.sizes, ctx.cfg.stack
    lake = DataLake(
        "storage",
        DataLakeArgs(
            account_name=ctx.suffix.apply(lambda s: storage_account_name(stack, s)), containers=CONTAINERS,
            subnet_id=network.subnet_ids["endpoints"],
            private_zone_ids={"blob": network.zone_ids["blob"], "dfs": network.zone_ids["dfs"]},
            hierarchical_namespace=settings.hierarchical_namespace, public_network_access=settings.storage_public_access,
            zone_redundant=ctx.production, soft_delete=ctx.production, protect=cfg.protect, **ctx.place,
            # Captured requests can hold personal data: kept for the configured days only.
            expirations={f"{CONTAINERS['lake']}/{CAPTURE_PREFIX}": cfg.serving.capture_retention_days},
        ),
        opts=ctx.opts,
    )
    postgres = FlexiblePostgres(
        "postgres",
        FlexiblePostgresArgs(
            server_name=ctx.suffix.apply(lambda s: server_name(stack, s, "postgres")),
            subnet_id=network.subnet_ids["postgres"], private_zone_id=network.zone_ids["postgres"],
            consumers=cfg.database_consumers, version=settings.postgres_version, sku=sizes.postgres_sku, tier=settings.postgres_tier,
            storage_gb=sizes.postgres_storage_gb, backup_retention_days=sizes.postgres_backup_days,
            high_availability=settings.postgres_high_availability, protect=cfg.protect, **ctx.place,
        ),
        opts=ctx.opts,
    )
    cache: RedisCache | ManagedRedis
    if settings.redis_service == "managed-redis":
        cache = ManagedRedis(
            "redis",
            ManagedRedisArgs(
                cluster_name=ctx.suffix.apply(lambda s: server_name(stack, s, "redis")),
                subnet_id=network.subnet_ids["endpoints"], private_zone_id=network.zone_ids["redisEnterprise"],
                sku=settings.managed_redis_sku, high_availability=ctx.production, protect=cfg.protect, **ctx.place,
            ),
            opts=ctx.opts,
        )
    else:
        cache = RedisCache(
            "redis",
            RedisCacheArgs(
                cache_name=ctx.suffix.apply(lambda s: server_name(stack, s, "redis")),
                subnet_id=network.subnet_ids["endpoints"], private_zone_id=network.zone_ids["redisCache"],
                sku=sizes.redis_sku, family=settings.redis_family, capacity=sizes.redis_capacity, zones=settings.zones,
                protect=cfg.protect, **ctx.place,
            ),
            opts=ctx.opts,
        )
    return lake, postgres, cache


def _vault_name(ctx: _Azure, vault_suffix: random.RandomId, purpose: str = "") -> pulumi.Output[str]:
    return pulumi.Output.all(ctx.suffix, vault_suffix.hex).apply(lambda v: key_vault_name(ctx.cfg.stack, v[1] + v[0][:4], purpose))


def _vault(ctx: _Azure, network: Network, postgres: FlexiblePostgres, cache: RedisCache | ManagedRedis) -> tuple[random.RandomId, SecretVault]:
    """Key Vault with the generated secrets. Soft-deleted vault names stay taken for the retention
    period, so a recreated stack gets a new one (a random part in the name)."""
    cfg = ctx.cfg
    vault_suffix = random.RandomId("key-vault-suffix", byte_length=3, opts=pulumi.ResourceOptions(protect=cfg.protect))
    vault = SecretVault(
        "key-vault",
        SecretVaultArgs(
            vault_name=_vault_name(ctx, vault_suffix), tenant_id=ctx.client.tenant_id,
            subnet_id=network.subnet_ids["endpoints"], private_zone_id=network.zone_ids["vault"],
            public_network_access=ctx.settings.key_vault_public_access,
            secrets={
                "postgres-admin-password": postgres.admin_password,
                **{f"postgres-{c}-password": login.password for c, login in postgres.logins.items()},
                "redis-access-key": cache.password,
            },
            purge_protection=ctx.production, protect=cfg.protect, **ctx.place,
        ),
        opts=ctx.opts,
    )
    return vault_suffix, vault


def _compute_instances(ctx: _Azure, network: Network, workspace: MachineLearningWorkspace, pipelines: WorkloadIdentity,
                       vault: SecretVault, endpoints: PlatformEndpoints) -> PlatformEndpoints:
    """One Azure ML compute instance per user, set up from the same pipeline config as the cluster's."""
    cfg = ctx.cfg
    public = resolve(endpoints, with_secrets=False).apply(pipeline_config.render)
    complete = pulumi.Output.secret(resolve(endpoints, with_secrets=True).apply(pipeline_config.render))
    instances = ComputeInstances(
        "notebooks",
        ComputeInstancesArgs(
            workspace_name=workspace.workspace_name, resource_group=ctx.resource_group, location=ctx.settings.location,
            subscription_id=ctx.subscription_id,
            instance_names={u: ctx.suffix.apply(lambda s, u=u: compute_instance_name(u, cfg.stack, s)) for u in cfg.notebooks.users},
            vm_size=cfg.notebooks.managed_instance_type,
            # The private endpoints' subnet: the instances reach the databases, the cache and the vault there.
            subnet_id=network.subnet_ids["endpoints"],
            identity_id=pipelines.identity_id, identity_client_id=pipelines.client_id, identity_principal_id=pipelines.principal_id,
            vault_name=vault.vault_name, vault_uri=vault.vault_uri, idle_shutdown_seconds=cfg.notebooks.cull_idle_seconds,
            public_env=public.apply(lambda c: c.env), files=public.apply(lambda c: c.files),
            secret_env=complete.apply(lambda c: c.secret_env), tags=cfg.cloud_tags,
        ),
        opts=ctx.opts,
    )
    return dataclasses.replace(endpoints, notebooks=NotebooksInfo(kind="azure-ml", url=instances.url, users=cfg.notebooks.users))


def _lake_events(ctx: _Azure, lake: DataLake, pipelines: WorkloadIdentity) -> Optional[LakeEventQueue]:
    """The Service Bus queue the lake's Event Grid events go to, when the stack's events take that queue."""
    events = ctx.cfg.events
    if events.queue is not EventQueue.SERVICE_BUS:
        return None
    return LakeEventQueue(
        "lake-events",
        LakeEventQueueArgs(
            namespace_name=ctx.suffix.apply(lambda s: service_bus_namespace_name(ctx.cfg.stack, s)), queue_name="lake-events",
            storage_account_id=lake.account_id, container=lake.containers["lake"], prefix=events.prefix,
            max_deliveries=events.max_deliveries, retention_days=events.retention_days, receiver_principal_id=pipelines.principal_id,
            subscription_id=ctx.subscription_id, **ctx.place,
        ),
        opts=ctx.opts,
    )


def _identities(ctx: _Azure, cluster: AksCluster, lake: DataLake, workspace: Optional[MachineLearningWorkspace]) -> dict[str, WorkloadIdentity]:
    """One identity per service, each with roles on its own containers only; created side by side."""
    cfg = ctx.cfg
    platform, pipelines = cfg.namespaces.platform, cfg.namespaces.pipelines
    container = lake.container_ids

    def reads(role: str, condition: Optional[str] = None) -> Grant:
        return Grant(container[role], BLOB_DATA_READER, f"{CONTAINERS[role]}-reader", condition)

    def writes(role: str, condition: Optional[str] = None) -> Grant:
        return Grant(container[role], BLOB_DATA_CONTRIBUTOR, f"{CONTAINERS[role]}-contributor", condition)

    # The captured requests under inference/ are read by the monitoring job (evidently) only.
    private = no_reads_under(CAPTURE_PREFIX)
    pipeline_grants = [writes("lake", private), writes("feature_store"), writes("artifacts")]
    notebook_users = ((pipelines, NOTEBOOK_USER_ACCOUNT),) if cfg.notebooks.in_cluster else ()
    if workspace:
        # Pipelines log runs, register models and call the model endpoints in the workspace.
        pipeline_grants.append(Grant(workspace.workspace_id, AZUREML_DATA_SCIENTIST, "workspace-data-scientist"))
    access: dict[str, tuple[tuple[tuple[str, str], ...], list[Grant]]] = {
        "feast": (((platform, "feast"),), [reads("lake", private), writes("feature_store")]),
        "evidently": (((platform, "evidently"),), [writes("monitoring"), reads("lake")]),
        # Pipeline pods (Airflow's task pods, the post-deploy check that stands in for one, and the
        # notebooks' user servers) share one.
        "airflow": (((platform, "airflow"), (pipelines, WORKER_SERVICE_ACCOUNT), (pipelines, SMOKE_ACCOUNT), *notebook_users),
                    pipeline_grants),
    }
    if cfg.mlflow.mode is not ServiceMode.MANAGED:
        access["mlflow"] = (((platform, "mlflow"),), [writes("artifacts")])
    # In-cluster model servers' capture sidecars may write captures, and nothing else.
    capturing = tuple((platform, name) for name in cfg.serving.capturing_in_cluster)
    if capturing:
        access["serving"] = (capturing, [writes("lake", only_under(CAPTURE_PREFIX))])
    return {
        app: WorkloadIdentity(
            f"{app}-identity",
            WorkloadIdentityArgs(
                identity_name=f"{ctx.base_name}-{app}", resource_group=ctx.resource_group, location=ctx.settings.location,
                subscription_id=ctx.subscription_id, oidc_issuer=cluster.oidc_issuer, service_accounts=accounts, grants=grants,
                tags=cfg.cloud_tags,
            ),
            opts=ctx.opts,
        )
        for app, (accounts, grants) in sorted(access.items())
    }
