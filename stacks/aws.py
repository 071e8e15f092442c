"""AWS: EKS, RDS for PostgreSQL, ElastiCache and S3, with an IAM role per service (IRSA); MWAA and
SageMaker managed MLflow as options. The applications run on EKS exactly as in the ensemble.

Dependencies are only the ones the resources need: the data services wait for the network, not for
the cluster, so RDS, ElastiCache and S3 are created while EKS is.
"""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_aws as aws

from components.aws.eks import EksCluster, EksClusterArgs
from components.aws.elasticache import ElastiCache, ElastiCacheArgs
from components.aws.iam import Statement, bucket_access
from components.aws.iam import WorkloadRole, WorkloadRoleArgs
from components.aws.mwaa import AirflowConnections, AirflowConnectionsArgs, Mwaa, MwaaArgs
from components.aws.naming import physical_name
from components.aws.network import Network, NetworkArgs
from components.aws.rds import RdsPostgres, RdsPostgresArgs
from components.aws.s3 import BucketArgs, PrivateBucket
from components.aws.sagemaker import SageMakerMlflow, SageMakerMlflowArgs
from components.aws.serving import SageMakerEndpoint, SageMakerEndpointArgs
from components.kubernetes.airflow import WORKER_SERVICE_ACCOUNT
from components.kubernetes.smoke import APP as SMOKE_ACCOUNT
from infra import pipeline_config
from infra.config import DATABASE_CONSUMERS, Environment, ServiceMode, StackConfig
from infra.contract import Buckets, Cache, ObjectStore, PlatformEndpoints, ServingEndpointInfo, resolve
from mlops_jobs.pipeline_names import BUCKET_ROLES, bucket_name
from stacks import managed_cluster
from stacks.managed_cluster import ManagedCluster

# The annotation that binds a Kubernetes service account to an IAM role (IRSA).
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
# Bucket suffix per role; S3 bucket names allow no capitals.
BUCKET_SUFFIXES = {role: bucket_name(role) for role in BUCKET_ROLES}
SAGEMAKER_MLFLOW_PLUGIN = "sagemaker-mlflow"


