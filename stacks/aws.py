"""AWS: EKS, RDS for PostgreSQL, ElastiCache and S3, with an IAM role per service (IRSA); MWAA and
SageMaker managed MLflow as options. The applications run on EKS exactly as in the ensemble.

Dependencies are only the ones the resources need: the data services wait for the network, not for
the cluster, so RDS, ElastiCache and S3 are created while EKS is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.athena import AthenaWarehouse, AthenaWarehouseArgs, glue_name
from components.aws.eks import EksCluster, EksClusterArgs
from components.aws.elasticache import ElastiCache, ElastiCacheArgs
from components.aws.events import LakeEventQueue, LakeEventQueueArgs, receive_access
from components.aws.iam import Statement, bucket_access, put_access
from components.aws.iam import WorkloadRole, WorkloadRoleArgs
from components.aws.mwaa import AirflowConnections, AirflowConnectionsArgs, Mwaa, MwaaArgs
from components.aws.naming import physical_name
from components.aws.network import Network, NetworkArgs
from components.aws.rds import RdsPostgres, RdsPostgresArgs
from components.aws.s3 import PRIVATE_READER_TAG, BucketArgs, PrivateBucket
from components.aws.sagemaker import SageMakerMlflow, SageMakerMlflowArgs
from components.aws.serving import NAME_PREFIX_LENGTH, SageMakerEndpoint, SageMakerEndpointArgs
from components.aws.studio import StudioDomain, StudioDomainArgs, StudioNetwork, StudioNetworkArgs
from components.kubernetes.airflow import WORKER_SERVICE_ACCOUNT
from components.kubernetes.jupyterhub import USER_SERVICE_ACCOUNT as NOTEBOOK_USER_ACCOUNT
from components.kubernetes.smoke import APP as SMOKE_ACCOUNT
from infra import pipeline_config
from infra.config import Aws, Environment, EventQueue, ServiceMode, StackConfig, WarehouseKind
from infra.contract import (
    Buckets, Cache, NotebooksInfo, ObjectStore, PlatformEndpoints, ServiceUrls, ServingEndpointInfo, WarehouseEndpoint, WarehouseLogin, resolve,
)
from mlops_jobs.pipeline_names import BUCKET_ROLES, CAPTURE_PREFIX, EVENTS_CONNECTION, bucket_name
from stacks import managed_cluster, specs
from stacks.managed_cluster import ManagedCluster

# The annotation that binds a Kubernetes service account to an IAM role (IRSA).
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
# Bucket suffix per role; S3 bucket names allow no capitals.
BUCKET_SUFFIXES = {role: bucket_name(role) for role in BUCKET_ROLES}
SAGEMAKER_MLFLOW_PLUGIN = "sagemaker-mlflow"


@dataclass(frozen=True)
class _Aws:
    """What every part of the AWS half needs: the settings, the provider and the names."""

    cfg: StackConfig
    settings: Aws
    opts: pulumi.ResourceOptions
    account_id: pulumi.Output[str]
    base_name: str

    @property
    def production(self) -> bool:
        return self.cfg.environment is Environment.PRODUCTION


def build(cfg: StackConfig) -> PlatformEndpoints:
    settings = cfg.aws
    assert settings is not None  # config.load resolves it for backend aws
    provider = aws.Provider("aws", region=settings.region, default_tags=aws.ProviderDefaultTagsArgs(tags=cfg.cloud_tags))
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=provider)).account_id
    ctx = _Aws(cfg, settings, pulumi.ResourceOptions(providers=[provider]), account_id, physical_name("mlops", cfg.stack, max_length=40))

    network = Network(
        "network",
        NetworkArgs(
            region=settings.region, cidr=settings.cidr, availability_zones=settings.availability_zones,
            nat_per_zone=ctx.production, existing_vpc_id=settings.vpc_id, existing_private_subnet_ids=settings.private_subnet_ids,
        ),
        opts=ctx.opts,
    )
    cluster = _cluster(ctx, network)
    buckets = _buckets(ctx)
    arn = {role: bucket.arn for role, bucket in buckets.items()}
    pipelines_access: list[pulumi.Input[Statement]] = [
        *bucket_access(arn["lake"], write=True),
        *bucket_access(arn["feature_store"], write=True),
    ]
    events = _lake_events(ctx, buckets["lake"])
    if events:
        pipelines_access.append(receive_access(events.arn))
    sagemaker = _managed_mlflow(ctx, buckets, pipelines_access)
    model_endpoints = _model_endpoints(ctx, buckets["lake"], pipelines_access)
    athena = _athena(ctx, buckets["lake"])
    # Pipelines and Feast (materialize reads the offline store) query Athena; before MWAA and the roles take the list.
    warehouse_access = athena.pipeline_statements() if athena else []
    pipelines_access.extend(warehouse_access)
    clients: dict[str, pulumi.Input[str]] = {"cluster": cluster.security_group_id}
    mwaa = _managed_airflow(ctx, network, pipelines_access)
    if mwaa:
        clients["mwaa"] = mwaa.security_group_id
    studio_network = _studio_network(ctx, network)
    if studio_network:
        clients["notebooks"] = studio_network.security_group_id
    postgres, cache = _data_services(ctx, network, clients)
    roles, pipeline_role = _roles(ctx, cluster, arn, pipelines_access, warehouse_access)

    managed = ServiceUrls(
        mlflow=sagemaker.arn if sagemaker else "", mlflow_plugin=SAGEMAKER_MLFLOW_PLUGIN if sagemaker else "",
        airflow=mwaa.url if mwaa else "",
    )
    endpoints = managed_cluster.build(cfg, ManagedCluster(
        kubeconfig=cluster.kubeconfig,
        nodes=cluster.nodes,
        postgres=postgres,
        cache=Cache(host=cache.host, port=cache.port, tls=True, password=cache.password),
        # No endpoint and no keys: the SDKs' default endpoint, and each pod's IAM role.
        object_store=ObjectStore(
            kind="s3", endpoint="", region=settings.region,
            buckets=Buckets(**{role: bucket.name for role, bucket in buckets.items()}), auth="irsa",
        ),
        identities={app: {ROLE_ANNOTATION: role.arn} for app, role in roles.items()},
        pipeline_identity={ROLE_ANNOTATION: roles[pipeline_role].arn},
        managed=managed,
        events=specs.lake_events(cfg.events, queue=events.url if events else "", region=settings.region),
        serving={name: ServingEndpointInfo(url=e.url, weights=e.weights, variant_urls=e.variant_urls, kind="sagemaker", cloud_name=e.name,
                                           capture=e.capture, capture_rate=cfg.serving.endpoint(name).capture_rate)
                 for name, e in model_endpoints.items()},
        managed_components=tuple(model_endpoints.values()),
        warehouse=_athena_endpoint(ctx, athena) if athena else None,
    ))
    if mwaa:
        _mwaa_connections(ctx, endpoints)
    if studio_network:
        endpoints = _studio(ctx, network, studio_network, endpoints, pipelines_access)
    pulumi.export("aws", {
        "region": settings.region,
        "accountId": account_id,
        "cluster": cluster.name,
        "roles": {app: role.arn for app, role in roles.items()},
        "buckets": {role: bucket.name for role, bucket in buckets.items()},
        "dagBucket": mwaa.dag_bucket if mwaa else None,
    })
    return endpoints


def _lake_events(ctx: _Aws, lake: PrivateBucket) -> Optional[LakeEventQueue]:
    """The SQS queue the lake's notifications go to, when the stack's events take that queue."""
    events = ctx.cfg.events
    if events.queue is not EventQueue.SQS:
        return None
    return LakeEventQueue(
        "lake-events",
        LakeEventQueueArgs(
            queue_name=f"{ctx.base_name}-lake-events", bucket=lake.name, bucket_arn=lake.arn, account_id=ctx.account_id, region=ctx.settings.region,
            prefix=events.prefix, max_deliveries=events.max_deliveries, retention_days=events.retention_days,
            bucket_settings=lake.settings,
        ),
        opts=ctx.opts,
    )


def _athena(ctx: _Aws, lake: PrivateBucket) -> Optional[AthenaWarehouse]:
    """kind athena: Glue databases over the lake and a workgroup."""
    cfg, warehouse = ctx.cfg, ctx.cfg.warehouse
    if warehouse is None or warehouse.kind is not WarehouseKind.ATHENA:
        return None
    database = glue_name(ctx.base_name, "warehouse")
    athena = AthenaWarehouse("warehouse", AthenaWarehouseArgs(
        workgroup_name=ctx.base_name, database=database, published_database=glue_name(database, warehouse.published_schema),
        region=ctx.settings.region, account_id=ctx.account_id, lake=lake.name, lake_arn=lake.arn,
        results_bucket=ctx.account_id.apply(lambda account: physical_name("mlops", cfg.stack, "athena-results", account)),
        results_retention_days=warehouse.results_retention_days, bytes_scanned_cutoff=warehouse.bytes_scanned_cutoff,
        readers=warehouse.readers, key_deletion_days=ctx.settings.key_deletion_days, force_destroy=cfg.ephemeral, protect=cfg.protect,
    ), opts=ctx.opts)
    return athena


def _athena_endpoint(ctx: _Aws, athena: AthenaWarehouse) -> WarehouseEndpoint:
    region = ctx.settings.region
    return WarehouseEndpoint(
        kind="athena", auth="iam", host=f"athena.{region}.amazonaws.com", port=443, database=athena.database,
        schema=athena.published_database, region=region, workgroup=athena.workgroup, staging=athena.staging_location,
        results=athena.results_location,
        readers={reader: WarehouseLogin(user=arn) for reader, arn in athena.reader_roles.items()},
    )


def _cluster(ctx: _Aws, network: Network) -> EksCluster:
    settings, sizes = ctx.settings, ctx.settings.sizes
    return EksCluster(
        "eks",
        EksClusterArgs(
            cluster_name=ctx.cfg.cluster.name or ctx.base_name,
            existing=ctx.cfg.cluster.create is False,
            region=settings.region,
            subnet_ids=network.private_subnet_ids,
            version=settings.eks_version,
            public_endpoint=settings.public_endpoint,
            public_access_cidrs=settings.public_access_cidrs,
            instance_types=sizes.node_instance_types,
            min_nodes=sizes.min_nodes, desired_nodes=sizes.desired_nodes, max_nodes=sizes.max_nodes,
            key_deletion_days=settings.key_deletion_days,
        ),
        opts=ctx.opts,
    )


def _capture_rules(cfg: StackConfig) -> dict:
    """Captured requests can hold personal data: kept for the configured days, read by the monitoring job only."""
    return {"expirations": {CAPTURE_PREFIX: cfg.serving.capture_retention_days}, "private_prefixes": (CAPTURE_PREFIX,)}


def _buckets(ctx: _Aws) -> dict[str, PrivateBucket]:
    cfg = ctx.cfg
    return {
        role: PrivateBucket(
            f"bucket-{suffix}",
            BucketArgs(
                bucket=ctx.account_id.apply(lambda account, s=suffix: physical_name("mlops", cfg.stack, s, account)),
                versioning=ctx.production, force_destroy=cfg.ephemeral, protect=cfg.protect,
                **(_capture_rules(cfg) if role == "lake" else {}),
            ),
            opts=ctx.opts,
        )
        for role, suffix in BUCKET_SUFFIXES.items()
    }


def _managed_mlflow(ctx: _Aws, buckets: dict[str, PrivateBucket], pipelines_access: list) -> Optional[SageMakerMlflow]:
    if ctx.cfg.mlflow.mode is not ServiceMode.MANAGED:
        return None
    sagemaker = SageMakerMlflow(
        "mlflow",
        SageMakerMlflowArgs(
            tracking_server_name=ctx.base_name, artifacts_bucket_arn=buckets["artifacts"].arn, artifacts_bucket=buckets["artifacts"].name,
            size=ctx.settings.sizes.sagemaker_size, mlflow_version=ctx.settings.sagemaker_mlflow_version,
        ),
        opts=ctx.opts,
    )
    # Pipelines log runs and register models through the tracking server's API.
    pipelines_access.append(sagemaker.arn.apply(lambda a: {"Effect": "Allow", "Action": "sagemaker-mlflow:*", "Resource": a}))
    return sagemaker


def _model_endpoints(ctx: _Aws, lake: PrivateBucket, pipelines_access: list) -> dict[str, SageMakerEndpoint]:
    """Managed model endpoints; pipelines (request-triggered prediction, the post-deploy check) may invoke them."""
    model_endpoints = {
        endpoint.name: SageMakerEndpoint(
            f"serving-{endpoint.name}",
            SageMakerEndpointArgs(endpoint_name=physical_name("mlops", ctx.cfg.stack, endpoint.name, max_length=NAME_PREFIX_LENGTH),
                                  endpoint=specs.endpoint(endpoint),
                                  region=ctx.settings.region, lake=lake.name, lake_arn=lake.arn),
            opts=ctx.opts,
        )
        for endpoint in ctx.cfg.serving.endpoints
        if endpoint.mode is ServiceMode.MANAGED
    }
    for model_endpoint in model_endpoints.values():
        pipelines_access.append(model_endpoint.arn.apply(lambda a: {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": a}))
    return model_endpoints


def _managed_airflow(ctx: _Aws, network: Network, pipelines_access: list) -> Optional[Mwaa]:
    if ctx.cfg.airflow.mode is not ServiceMode.MANAGED:
        return None
    cfg, settings, sizes = ctx.cfg, ctx.settings, ctx.settings.sizes
    return Mwaa(
        "airflow",
        MwaaArgs(
            environment_name=ctx.base_name, region=settings.region, account_id=ctx.account_id, vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids.apply(lambda ids: ids[:2]),
            dag_bucket=ctx.account_id.apply(lambda account: physical_name("mlops", cfg.stack, "dags", account)),
            airflow_version=settings.mwaa_airflow_version, environment_class=sizes.mwaa_class, max_workers=sizes.mwaa_max_workers,
            connections_prefix=connections_prefix(cfg), statements=pipelines_access,
            force_destroy=cfg.ephemeral, protect=cfg.protect,
        ),
        opts=ctx.opts,
    )


def _data_services(ctx: _Aws, network: Network, clients: dict[str, pulumi.Input[str]]) -> tuple[RdsPostgres, ElastiCache]:
    cfg, settings, sizes = ctx.cfg, ctx.settings, ctx.settings.sizes
    postgres = RdsPostgres(
        "postgres",
        RdsPostgresArgs(
            identifier=ctx.base_name, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids, clients=clients,
            consumers=cfg.database_consumers, instance_class=sizes.db_instance_class, allocated_storage=sizes.db_storage,
            max_allocated_storage=sizes.db_max_storage, engine_version=settings.db_engine_version,
            backup_retention_days=sizes.db_backup_days, multi_az=settings.db_multi_az,
            deletion_protection=ctx.production, final_snapshot=not cfg.ephemeral, protect=cfg.protect,
        ),
        opts=ctx.opts,
    )
    cache = ElastiCache(
        "redis",
        ElastiCacheArgs(
            replication_group_id=ctx.base_name, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids, clients=clients,
            engine=settings.cache_engine, engine_version=settings.cache_engine_version, node_type=sizes.cache_node_type,
            nodes=sizes.cache_nodes, snapshot_days=sizes.cache_snapshot_days, protect=cfg.protect,
        ),
        opts=ctx.opts,
    )
    return postgres, cache


def _roles(ctx: _Aws, cluster: EksCluster, arn: dict[str, pulumi.Output[str]], pipelines_access: list,
           warehouse_access: list) -> tuple[dict[str, WorkloadRole], str]:
    """One role per service, each limited to its own buckets and prefixes; created side by side. Returns
    the roles and which one the pipeline pods use."""
    cfg = ctx.cfg
    platform, pipelines = cfg.namespaces.platform, cfg.namespaces.pipelines
    access: dict[str, tuple[tuple[tuple[str, str], ...], list[pulumi.Input[Statement]]]] = {
        "feast": (((platform, "feast"),), [*bucket_access(arn["lake"], write=False), *bucket_access(arn["feature_store"], write=True),
                                           *warehouse_access]),
        "evidently": (
            ((platform, "evidently"),),
            [*bucket_access(arn["monitoring"], "evidently/", write=True), *bucket_access(arn["lake"], write=False)],
        ),
    }
    if cfg.mlflow.mode is not ServiceMode.MANAGED:
        access["mlflow"] = (((platform, "mlflow"),), bucket_access(arn["artifacts"], "mlflow/", write=True))
    # In-cluster model servers' capture sidecars may add captures, and nothing else.
    capturing = tuple((platform, name) for name in cfg.serving.capturing_in_cluster)
    if capturing:
        access["serving"] = (capturing, [put_access(arn["lake"], CAPTURE_PREFIX)])
    # Pipeline pods (Airflow's task pods, the post-deploy check that stands in for one, and the
    # notebooks' user servers) share a role.
    notebook_users = ((pipelines, NOTEBOOK_USER_ACCOUNT),) if cfg.notebooks.in_cluster else ()
    if cfg.airflow.mode is not ServiceMode.MANAGED:
        pipeline_role = "airflow"
        access["airflow"] = (
            ((platform, "airflow"), (pipelines, WORKER_SERVICE_ACCOUNT), (pipelines, SMOKE_ACCOUNT), *notebook_users),
            [*bucket_access(arn["artifacts"], "airflow/logs/", write=True), *pipelines_access],
        )
    else:
        pipeline_role = "pipelines"
        access["pipelines"] = (((pipelines, SMOKE_ACCOUNT), *notebook_users), pipelines_access)
    roles = {
        app: WorkloadRole(
            f"{app}-identity",
            WorkloadRoleArgs(
                oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer,
                service_accounts=accounts, statements=statements,
                # The monitoring job reads the captures, which no other role may.
                tags=dict([PRIVATE_READER_TAG]) if app == "evidently" else {},
            ),
            opts=ctx.opts,
        )
        for app, (accounts, statements) in sorted(access.items())
    }
    return roles, pipeline_role


def _studio_network(ctx: _Aws, network: Network) -> Optional[StudioNetwork]:
    """The managed notebooks' security group, before the data services that admit it."""
    if not ctx.cfg.notebooks.managed:
        return None
    settings = ctx.settings
    cidr = (aws.ec2.get_vpc_output(id=settings.vpc_id, opts=pulumi.InvokeOptions(provider=ctx.opts.providers[0])).cidr_block
            if settings.vpc_id else settings.cidr)
    return StudioNetwork("notebooks", StudioNetworkArgs(vpc_id=network.vpc_id, vpc_cidr=cidr), opts=ctx.opts)


def _studio(ctx: _Aws, network: Network, studio_network: StudioNetwork, endpoints: PlatformEndpoints,
            pipelines_access: list) -> PlatformEndpoints:
    """SageMaker Studio, its lifecycle configuration made from the same pipeline config as the cluster's."""
    cfg = ctx.cfg
    public = resolve(endpoints, with_secrets=False).apply(pipeline_config.render)
    complete = pulumi.Output.secret(resolve(endpoints, with_secrets=True).apply(pipeline_config.render))
    studio = StudioDomain(
        "notebooks",
        StudioDomainArgs(
            domain_name=ctx.base_name, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids,
            security_group_id=studio_network.security_group_id, users=cfg.notebooks.users,
            instance_type=cfg.notebooks.managed_instance_type, statements=pipelines_access,
            public_env=public.apply(lambda c: c.env), files=public.apply(lambda c: c.files),
            secret_env=complete.apply(lambda c: c.secret_env), recovery_days=ctx.settings.secret_recovery_days,
            retain_homes=not cfg.ephemeral, tags=cfg.cloud_tags,
        ),
        opts=ctx.opts,
    )
    return dataclasses.replace(endpoints, notebooks=NotebooksInfo(kind="sagemaker-studio", url=studio.url, users=cfg.notebooks.users))


def _mwaa_connections(ctx: _Aws, endpoints: PlatformEndpoints) -> AirflowConnections:
    """MWAA reads its Airflow connections from Secrets Manager: the same URIs as the pipeline config's."""
    connections = resolve(endpoints, with_secrets=True).apply(pipeline_config.airflow_connections)
    return AirflowConnections(
        "airflow-connections",
        AirflowConnectionsArgs(
            prefix=connections_prefix(ctx.cfg),
            connections={conn_id: connections.apply(lambda c, k=conn_id: c[k]) for conn_id in mwaa_connections(ctx.cfg)},
            recovery_days=ctx.settings.secret_recovery_days,
        ),
        opts=ctx.opts,
    )


def connections_prefix(cfg: StackConfig) -> str:
    return f"mlops/{cfg.stack}/airflow/connections"


def mwaa_connections(cfg: StackConfig) -> tuple[str, ...]:
    """The Airflow connection IDs MWAA reads from Secrets Manager: known before deployment, one secret each."""
    return ("mlops_postgres", "mlops_s3", *(("mlops_mlflow",) if cfg.mlflow.mode is ServiceMode.IN_CLUSTER else ()),
            *((EVENTS_CONNECTION,) if cfg.events.watched else ()))