def build(cfg: StackConfig) -> PlatformEndpoints:
    settings = cfg.aws
    assert settings is not None  # config.load resolves it for backend aws
    production = cfg.environment is Environment.PRODUCTION
    provider = aws.Provider("aws", region=settings.region, default_tags=aws.ProviderDefaultTagsArgs(tags=cfg.cloud_tags))
    on_aws = pulumi.ResourceOptions(providers=[provider])
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=provider)).account_id
    base_name = physical_name("mlops", cfg.stack, max_length=40)

    network = Network(
        "network",
        NetworkArgs(
            region=settings.region, cidr=settings.cidr, availability_zones=settings.availability_zones,
            nat_per_zone=production, existing_vpc_id=settings.vpc_id, existing_private_subnet_ids=settings.private_subnet_ids,
        ),
        opts=on_aws,
    )
    sizes = settings.sizes
    cluster = EksCluster(
        "eks",
        EksClusterArgs(
            cluster_name=cfg.cluster.name or base_name,
            existing=cfg.cluster.create is False,
            region=settings.region,
            subnet_ids=network.private_subnet_ids,
            version=settings.eks_version,
            public_endpoint=settings.public_endpoint,
            public_access_cidrs=settings.public_access_cidrs,
            instance_types=sizes.node_instance_types,
            min_nodes=sizes.min_nodes, desired_nodes=sizes.desired_nodes, max_nodes=sizes.max_nodes,
            key_deletion_days=settings.key_deletion_days,
        ),
        opts=on_aws,
    )

    buckets = {
        role: PrivateBucket(
            f"bucket-{suffix}",
            BucketArgs(
                bucket=account_id.apply(lambda account, s=suffix: physical_name("mlops", cfg.stack, s, account)),
                versioning=production, force_destroy=cfg.ephemeral, protect=cfg.protect,
            ),
            opts=on_aws,
        )
        for role, suffix in BUCKET_SUFFIXES.items()
    }
    arn = {role: bucket.arn for role, bucket in buckets.items()}
    pipelines_access: list[pulumi.Input[Statement]] = [
        *bucket_access(arn["lake"], write=True),
        *bucket_access(arn["feature_store"], write=True),
    ]

    mlflow_managed = cfg.mlflow.mode is ServiceMode.MANAGED
    airflow_managed = cfg.airflow.mode is ServiceMode.MANAGED
    sagemaker = None
    if mlflow_managed:
        sagemaker = SageMakerMlflow(
            "mlflow",
            SageMakerMlflowArgs(
                tracking_server_name=base_name, artifacts_bucket_arn=arn["artifacts"], artifacts_bucket=buckets["artifacts"].name,
                size=sizes.sagemaker_size, mlflow_version=settings.sagemaker_mlflow_version,
            ),
            opts=on_aws,
        )
        # Pipelines log runs and register models through the tracking server's API.
        pipelines_access.append(sagemaker.arn.apply(lambda a: {"Effect": "Allow", "Action": "sagemaker-mlflow:*", "Resource": a}))

    # Managed model endpoints; pipelines (request-triggered prediction, the post-deploy check) may invoke them.
    model_endpoints = {
        endpoint.name: SageMakerEndpoint(
            f"serving-{endpoint.name}",
            SageMakerEndpointArgs(endpoint_name=physical_name("mlops", cfg.stack, endpoint.name), endpoint=endpoint, region=settings.region),
            opts=on_aws,
        )
        for endpoint in cfg.serving.endpoints
        if endpoint.mode is ServiceMode.MANAGED
    }
    for model_endpoint in model_endpoints.values():
        pipelines_access.append(model_endpoint.arn.apply(lambda a: {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": a}))

    clients: dict[str, pulumi.Input[str]] = {"cluster": cluster.security_group_id}
    mwaa = None
    if airflow_managed:
        mwaa = Mwaa(
            "airflow",
            MwaaArgs(
                environment_name=base_name, region=settings.region, account_id=account_id, vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids.apply(lambda ids: ids[:2]),
                dag_bucket=account_id.apply(lambda account: physical_name("mlops", cfg.stack, "dags", account)),
                airflow_version=settings.mwaa_airflow_version, environment_class=sizes.mwaa_class, max_workers=sizes.mwaa_max_workers,
                connections_prefix=connections_prefix(cfg), statements=pipelines_access,
                force_destroy=cfg.ephemeral, protect=cfg.protect,
            ),
            opts=on_aws,
        )
        clients["mwaa"] = mwaa.security_group_id

    postgres = RdsPostgres(
        "postgres",
        RdsPostgresArgs(
            identifier=base_name, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids, clients=clients,
            consumers=DATABASE_CONSUMERS, instance_class=sizes.db_instance_class, allocated_storage=sizes.db_storage,
            max_allocated_storage=sizes.db_max_storage, engine_version=settings.db_engine_version,
            backup_retention_days=sizes.db_backup_days, multi_az=settings.db_multi_az,
            deletion_protection=production, final_snapshot=not cfg.ephemeral, protect=cfg.protect,
        ),
        opts=on_aws,
    )
    cache = ElastiCache(
        "redis",
        ElastiCacheArgs(
            replication_group_id=base_name, vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids, clients=clients,
            engine=settings.cache_engine, engine_version=settings.cache_engine_version, node_type=sizes.cache_node_type,
            nodes=sizes.cache_nodes, snapshot_days=sizes.cache_snapshot_days, protect=cfg.protect,
        ),
        opts=on_aws,
    )

    # One role per service, each limited to its own buckets and prefixes; created side by side.
    platform, pipelines = cfg.namespaces.platform, cfg.namespaces.pipelines
    access: dict[str, tuple[tuple[tuple[str, str], ...], list[pulumi.Input[Statement]]]] = {
        "feast": (((platform, "feast"),), [*bucket_access(arn["lake"], write=False), *bucket_access(arn["feature_store"], write=True)]),
        "evidently": (
            ((platform, "evidently"),),
            [*bucket_access(arn["monitoring"], "evidently/", write=True), *bucket_access(arn["lake"], write=False)],
        ),
    }
    if not mlflow_managed:
        access["mlflow"] = (((platform, "mlflow"),), bucket_access(arn["artifacts"], "mlflow/", write=True))
    # Pipeline pods (Airflow's task pods, and the post-deploy check that stands in for one) share a role.
    if not airflow_managed:
        pipeline_role = "airflow"
        access["airflow"] = (
            ((platform, "airflow"), (pipelines, WORKER_SERVICE_ACCOUNT), (pipelines, SMOKE_ACCOUNT)),
            [*bucket_access(arn["artifacts"], "airflow/logs/", write=True), *pipelines_access],
        )
    else:
        pipeline_role = "pipelines"
        access["pipelines"] = (((pipelines, SMOKE_ACCOUNT),), pipelines_access)
    roles = {
        app: WorkloadRole(
            f"{app}-identity",
            WorkloadRoleArgs(
                oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer,
                service_accounts=accounts, statements=statements,
            ),
            opts=on_aws,
        )
        for app, (accounts, statements) in sorted(access.items())
    }

    managed_urls: dict[str, pulumi.Input[str]] = {}
    if sagemaker:
        managed_urls.update(mlflow=sagemaker.arn, mlflow_plugin=SAGEMAKER_MLFLOW_PLUGIN)
    if mwaa:
        managed_urls["airflow"] = mwaa.url
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
        urls=managed_urls,
        serving={name: ServingEndpointInfo(url=e.url, weights=e.weights, variant_urls=e.variant_urls, kind="sagemaker", cloud_name=e.name) for name, e in model_endpoints.items()},
        managed_components=tuple(model_endpoints.values()),
    ))
    if mwaa:
        complete = resolve(endpoints, with_secrets=True).apply(pipeline_config.render)
        AirflowConnections(
            "airflow-connections",
            AirflowConnectionsArgs(
                prefix=connections_prefix(cfg),
                connections={conn_id: complete.apply(lambda c, k=key: c.secret_env[k]) for conn_id, key in mwaa_connections(cfg).items()},
                recovery_days=settings.secret_recovery_days,
            ),
            opts=on_aws,
        )
    pulumi.export("aws", {
        "region": settings.region,
        "accountId": account_id,
        "cluster": cluster.name,
        "roles": {app: role.arn for app, role in roles.items()},
        "buckets": {role: bucket.name for role, bucket in buckets.items()},
        "dagBucket": mwaa.dag_bucket if mwaa else None,
    })
    return endpoints


def connections_prefix(cfg: StackConfig) -> str:
    return f"mlops/{cfg.stack}/airflow/connections"


def mwaa_connections(cfg: StackConfig) -> Mapping[str, str]:
    """Airflow connection IDs MWAA reads from Secrets Manager, and their pipeline config keys."""
    ids = {"mlops_postgres": "AIRFLOW_CONN_MLOPS_POSTGRES", "mlops_s3": "AIRFLOW_CONN_MLOPS_S3"}
    if cfg.mlflow.mode is ServiceMode.IN_CLUSTER:
        ids["mlops_mlflow"] = "AIRFLOW_CONN_MLOPS_MLFLOW"
    return ids
